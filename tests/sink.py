"""A real SMTP server on 127.0.0.1 (aiosmtpd) that records what it receives and can misbehave on demand."""

from __future__ import annotations

import asyncio
import email
import email.policy
import socket
import threading
from collections import Counter
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any, Callable

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Faults:
    """Misbehaviour to inject; counters are consumed as the server meets them."""

    rcpt_permanent: dict[str, str] = field(default_factory=dict)  # address → "550 5.1.1 …"
    rcpt_transient_once: dict[str, str] = field(default_factory=dict)  # address → "451 …" (first time only)
    mail_421_times: int = 0  # answer 421 and close at MAIL FROM this many times
    drop_at_rcpt_times: int = 0  # close the connection at RCPT TO this many times
    slow_rcpt_times: int = 0  # stall at RCPT TO (longer than the client's timeout) this many times
    slow_seconds: float = 3.0  # or until the client hangs up (aiosmtpd then cancels the stalled handler)
    stall_at: str = ""  # "RCPT" or "DATA" (after the final dot): no answer until Recorder.release is set
    stall_after: int = 0  # with stall_at: answer the stage that many times (all sessions together) first
    on_rcpt: Callable[[], None] | None = None  # called at each RCPT TO, before answering it
    data_refused: dict[str, str] = field(default_factory=dict)  # first recipient → answer to the DATA command
    data_refused_once: dict[str, str] = field(default_factory=dict)  # the same, the first time only
    data_without_recipients: bool = False  # answer 354 to DATA even when every RCPT TO was refused (a broken server)
    silent_after_dot: set[str] = field(default_factory=set)  # recipients whose final dot gets no answer (for slow_seconds)
    greet_421_times: int = 0  # greet this many connections with 421 (busy) and close them
    silent_greeting: bool = False  # accept connections and never greet them (until Recorder.release is set)


class Recorder:
    """aiosmtpd handler: stores accepted messages, applies :class:`Faults`."""

    def __init__(self, *, pipelining: bool = False) -> None:
        self.faults = Faults()
        self.pipelining = pipelining  # offer PIPELINING (RFC 2920) in the EHLO answer
        #: For each RCPT TO: whether the DATA command had already arrived with it (a pipelined client).
        self.pipelined: list[bool] = []
        self.messages: list[EmailMessage] = []
        self.raw: list[bytes] = []
        self.envelopes: list[tuple[str, list[str], list[str]]] = []  # MAIL FROM, RCPT TO, MAIL FROM options
        self.lock = threading.Lock()
        self.stalled = threading.Event()  # set when the server starts holding back an answer
        self.release = threading.Event()  # set it to let a stalled server answer
        self.silent_now = 0  # sessions silent after the dot at this moment (Faults.silent_after_dot)
        self.silent_peak = 0  # the most of them at once
        self.holding = threading.Condition()  # guards the two counts below
        self.reached = 0  # times the stage of stall_at was reached since hold() (the stalled ones included)
        self.held = 0  # sessions whose answer is held back now

    def hold(self, stage: str, *, after: int = 0) -> None:
        """Hold back every answer at ``stage`` ("RCPT", or "DATA": after the final dot) once ``after``
        of them have gone out, until :meth:`let_go`; :meth:`wait_held` tells when sessions are held."""
        with self.holding:
            self.reached = 0
            self.release.clear()
            self.faults.stall_after, self.faults.stall_at = after, stage

    def wait_held(self, sessions: int, timeout: float) -> bool:
        """Wait until ``sessions`` sessions are held at once; False after ``timeout`` seconds."""
        with self.holding:
            return self.holding.wait_for(lambda: self.held >= sessions, timeout)

    def let_go(self, timeout: float) -> bool:
        """End the hold: the held sessions answer (or were closed); False if they are still held after ``timeout``."""
        with self.holding:
            self.faults.stall_at = ""
            self.release.set()
            return self.holding.wait_for(lambda: self.held == 0, timeout)

    async def _stall(self, stage: str) -> None:
        if self.faults.stall_at != stage:
            return
        with self.holding:
            self.reached += 1
            if self.reached <= self.faults.stall_after:
                return
            self.held += 1
            self.holding.notify_all()
        self.stalled.set()
        try:
            while not self.release.is_set():  # polled: the event loop keeps serving other sessions
                await asyncio.sleep(0.02)
        finally:  # also when the client hung up: aiosmtpd cancels its handler
            with self.holding:
                self.held -= 1
                self.holding.notify_all()

    async def handle_MAIL(self, server: SMTP, session: Session, envelope: Envelope, address: str,
                          options: list[str]) -> str:
        if self.faults.mail_421_times > 0:
            self.faults.mail_421_times -= 1
            return "421 4.3.2 Service shutting down, try again later"
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_EHLO(self, server: SMTP, session: Session, envelope: Envelope, hostname: str,
                          responses: list[str]) -> list[str]:
        session.host_name = hostname
        return responses[:-1] + ["250-PIPELINING", responses[-1]] if self.pipelining else responses

    def data_refusal(self, envelope: Envelope) -> str:
        """The answer the DATA command gets instead of 354, if a fault says so ("" when none)."""
        first = envelope.rcpt_tos[0] if envelope.rcpt_tos else ""
        return self.faults.data_refused.get(first) or self.faults.data_refused_once.pop(first, "")

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope, address: str,
                          options: list[str]) -> str:
        f = self.faults
        reader = getattr(server, "_reader", None)  # what the client wrote and the server has not read yet
        self.pipelined.append(b"DATA\r\n" in bytes(getattr(reader, "_buffer", b"")))
        if f.on_rcpt is not None:
            f.on_rcpt()
        await self._stall("RCPT")
        if f.drop_at_rcpt_times > 0:
            f.drop_at_rcpt_times -= 1
            assert server.transport is not None
            server.transport.close()
            return "250 OK"
        if f.slow_rcpt_times > 0:
            f.slow_rcpt_times -= 1
            await asyncio.sleep(f.slow_seconds)
            return "451 4.4.2 too slow"
        if address in f.rcpt_permanent:
            return f.rcpt_permanent[address]
        if address in f.rcpt_transient_once:
            return f.rcpt_transient_once.pop(address)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        data = envelope.original_content or b""
        with self.lock:
            self.raw.append(data)
            self.envelopes.append((envelope.mail_from or "", list(envelope.rcpt_tos), list(envelope.mail_options)))
            self.messages.append(email.message_from_bytes(data, policy=email.policy.default))  # type: ignore[arg-type]
            n = len(self.raw)
        await self._stall("DATA")
        if set(envelope.rcpt_tos) & self.faults.silent_after_dot:
            with self.lock:
                self.silent_now += 1
                self.silent_peak = max(self.silent_peak, self.silent_now)
            try:
                await asyncio.sleep(self.faults.slow_seconds)  # or until the client hangs up (the task is cancelled)
            finally:
                with self.lock:
                    self.silent_now -= 1
        return f"250 2.0.0 Ok: queued as SINK{n}"

    def count_by_recipient(self) -> Counter[str]:
        with self.lock:
            return Counter(str(m["To"].addresses[0].addr_spec) for m in self.messages)


class _Server(SMTP):
    """aiosmtpd's server, whose greeting and DATA command can be refused on demand (it has no hook for them)."""

    async def _handle_client(self) -> None:
        recorder, faults = self.event_handler, self.event_handler.faults
        if faults.silent_greeting:
            recorder.stalled.set()
            while not recorder.release.is_set():
                await asyncio.sleep(0.02)
        if faults.greet_421_times > 0:
            faults.greet_421_times -= 1
            await self.push("421 4.3.2 Too busy, try again later")
            assert self.transport is not None
            self.transport.close()
            return
        await super()._handle_client()

    async def smtp_DATA(self, arg: str) -> None:
        refusal = self.event_handler.data_refusal(self.envelope) if self.envelope is not None else ""
        if refusal:
            await self.push(refusal)
            return
        if self.event_handler.faults.data_without_recipients and self.envelope is not None \
                and not self.envelope.rcpt_tos:
            self.envelope.rcpt_tos.append("nobody@invalid")  # then reads a message as if someone had been accepted
        await super().smtp_DATA(arg)


class _Controller(Controller):
    def factory(self) -> SMTP:
        return _Server(self.handler, **self.SMTP_kwargs)


class Sink:
    """Start and stop a recording SMTP server on 127.0.0.1.

    :param smtputf8: offer the SMTPUTF8 extension (RFC 6531) and accept UTF-8 addresses.
    :param pipelining: offer PIPELINING (RFC 2920); aiosmtpd answers pipelined commands in order.
    """

    def __init__(self, *, smtputf8: bool = False, pipelining: bool = False) -> None:
        self.recorder = Recorder(pipelining=pipelining)
        self.port = free_port()
        self.controller = _Controller(self.recorder, hostname="127.0.0.1", port=self.port,
                                      data_size_limit=10_000_000, enable_SMTPUTF8=smtputf8)

    def __enter__(self) -> "Sink":
        self.controller.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.recorder.release.set()
        self.controller.stop()
