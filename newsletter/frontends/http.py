"""waitress for ``serve`` and the desk, with what it lacks against slow clients (:func:`create_server`).

waitress restarts ``channel_timeout`` on every byte it reads, so a client sending one header line
every few seconds keeps its connection for ever; once ``connection_limit`` connections are held,
waitress stops accepting and the health check waits in the listen queue with every visitor (issue
21: 520 such clients kept ``/healthz`` unanswered for 45 s). waitress 3.0.2, the latest release,
has no option for either, so its server and channel are extended here:

- **deadlines**: a request's head must have arrived ``header_timeout`` seconds after the connection
  was accepted (the first request) or after its first byte (a later one on a kept-alive connection,
  whose idle wait stays ``channel_timeout``), and its body ``body_timeout`` seconds after the head,
  however the bytes trickle in; a late connection is closed (checked every second);
- **room for newcomers**: when ``connection_limit`` connections are open, a new client is still
  accepted and the connection that has waited longest for a request (a head or body still coming,
  or an idle kept-alive one) is closed for it; a connection whose request the application is
  serving never is (when all are, newcomers wait in the listen queue as before);
- **per client address**: one address holds at most ``per_client`` connections; a new one beyond
  closes that address's longest-waiting one, or gets a 503 when all of them are being served, so
  that a flood from one address churns its own connections only.
  Behind a reverse proxy every connection comes from the proxy, so there is no such cap
  (``per_client`` 0) and the proxy must limit each client itself.
"""

from __future__ import annotations

import logging
import math
import socket
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any, Iterable

from waitress.adjustments import Adjustments
from waitress.channel import HTTPChannel
from waitress.server import MultiSocketServer, TcpWSGIServer
from waitress.task import ThreadedTaskDispatcher

log = logging.getLogger(__name__)

#: What a connection refused for its address's cap gets before it is closed.
_BUSY = b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 5\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"


@dataclass(frozen=True)
class SlowClientLimits:
    """How long a request may take to arrive, and how many connections one client address may hold."""

    header_timeout: float  # seconds for the head (request line and headers)
    body_timeout: float  # seconds for the body, from the end of the head
    per_client: int  # connections per client address; 0: no cap (behind a reverse proxy)


class _Channel(HTTPChannel):
    """A connection that knows since when it has been waiting for its current request."""

    server: "_Server"
    request_since: float | None = None  # when its current request began: accept, or its first byte
    body_since: float | None = None  # when the current request's head was complete, its body still coming
    _counted = False

    def __init__(self, server: "_Server", sock: socket.socket, addr: Any, adj: Adjustments, map: Any = None) -> None:
        self.client = str(addr[0]) if isinstance(addr, tuple) else ""  # read by add_channel, called below
        super().__init__(server, sock, addr, adj, map=map)
        self.request_since = self.creation_time

    def add_channel(self, map: Any = None) -> None:
        super().add_channel(map)
        self.server.clients[self.client] += 1
        self._counted = True

    def del_channel(self, map: Any = None) -> None:
        if self._counted:
            self._counted = False
            self.server.clients[self.client] -= 1
            if not self.server.clients[self.client]:
                del self.server.clients[self.client]
        super().del_channel(map)

    def received(self, data: bytes) -> bool:
        if not data:
            return False
        now = time.time()
        before = self.request
        if self.request_since is None:
            self.request_since = now  # the first byte of a request on a kept-alive connection
        handled: bool = super().received(data)
        if self.request is None:  # every byte made whole requests: now idle, or served
            self.request_since = self.body_since = None
        else:
            if before is not None and self.request is not before:  # one ended and the next began in ``data``
                self.request_since, self.body_since = now, None
            if self.request.headers_finished and self.body_since is None:
                self.body_since = now
        return handled

    def waiting_since(self) -> float | None:
        """Since when this connection has waited for a request; None when it is being served or closing."""
        if self.requests or self.will_close or self.close_when_flushed or self.total_outbufs_len:
            return None
        return self.request_since if self.request_since is not None else float(self.last_activity)

    def late(self, now: float, limits: SlowClientLimits) -> bool:
        """Whether its request's head or body has taken longer than allowed."""
        if self.requests or self.will_close:
            return False
        if self.body_since is not None:
            return now - self.body_since > limits.body_timeout
        return self.request_since is not None and now - self.request_since > limits.header_timeout


def _longest_waiting(channels: Iterable[_Channel]) -> _Channel | None:
    found, since = None, math.inf
    for channel in channels:
        waiting = channel.waiting_since()
        if waiting is not None and waiting < since:
            found, since = channel, waiting
    return found


class _Server(TcpWSGIServer):
    channel_class = _Channel
    next_channel_cleanup: float = 0  # waitress's, typed

    def __init__(self, *args: Any, limits: SlowClientLimits, **kw: Any) -> None:
        self.limits = limits
        self.clients: Counter[str] = Counter()  # open connections per client address
        self.closed: Counter[str] = Counter()  # connections closed since maintenance last logged, by reason
        super().__init__(*args, **kw)

    def maintenance(self, now: float) -> None:
        """waitress's (idle connections past ``channel_timeout``), then the heads and bodies past their deadline."""
        super().maintenance(now)
        for channel in list(self.active_channels.values()):
            if channel.late(now, self.limits):
                channel.will_close = True  # closed by the loop's next pass, as waitress closes the idle ones
                self.closed["request past its deadline"] += 1
        if self.closed:
            log.info("closed %s", ", ".join(f"{n} connection(s): {reason}" for reason, n in self.closed.items()))
            self.closed.clear()

    def readable(self) -> bool:
        """waitress's (maintenance when due), but at ``connection_limit`` it still accepts while a
        connection waiting for its request can make room."""
        now = time.time()
        if now >= self.next_channel_cleanup:
            self.next_channel_cleanup = now + self.adj.cleanup_interval
            self.maintenance(now)
        if not self.accepting:
            return False
        return len(self._map) < self.adj.connection_limit or _longest_waiting(self.active_channels.values()) is not None

    def handle_accept(self) -> None:
        """waitress's, but a newcomer over ``per_client`` (its address's) or ``connection_limit`` (any)
        closes the connection that has waited longest for a request, or gets a 503 if none is waiting."""
        try:
            accepted = self.accept()
            if accepted is None:
                return
            conn, addr = accepted
            self.set_socket_options(conn)
        except OSError:
            if self.adj.log_socket_errors:
                self.logger.warning("server accept() threw an exception", exc_info=True)
            return
        addr = self.fix_addr(addr)
        client = str(addr[0])
        over_cap = bool(self.limits.per_client) and self.clients[client] >= self.limits.per_client
        if over_cap or len(self._map) >= self.adj.connection_limit:
            reason = "the per-client cap" if over_cap else "the connection limit"
            channels = list(self.active_channels.values())
            oldest = _longest_waiting(c for c in channels if not over_cap or c.client == client)
            if oldest is None:
                _refuse(conn)
                self.closed[f"refused at {reason}"] += 1
                return
            # At once, so that the count stays within the limit. Safe here: it serves no request, and
            # ``conn`` already holds its own descriptor, so no later event of this pass reaches it.
            oldest.handle_close()
            self.closed[f"made room at {reason}"] += 1
        self.channel_class(self, conn, addr, self.adj, map=self._map)


def _refuse(conn: socket.socket) -> None:
    conn.setblocking(False)
    try:
        conn.send(_BUSY)
    except OSError:
        pass
    conn.close()


def create_server(app: Any, *, host: str, port: int, threads: int, limits: SlowClientLimits,
                  **adjustments: Any) -> Any:
    """A waitress server for ``app`` bound to ``host:port`` (port 0: a free one) with ``limits``, not yet
    running (call ``run()``); ``adjustments`` are waitress's (``connection_limit``, ``channel_timeout``…).

    As ``waitress.create_server`` does, a host that resolves to several addresses gets one listening
    socket for each, served by one loop.
    """
    adj = Adjustments(host=host, port=port, threads=threads, **{**adjustments, "cleanup_interval": 1})
    dispatcher = ThreadedTaskDispatcher()
    dispatcher.set_thread_count(adj.threads)
    socket_map: dict[int, Any] = {}
    servers = [_Server(app, socket_map, dispatcher=dispatcher, adj=adj, sockinfo=sockinfo, limits=limits)
               for sockinfo in adj.listen]
    if len(servers) == 1:
        return servers[0]
    listening = [(server.effective_host, server.effective_port) for server in servers]
    return MultiSocketServer(socket_map, adj, listening, dispatcher, servers[-1].log_info)
