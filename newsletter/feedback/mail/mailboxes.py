"""Where messages that came back are read from: a Maildir, an IMAP folder, or one message on stdin.

Each mailbox yields ``(key, raw bytes)`` and moves a message aside only when told that its
change is committed (:meth:`Mailbox.processed`): a crash in between leaves the message where it
was, and reading it again is harmless (events are recorded once). Nothing is ever deleted
before it is safely in the processed folder. A message not understood is left in place.
"""

from __future__ import annotations

import imaplib
import logging
import os
import socket
import ssl
import time
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Protocol

from newsletter.config import BounceSettings, secret_from_env
from newsletter.errors import N_, ConfigError, MailboxError

log = logging.getLogger(__name__)

#: A larger message is left for a human rather than parsed (bounces and reports are small).
MAX_MESSAGE_BYTES = 10 * 1024 * 1024


class Mailbox(Protocol):
    """A source of messages that can set a processed one aside."""

    def messages(self) -> Iterator[tuple[str, bytes]]:
        """Each message not yet processed, as ``(key, raw bytes)``."""
        ...

    def processed(self, key: str) -> None:
        """Move a message whose change is committed out of the way."""
        ...

    def close(self) -> None:
        ...


class MaildirBox:
    """A Maildir the bounce domain delivers to; processed messages go to its ``.Processed`` subfolder."""

    def __init__(self, path: Path, processed_folder: str) -> None:
        self.path = path
        self.done = path / f".{processed_folder}"
        if not all((path / sub).is_dir() for sub in ("new", "cur", "tmp")):
            raise ConfigError(f"[bounces] maildir {path} is not a Maildir (it needs new/, cur/ and tmp/)",
                              hint="point maildir at the folder your mail server delivers the bounce address to")

    def messages(self) -> Iterator[tuple[str, bytes]]:
        for sub in ("new", "cur"):
            for name in sorted(os.listdir(self.path / sub)):
                if name.startswith("."):
                    continue
                file = self.path / sub / name
                try:
                    if file.stat().st_size > MAX_MESSAGE_BYTES:
                        log.warning("bounces: %s/%s is larger than %d bytes; left for a human", sub, name,
                                    MAX_MESSAGE_BYTES)
                        yield f"{sub}/{name}", b""
                        continue
                    data = file.read_bytes()
                except FileNotFoundError:  # another reader took it
                    continue
                except OSError as err:
                    raise MailboxError(f"cannot read {file}: {err.strerror}") from err
                yield f"{sub}/{name}", data

    def processed(self, key: str) -> None:
        sub, _, name = key.partition("/")
        try:
            for folder in ("tmp", "new", "cur"):
                (self.done / folder).mkdir(parents=True, exist_ok=True)
            (self.done / "maildirfolder").touch()
            # Maildir's info suffix: ":2," and the flags; S (seen) so that a mail client shows it as read.
            base, _, info = name.partition(":2,")
            flags = "".join(sorted(set(info) | {"S"}))
            os.rename(self.path / sub / name, self.done / "cur" / f"{base}:2,{flags}")
        except FileNotFoundError:  # another reader (the pipe, a second run) set it aside first
            log.debug("bounces: %s was already set aside", key)
        except OSError as err:
            raise MailboxError(f"cannot move {self.path / sub / name} into {self.done}: {err.strerror}",
                               hint="check the folder's permissions; the change it made is already recorded") from err

    def deliver(self, data: bytes) -> None:
        """Add a message to ``new/`` (written to ``tmp/``, then renamed), for a human to read."""
        name = f"{time.time_ns()}.P{os.getpid()}.{socket.gethostname().replace('/', '_')}"
        try:
            (self.path / "tmp" / name).write_bytes(data)
            os.rename(self.path / "tmp" / name, self.path / "new" / name)
        except OSError as err:
            raise MailboxError(f"cannot write into the Maildir {self.path}: {err.strerror}") from err

    def close(self) -> None:
        pass


class OneMessage:
    """One message given on stdin (a Postfix pipe transport): nothing to move; the exit code tells Postfix."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def messages(self) -> Iterator[tuple[str, bytes]]:
        yield "stdin", self.data if len(self.data) <= MAX_MESSAGE_BYTES else b""

    def processed(self, key: str) -> None:
        pass

    def close(self) -> None:
        pass


class ImapBox:
    """An IMAP folder over TLS (certificate and host name verified); processed messages are moved to
    ``processed_folder`` (MOVE, or COPY then ``\\Deleted`` and a UID EXPUNGE of that message only)."""

    def __init__(self, settings: BounceSettings, *, environ: Mapping[str, str] | None = None,
                 ssl_context: ssl.SSLContext | None = None, timeout: float = 60.0) -> None:
        user = secret_from_env(settings.imap_user_env, purpose=N_("IMAP user name of the bounce mailbox"),
                               environ=environ)
        password = secret_from_env(settings.imap_password_env, purpose=N_("IMAP password of the bounce mailbox"),
                                   environ=environ)
        self.settings = settings
        self._offers: set[bytes] | None = None
        where = f"{settings.imap_host}:{settings.imap_port}"
        try:
            self.imap = imaplib.IMAP4_SSL(settings.imap_host, settings.imap_port,
                                          ssl_context=ssl_context or ssl.create_default_context(), timeout=timeout)
        except ssl.SSLError as err:
            raise MailboxError(f"the IMAP server {where} did not pass the TLS check: {err.reason or err}",
                               hint="the server needs a certificate valid for [bounces] imap_host") from err
        except (OSError, imaplib.IMAP4.error) as err:
            raise MailboxError(f"cannot reach the IMAP server {where}: {getattr(err, 'strerror', None) or err}",
                               hint="check [bounces] imap_host and imap_port (993 is IMAP over TLS)") from err
        try:
            self.imap.login(user, password)
        except (imaplib.IMAP4.abort, OSError) as err:
            self._logout()
            raise MailboxError(f"the IMAP server {where} closed the connection during the login") from err
        except (imaplib.IMAP4.error, UnicodeEncodeError) as err:
            self._logout()
            raise ConfigError(f"the IMAP server {where} refused the login of {settings.imap_user_env}'s user",
                              hint=f"check the variables {settings.imap_user_env} and "
                                   f"{settings.imap_password_env} (IMAP LOGIN takes ASCII only)") from err
        self.moves = b"MOVE" in self._capabilities()
        self._select(settings.imap_folder)
        self._created = False

    def _capabilities(self) -> set[bytes]:
        """What the server offers once logged in (servers announce MOVE and UIDPLUS only then)."""
        if self._offers is None:
            status, data = self._call("CAPABILITY", self.imap.capability)
            words = b" ".join(d for d in data if isinstance(d, bytes)).upper().split() if status == "OK" else []
            self._offers = set(words)
        return self._offers

    def _select(self, folder: str) -> None:
        status, _ = self._call("SELECT", lambda: self.imap.select(_quoted(folder)))
        if status != "OK":
            self._logout()
            raise ConfigError(f"the IMAP folder {folder!r} does not exist on {self.settings.imap_host}",
                              hint="set [bounces] imap_folder to the folder bounces arrive in (usually INBOX)")

    def messages(self) -> Iterator[tuple[str, bytes]]:
        status, data = self._call("UID SEARCH", lambda: self.imap.uid("SEARCH", "UNDELETED"))
        uids = data[0].decode("ascii").split() if status == "OK" and data and isinstance(data[0], bytes) else []
        for uid in uids:
            status, fetched = self._call("UID FETCH", lambda: self.imap.uid("FETCH", uid, "(RFC822.SIZE BODY.PEEK[])"))
            body = next((part[1] for part in fetched if isinstance(part, tuple)), None) if status == "OK" else None
            if body is None:
                continue
            yield uid, body if len(body) <= MAX_MESSAGE_BYTES else b""

    def processed(self, key: str) -> None:
        folder = _quoted(self.settings.processed_folder)
        if not self._created:
            self._call("CREATE", lambda: self.imap.create(folder))  # "already exists" is fine
            self._created = True
        if self.moves:
            self._ok("UID MOVE", lambda: self.imap.uid("MOVE", key, folder))
            return
        self._ok("UID COPY", lambda: self.imap.uid("COPY", key, folder))
        self._ok("UID STORE", lambda: self.imap.uid("STORE", key, "+FLAGS.SILENT", r"(\Deleted)"))
        if b"UIDPLUS" in self._capabilities():
            self._ok("UID EXPUNGE", lambda: self.imap.uid("EXPUNGE", key))
        # Without UIDPLUS the copy stays flagged \Deleted here until the mailbox is expunged: a plain
        # EXPUNGE would also remove messages a person flagged, which is not ours to do.

    def _call(self, what: str, call: Callable[[], Any]) -> tuple[str, list[Any]]:
        try:
            status, data = call()
        except (imaplib.IMAP4.error, OSError) as err:
            raise MailboxError(f"IMAP {what} failed on {self.settings.imap_host}: {err}") from err
        return status, list(data or [])

    def _ok(self, what: str, call: Callable[[], Any]) -> None:
        status, data = self._call(what, call)
        if status != "OK":
            said = b" ".join(d for d in data if isinstance(d, bytes)).decode("ascii", "replace")[:200]
            raise MailboxError(f"IMAP {what} into {self.settings.processed_folder!r} failed on "
                               f"{self.settings.imap_host}: {said}",
                               hint="check that the account may create and write that folder; "
                                    "the change is recorded and the message stays in place")

    def _logout(self) -> None:
        try:
            self.imap.logout()
        except (imaplib.IMAP4.error, OSError):
            pass

    def close(self) -> None:
        self._logout()


def _quoted(folder: str) -> str:
    """An IMAP mailbox name as a quoted string (config allows no quotes or backslashes in it)."""
    return f'"{folder}"'


def open_mailbox(settings: BounceSettings, *, environ: Mapping[str, str] | None = None,
                 ssl_context: ssl.SSLContext | None = None) -> Mailbox:
    """The configured Maildir or IMAP folder.

    :raises ConfigError: when [bounces] names neither (only ``--stdin`` can be used then).
    """
    if settings.maildir is not None:
        return MaildirBox(settings.maildir, settings.processed_folder)
    if settings.imap_host:
        return ImapBox(settings, environ=environ, ssl_context=ssl_context)
    raise ConfigError("[bounces] names no mailbox to read: set maildir or imap_host",
                      hint="or pipe one message at a time into `newsletter bounces process --stdin`")
