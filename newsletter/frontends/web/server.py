"""``newsletter serve``'s entry (:func:`web_server`): waitress around the Flask app, with the limits a
public service needs.

waitress's defaults suit an intranet: it buffers request bodies up to 1 GB before the
application sees them, keeps 100 connections at most and an idle one for 120 s, so a hundred
idle sockets made the service unreachable. Here a body over ``[web] max_request_body_size`` is
refused from its ``Content-Length`` (or once a chunked body passes it) without being buffered,
headers are capped, an idle connection is dropped after ``channel_timeout`` seconds, a request's
head must arrive within ``header_timeout`` and its body within ``body_timeout`` however slowly it
trickles, ``connection_limit`` connections are served at once (poll(), so the count is not capped
by select()'s 1,024 descriptors) and a newcomer beyond it, or beyond ``connections_per_client``
from one address, replaces the connection that has waited longest (:mod:`newsletter.frontends.http`).
The reverse proxy still buffers requests.
"""

from __future__ import annotations

from typing import Any

from newsletter.frontends import http as http_server
from newsletter.config import Settings
from newsletter.library import Newsletter


def server_options(settings: Settings) -> dict[str, Any]:
    """waitress's adjustments for ``[web]``."""
    web = settings.web
    return {
        "max_request_body_size": web.max_request_body_size,
        "max_request_header_size": web.max_request_header_size,
        "connection_limit": web.connection_limit,
        "channel_timeout": web.channel_timeout,
        "inbuf_overflow": min(web.max_request_body_size, 512 * 1024),
        "asyncore_use_poll": True,
        "ident": "newsletter",
        # Forwarded headers are the app's business ([web] trusted_proxies, see newsletter.frontends.web.app).
        "clear_untrusted_proxy_headers": False,
    }


def slow_client_limits(settings: Settings) -> http_server.SlowClientLimits:
    """The deadlines and the per-address cap of ``[web]`` (no cap behind a proxy: it is the only client)."""
    web = settings.web
    return http_server.SlowClientLimits(web.header_timeout, web.body_timeout, web.connections_per_client)


def create_server(app: Any, settings: Settings, *, host: str, port: int, threads: int) -> Any:
    """A waitress server bound to ``host:port`` (port 0: a free one), not yet running (call ``.run()``)."""
    return http_server.create_server(app, host=host, port=port, threads=threads,
                                     limits=slow_client_limits(settings), **server_options(settings))


def web_server(nl: Newsletter, *, host: str | None = None, port: int | None = None, threads: int = 8) -> Any:
    """``newsletter serve``: the web service of ``nl`` bound to ``host:port`` (default ``[web]``), not
    yet running (call ``run()``).

    :raises ConfigError: when the secret key is missing or weak, or a webhook's secret is.
    """
    from newsletter.frontends.web.app import create_app

    host = host or nl.settings.web.host
    port = port or nl.settings.web.port
    return create_server(create_app(nl, listen=host), nl.settings, host=host, port=port, threads=threads)
