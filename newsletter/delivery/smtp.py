"""The ``smtp`` adapter: a relay over SMTP with STARTTLS or implicit TLS, one connection reused.

Certificates are verified (``ca_file`` adds a private CA); the password comes from the
environment variable named by ``password_env``; plain connections (``security = "none"``)
are refused except to a loopback address. A dropped connection is reopened for the next
message. The end of DATA (the final ``.``) is the point of no return: the engine is told
just before it is written, and a connection that dies after it leaves the message *in
doubt* rather than resent. A stop request is honoured up to the DATA command; a message
whose DATA has begun is finished, and a session left mid-transaction is closed without QUIT.
A server that accepts the connection and never greets is cut as one silent after the dot is
(:meth:`SMTPAdapter.abort` reaches the socket of a session being opened).

Where the server offers PIPELINING (RFC 2920), MAIL FROM, RCPT TO and DATA leave in one write
and their three answers are read in order, each checked as in the step-by-step dialogue (which
is kept for servers without it): one round trip instead of three before the message. A stop
request is then honoured before that write and again once the answers are in (nothing of the
message is written yet); a server that opens DATA after refusing the envelope gets no dot (the
session is closed: an empty message would otherwise go out).

An address whose local part is not ASCII goes with ``MAIL FROM:<…> SMTPUTF8`` (RFC 6531)
when the server offers the extension; otherwise that recipient alone fails, permanently, with
the reason, and the run goes on.

Replies map to outcomes: 2xx sent; 4xx and lost connections transient (retried by the
engine; a server that cannot be reached or greets with 421 when the run opens its connections is
tried again by the engine without counting against anyone); 5xx permanent for that recipient, 5.1.x marking the address as bounced; 530/535
at login stop the run with a configuration error.
"""

from __future__ import annotations

import logging
import re
import smtplib
import socket
import ssl
from typing import Iterator, Mapping, Sequence

from newsletter.core.addresses import NO_SMTPUTF8
from newsletter.config import Settings, secret_from_env
from newsletter.delivery.base import (SHARED_OPTIONS, Adapter, Failed, Handover, InDoubt, Outgoing, Result, RetryLater,
                                      Sent, choice_option, int_option, is_loopback, register, text_option)
from newsletter.delivery import reasons
from newsletter.errors import N_, ConfigError, NotSent, Stopped, describe

log = logging.getLogger(__name__)

_PLAIN_ADDRESS = re.compile(r"[^\s<>()\[\]\\,;:\"@]+@[^\s<>()\[\]\\,;:\"@]+")
_QUEUED_AS = re.compile(r"queued as ([\w.@<>-]+)", re.IGNORECASE)
_HARD_BOUNCE = re.compile(r"\b5\.1\.[0-9]\b")
#: Seconds to wait for the answer to QUIT: nothing depends on it.
QUIT_WAIT = 2.0


def _dot_stuffed(message: bytes) -> bytes:
    """Every line that begins with a dot gets one more (RFC 5321 section 4.5.2); ``bytes.replace``
    does it several times faster than a regular expression over a 60 KB message."""
    data = message.replace(b"\n.", b"\n..")
    return b"." + data if data.startswith(b".") else data


def _envelope(sender: str, recipient: str, options: Sequence[str]) -> bytes:
    """The pipelined MAIL FROM, RCPT TO and DATA commands, UTF-8 only with the SMTPUTF8 option.

    :raises ValueError: for an address holding a line break (it would inject a command).
    :raises UnicodeEncodeError: for a non-ASCII address without SMTPUTF8.
    """
    extra = "".join(" " + option for option in options)
    text = f"MAIL FROM:{_path(sender)}{extra}\r\nRCPT TO:{_path(recipient)}\r\nDATA\r\n"
    if text.count("\n") != 3 or text.count("\r") != 3:
        raise ValueError("an address holds a line break")
    return text.encode("utf-8" if "SMTPUTF8" in options else "ascii")


def _path(address: str) -> str:
    """``<address>`` for an address already in its wire form (checked when it was stored); anything
    else goes through smtplib's parser, as in the step-by-step dialogue."""
    if _PLAIN_ADDRESS.fullmatch(address):
        return f"<{address}>"
    return smtplib.quoteaddr(address)


def _reply(code: int, message: bytes | str) -> str:
    text = message.decode("utf-8", "replace") if isinstance(message, bytes) else message
    return f"{code} {' '.join(text.split())}"


@register
class SMTPAdapter(Adapter):
    name = "smtp"
    batch_size = 100
    take = 5  # one slow answer (a server silent after the dot) holds up four more messages at most (nine signed)
    known_options = ("host", "port", "security", "username", "password_env", *SHARED_OPTIONS)
    default_connections = 3
    takes_turns = True  # given up to connect, to write a message, and to wait for replies or signatures

    def __init__(self, settings: Settings, environ: Mapping[str, str] | None = None) -> None:
        super().__init__(settings, environ)
        self.host = text_option(self, "host", required=True)
        self.security = choice_option(self, "security", ("starttls", "tls", "none"), "starttls")
        if self.security == "none" and not is_loopback(self.host):
            raise ConfigError("newsletter.toml: [delivery.smtp] security = \"none\" sends passwords and mail in "
                              f"clear text; it is allowed only to a loopback address, not to {self.host}")
        default_port = {"starttls": 587, "tls": 465, "none": 25}[self.security]
        self.port = int_option(self, "port", default_port, minimum=1)
        self.username = text_option(self, "username")
        password_env = text_option(self, "password_env", "SMTP_PASSWORD")
        self.password = (secret_from_env(password_env, purpose=N_("SMTP password"), environ=environ)
                         if self.username else "")
        # Loading the certificates takes a while (each connection has its own adapter): only where TLS is used.
        self.context = None if self.security == "none" else \
            ssl.create_default_context(cafile=str(self.ca_file) if self.ca_file else None)
        if settings.dkim is not None:
            from newsletter.delivery.dkim import CHUNK  # cryptography: only for a send that signs

            # Signed a chunk ahead in a helper process (dkim.Signer.sign_all): two chunks, so that the second is
            # signed while the first goes out, instead of each connection waiting for every chunk it takes.
            self.take = 2 * CHUNK
        self.smtp: smtplib.SMTP | None = None
        self._opening: smtplib.SMTP | None = None  # a session being opened, not greeted yet
        self._idle = True  # no transaction open: QUIT is safe

    @classmethod
    def prepare(cls, settings: Settings) -> None:
        if settings.dkim is not None:  # the DKIM helper process starts on the other core meanwhile
            from newsletter.delivery.dkim import signer_for

            signer_for(settings).prepare()

    def open(self) -> None:
        self._connect()

    def _connect(self) -> smtplib.SMTP:
        with self.turns.waiting():
            return self._connect_waiting()

    def _connect_waiting(self) -> smtplib.SMTP:
        where = f"{self.host}:{self.port}"
        # Made unconnected, then connected: abort() reaches its socket while the server has not greeted
        # yet (one that accepts and stays silent would hold a stop for the whole timeout).
        smtp: smtplib.SMTP = smtplib.SMTP_SSL(timeout=self.timeout, context=self.context) \
            if self.security == "tls" else smtplib.SMTP(timeout=self.timeout)
        # What TLS checks the certificate against (the constructor sets it when it connects).
        smtp._host = self.host  # type: ignore[attr-defined]
        self._opening = smtp
        try:
            greeted, greeting = smtp.connect(self.host, self.port)
            if greeted != 220:  # 421 "too busy": what the constructor would raise
                smtp.close()
                raise smtplib.SMTPConnectError(greeted, greeting)
            # The final "." is a small write after a large one: without TCP_NODELAY it waits for
            # the peer's delayed ACK (~40 ms), which caps a connection at about 20 messages/s.
            if smtp.sock is not None:
                smtp.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            smtp.ehlo()
            if self.security == "starttls":
                smtp.starttls(context=self.context)
                smtp.ehlo()
            if self.username:
                smtp.login(self.username, self.password)
        except smtplib.SMTPAuthenticationError as err:
            raise ConfigError(f"the SMTP server {where} refused the login of {self.username!r}: "
                              f"{_reply(err.smtp_code, err.smtp_error)}",
                              hint="check [delivery.smtp] username and the password variable") from err
        except smtplib.SMTPNotSupportedError as err:
            raise ConfigError(f"the SMTP server {where} does not offer {err}; check [delivery.smtp] security") from err
        except ssl.SSLCertVerificationError as err:
            raise ConfigError(f"the certificate of {where} cannot be verified: {err.verify_message}",
                              hint="fix the server's certificate, or set [delivery.smtp] ca_file for a private CA") from err
        except (OSError, smtplib.SMTPException) as err:
            # No transaction had begun: nothing of any message was written.
            code = err.smtp_code if isinstance(err, smtplib.SMTPResponseException) else None
            answer = _reply(err.smtp_code, err.smtp_error) if isinstance(err, smtplib.SMTPResponseException) else ""
            raise NotSent(f"cannot connect to the SMTP server {where}: {err}", provider=self.name, status=code,
                          answer=answer) from err
        finally:
            self._opening = None
        self.smtp = smtp
        self._idle = True
        return smtp

    def _drop(self) -> None:
        if self.smtp is not None:
            try:
                self.smtp.close()
            finally:
                self.smtp = None

    def send(self, batch: Sequence[Outgoing], handover: Handover) -> Iterator[list[Result]]:
        if self.settings.dkim is None:
            for item in batch:
                yield [self._send_one(item, item.mime.data, handover)]
            return
        from newsletter.delivery.dkim import signer_for  # each message signed before its MAIL FROM, a chunk ahead

        signed = iter(signer_for(self.settings).sign_all([item.mime.data for item in batch],
                                                         [item.mime.body for item in batch]))
        for item in batch:
            with self.turns.waiting():
                message = next(signed)  # waits for the signing process
            yield [self._send_one(item, message, handover)]

    def _send_one(self, item: Outgoing, message: bytes, handover: Handover) -> Result:
        to = item.mime.recipient
        try:
            smtp = self.smtp or self._connect()
        except NotSent as err:
            if self.stop.is_set():  # cut by a stop while connecting: nothing of this message began
                raise Stopped() from err
            return RetryLater(item.key, str(err))
        options: list[str] = []
        if item.mime.smtputf8:
            if not smtp.has_extn("smtputf8"):
                return Failed(item.key, f"{NO_SMTPUTF8}, which the SMTP server {self.host} does not offer; "
                              "this recipient can be reached only through a relay that offers SMTPUTF8")
            options = ["SMTPUTF8"] + (["BODY=8BITMIME"] if smtp.has_extn("8bitmime") else [])
        if smtp.has_extn("pipelining"):
            return self._pipelined(smtp, item, message, options, handover)
        self._idle = False  # a transaction is open until the server's final answer (or RSET)
        try:
            with self.turns.waiting():
                code, reply = smtp.mail(item.envelope_from, options)
            if code != 250:
                return self._refused(item, code, reply, "MAIL FROM")
            with self.turns.waiting():
                code, reply = smtp.rcpt(to)
            if code not in (250, 251):
                return self._refused(item, code, reply, "RCPT TO")
            if self.stop.is_set():  # the last moment to drop the message cleanly: close() ends the session
                raise Stopped()
            with self.turns.waiting():
                code, reply = smtp.docmd("DATA")
            if code != 354:
                return self._refused(item, code, reply, "DATA")
        except (UnicodeError, smtplib.SMTPNotSupportedError) as err:  # this recipient's address, not the link
            self._reset()
            return Failed(item.key, reasons.NOT_THROUGH_SMTP % {"answer": describe(err)})
        except (smtplib.SMTPServerDisconnected, OSError) as err:
            self._drop()
            return RetryLater(item.key, reasons.CONNECTION_LOST % {"answer": err or err.__class__.__name__})
        return self._content(smtp, item, message, handover)

    def _pipelined(self, smtp: smtplib.SMTP, item: Outgoing, message: bytes, options: Sequence[str],
                   handover: Handover) -> Result:
        """MAIL FROM, RCPT TO and DATA in one write (RFC 2920), then their three answers in order:
        one round trip instead of three. Each answer is checked as in the step-by-step dialogue."""
        try:
            commands = _envelope(item.envelope_from, item.mime.recipient, options)
        except (UnicodeError, ValueError) as err:  # this recipient's address, not the link: nothing was written
            return Failed(item.key, reasons.NOT_THROUGH_SMTP % {"answer": describe(err)})
        if self.stop.is_set():  # DATA goes in the next write: the last moment to drop the message cleanly
            raise Stopped()
        self._idle = False  # a transaction is open until the server's final answer (or RSET)
        try:
            smtp.send(commands)
            with self.turns.waiting():
                mail = smtp.getreply()
                rcpt = smtp.getreply() if mail[0] != 421 else mail
                data = smtp.getreply() if rcpt[0] != 421 else rcpt
            if mail[0] == 421:  # the server is closing: the other answers will not come
                return self._refused(item, *mail, "MAIL FROM")
            if rcpt[0] == 421:
                return self._refused(item, *rcpt, "RCPT TO")
        except (smtplib.SMTPServerDisconnected, OSError) as err:
            self._drop()  # DATA may have been answered, but no byte of the message was written
            return RetryLater(item.key, reasons.CONNECTION_LOST % {"answer": err or err.__class__.__name__})
        refused = ((mail, "MAIL FROM") if mail[0] != 250 else (rcpt, "RCPT TO") if rcpt[0] not in (250, 251)
                   else (data, "DATA") if data[0] != 354 else None)
        if refused is None:
            if self.stop.is_set():  # asked while the answers came: no byte of the message is written yet
                raise Stopped()
            return self._content(smtp, item, message, handover)
        if data[0] == 354:  # DATA opened on a refused envelope: end the session, a "." would send an empty message
            self._drop()
        (code, reply), stage = refused
        return self._refused(item, code, reply, stage)

    def _content(self, smtp: smtplib.SMTP, item: Outgoing, message: bytes, handover: Handover) -> Result:
        """After the 354: the message, the engine told, the final dot (the point of no return), its answer."""
        dot_sent = False
        try:
            data = message if item.mime.dot_free else _dot_stuffed(message)
            if not data.endswith(b"\r\n"):
                data += b"\r\n"
            with self.turns.waiting():  # a slow reader makes a large write wait for room
                smtp.send(data)
            handover([item])
            smtp.send(b".\r\n")
            dot_sent = True
            with self.turns.waiting():
                code, reply = smtp.getreply()
        except (smtplib.SMTPServerDisconnected, OSError) as err:
            self._drop()
            if dot_sent:
                return InDoubt(item.key, reasons.LOST_AFTER_SENDING % {"answer": err})
            return RetryLater(item.key, reasons.CONNECTION_LOST % {"answer": err or err.__class__.__name__})
        if code == 250:
            self._idle = True
            queued = _QUEUED_AS.search(reply.decode("utf-8", "replace"))
            return Sent(item.key, provider_id=queued.group(1) if queued else "")
        return self._refused(item, code, reply, "end of DATA")

    def _reset(self) -> None:
        """End the transaction in progress (RSET), or drop a connection that cannot."""
        if self.smtp is not None:
            self.smtp.command_encoding = "ascii"
            try:
                with self.turns.waiting():
                    self.smtp.rset()
                self._idle = True
            except (smtplib.SMTPException, OSError):
                self._drop()

    def _refused(self, item: Outgoing, code: int, reply: bytes, stage: str) -> Result:
        text = _reply(code, reply)
        if code == 421 or code < 0:
            self._drop()
        else:
            self._reset()
        said = reasons.REFUSED_AT[stage] % {"answer": text}
        if 400 <= code < 500 or code < 0:
            return RetryLater(item.key, said)
        return Failed(item.key, said, bounced=bool(_HARD_BOUNCE.search(text)))

    def close(self) -> None:
        """QUIT a session at rest, waiting a moment at most; a session left in a transaction (a stop,
        an error) is just closed: QUIT sent inside DATA would be read as message text, and waited on."""
        if self.smtp is not None:
            try:
                if self._idle:
                    if self.smtp.sock is not None:
                        self.smtp.sock.settimeout(min(self.timeout, QUIT_WAIT))
                    self.smtp.quit()
            except (smtplib.SMTPException, OSError):
                pass
            self._drop()

    def abort(self) -> None:
        """Shut the socket down under the thread blocked on it: its read returns at once."""
        smtp = self.smtp or self._opening
        sock = smtp.sock if smtp is not None else None
        if sock is not None:
            try:
                socket.socket.shutdown(sock, socket.SHUT_RDWR)  # the plain socket's, also under TLS
            except OSError:
                pass
