"""The ``outbox`` adapter: every message becomes a file in a Maildir, no server needed.

The default transport, for demos and for checking a send before pointing it at a relay.
Each message is written to ``tmp/`` and renamed into ``new/`` under a name derived from its
Message-ID, so the rename is the point of no return and a message in doubt after a crash
can be looked up: the outbox resends nothing and loses nothing.

A file that cannot be written (a full disk, a read-only or failing one) is a failure of our own
side, not of the reader's: the run stops with the cause (:class:`~newsletter.errors.LocalResourceError`),
nobody's attempts are used, and the next run resumes once the cause is fixed.
"""

from __future__ import annotations

import hashlib
import os
from datetime import datetime
from pathlib import Path
from typing import Iterator, Mapping, Sequence

from newsletter.config import Settings
from newsletter.delivery.base import (Adapter, Doubt, Handover, NeverArrived, Outgoing, Result, RetryLater, Sent,
                                      Settled, path_option, register)
from newsletter.delivery.reasons import NOT_IN_OUTBOX
from newsletter.errors import ConfigError, LocalResourceError


@register
class OutboxAdapter(Adapter):
    name = "outbox"
    batch_size = 200
    paced = False  # a local folder: rate_per_second protects remote servers, not this
    known_options = ("path",)

    def __init__(self, settings: Settings, environ: Mapping[str, str] | None = None) -> None:
        super().__init__(settings, environ)
        path = path_option(self, "path", "out/outbox")
        assert path is not None  # it has a default
        self.path: Path = path

    def open(self) -> None:
        self._ensure()

    def _ensure(self) -> None:
        """Create the Maildir's folders that are missing: the outbox may be an empty mounted volume,
        or someone may have removed it during a send.

        :raises ConfigError: when they cannot be created (the run stops; nothing is counted).
        """
        try:
            for folder in ("tmp", "new", "cur"):
                if not (self.path / folder).is_dir():
                    (self.path / folder).mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise ConfigError(f"cannot create the outbox Maildir {self.path}: {err.strerror}",
                              hint="set [delivery.outbox] path to a writable folder") from err

    @staticmethod
    def _name(message_id: str) -> str:
        return hashlib.sha256(message_id.encode()).hexdigest()[:32] + ".eml"

    def _delivered(self, message_id: str) -> bool:
        name = self._name(message_id)
        return (self.path / "new" / name).exists() or any((self.path / "cur").glob(name + "*"))

    def send(self, batch: Sequence[Outgoing], handover: Handover) -> Iterator[list[Result]]:
        from newsletter.delivery.dkim import signer_for  # not loaded by a send with nothing to write (cryptography)

        for item in batch:
            name = self._name(item.mime.message_id)
            tmp = self.path / "tmp" / name
            if self._delivered(item.mime.message_id):
                yield [Sent(item.key, provider_id=name)]
                continue
            self._ensure()
            try:
                with open(tmp, "wb") as handle:
                    if self.settings.bounces:  # what the receiving server would add: the envelope sender (VERP)
                        handle.write(f"Return-Path: <{item.envelope_from}>\n".encode("ascii"))
                    handle.write(signer_for(self.settings)(item.mime.data, item.mime.body).replace(b"\r\n", b"\n"))
                handover([item])
                os.rename(tmp, self.path / "new" / name)
            except OSError as err:
                _discard(tmp)
                raise LocalResourceError(
                    f"cannot write to the outbox {self.path}: {err.strerror}; the send stopped and no "
                    "recipient's attempts were used", hint="free space on that disk (or make the folder writable), "
                    "then run the send again: it resumes") from err
            except BaseException:  # the engine stopped before the rename: leave no half-delivered file
                _discard(tmp)
                raise
            yield [Sent(item.key, provider_id=name)]

    def settle(self, rows: Sequence[Doubt], now: datetime) -> dict[int, Settled]:
        # A message is delivered once its file is renamed into new/: the folder is the proof, both ways.
        return {row.key: Sent(row.key, provider_id=self._name(row.message_id)) if self._delivered(row.message_id)
                else NeverArrived(row.key, NOT_IN_OUTBOX)
                for row in rows}


def _discard(path: Path) -> None:
    """Remove a file that will not be delivered; a failure here must not hide the first one."""
    try:
        path.unlink(missing_ok=True)
    except OSError:
        pass
