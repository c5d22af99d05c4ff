"""An editor's approval of an issue, bound to the exact content that was approved.

``newsletter approve DATE`` writes ``issues/DATE/approval.yaml``: who approved, when, and the
SHA-256 of every file of the issue, and of every file the render reads whatever its name (an
item's ``image: .images/chart.png`` too). Any later change to a file (an edit, a new image, a
removed item) makes the approval *stale*: ``check`` and ``status`` say which files changed,
and the scheduler will not send an issue whose approval is not current when approval is
required.
"""

from __future__ import annotations

import errno
import hashlib
import os
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Literal

import yaml

from newsletter.content.load import image_files
from newsletter.errors import N_, ApprovalRequiredError, ContentError, UnsafeFileError, UsageError
from newsletter.core.atomic import locked, read_inside, write_atomically
from newsletter.core.i18n import Gettext, fill
from newsletter.content.publication import read_image

APPROVAL_FILE = "approval.yaml"
State = Literal["missing", "current", "stale", "unreadable"]


@dataclass(frozen=True)
class ApprovalState:
    """Where the approval of one issue stands."""

    state: State
    path: Path
    approved_by: str = ""
    approved_at: str = ""
    changed: list[str] = field(default_factory=list)  # files added, removed or edited since
    reason: str = ""

    @property
    def current(self) -> bool:
        return self.state == "current"

    @property
    def approved_time(self) -> datetime | None:
        """When the issue was last approved (to the second), or None without a readable approval."""
        try:
            when = datetime.fromisoformat(self.approved_at)
        except ValueError:
            return None
        return when if when.tzinfo is not None else None

    def describe(self) -> str:
        return self.text(str)

    def text(self, gettext: Gettext) -> str:
        """:meth:`describe` in the language of ``gettext``."""
        if self.state == "missing":
            return gettext(N_("not approved yet"))
        if self.state == "unreadable":
            return fill(N_("%(file)s cannot be read (%(reason)s); approve the issue again"),
                        {"file": self.path.name, "reason": self.reason}, gettext)
        if self.state == "stale":
            shown = ", ".join(self.changed[:5]) + (" …" if len(self.changed) > 5 else "")
            return fill(N_("approved by %(name)s on %(when)s, but changed since (%(files)s); approve it again"),
                        {"name": self.approved_by, "when": self.approved_at, "files": shown}, gettext)
        return fill(N_("approved by %(name)s on %(when)s"), {"name": self.approved_by, "when": self.approved_at},
                    gettext)


def _digest(folder: Path, relative: str) -> str:
    """The SHA-256 of a file of the issue, read without following a link (a link is told by its target)."""
    path = folder / relative
    if path.is_symlink():
        return "link " + hashlib.sha256(os.fsencode(os.readlink(path))).hexdigest()
    try:
        return hashlib.sha256(read_inside(folder, relative)).hexdigest()
    except OSError as err:
        return f"unreadable {errno.errorcode.get(err.errno or 0, err.errno)}"


def digests(folder: Path) -> dict[str, str]:
    """SHA-256 of every file of the issue (hidden files, backups ending in ``~`` and the approval itself
    left out), and of every image the items name whatever its name: exactly what the render reads."""
    out: dict[str, str] = {}
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder)
        if not (path.is_file() or path.is_symlink()) or relative.as_posix() == APPROVAL_FILE \
                or any(part.startswith(".") or part.endswith("~") for part in relative.parts):
            continue
        out[relative.as_posix()] = _digest(folder, relative.as_posix())
    for written in image_files(folder):
        try:
            image = read_image(folder, written)  # the render's own reader: what it shows is what is approved
        except UnsafeFileError:
            continue  # the render shows no image for it (and check refuses the issue)
        out[image.relative] = hashlib.sha256(image.data).hexdigest()
    return out


def approve(folder: Path, by: str, now: datetime) -> ApprovalState:
    """Record ``by``'s approval of the issue in ``folder`` as it is now (written atomically).

    :raises ContentError: when the name is empty or the folder cannot be written.
    """
    by = " ".join(by.split())
    if not by:
        raise UsageError("an approval needs the approver's name", hint="pass --by \"Prénom Nom\"")
    target = folder / APPROVAL_FILE
    try:
        with locked(folder):  # the files approved are the files read: no save lands in between
            record = {"approved_by": by, "approved_at": now.isoformat(timespec="seconds"), "files": digests(folder)}
            text = ("# Written by `newsletter approve`. Editing any file of the issue makes this approval stale.\n"
                    + yaml.safe_dump(record, allow_unicode=True, sort_keys=False))
            write_atomically(target, text.encode("utf-8"))
    except OSError as err:
        raise ContentError(f"cannot write {target}: {err.strerror}") from err
    return approval_state(folder)


def approval_state(folder: Path) -> ApprovalState:
    """Compare the recorded approval with the files as they are now."""
    path = folder / APPROVAL_FILE
    if not (path.exists() or path.is_symlink()):
        return ApprovalState("missing", path)
    try:
        record = yaml.safe_load(read_inside(folder, APPROVAL_FILE).decode("utf-8"))
    except OSError as err:
        return ApprovalState("unreadable", path, reason=str(err.strerror))
    except (UnicodeDecodeError, yaml.YAMLError) as err:
        return ApprovalState("unreadable", path, reason=str(err).splitlines()[0])
    if not isinstance(record, dict) or not isinstance(record.get("files"), dict) \
            or not record.get("approved_by") or not record.get("approved_at"):
        return ApprovalState("unreadable", path, reason="it lacks approved_by, approved_at or files")
    recorded = {str(k): str(v) for k, v in record["files"].items()}
    now = digests(folder)
    changed = sorted(name for name in recorded.keys() | now.keys() if recorded.get(name) != now.get(name))
    state: State = "stale" if changed else "current"
    return ApprovalState(state, path, str(record["approved_by"]), str(record["approved_at"]), changed)


def refusal(state: ApprovalState, day: str) -> ApprovalRequiredError:
    """The error that refuses to send an issue not approved as it is now (``[schedule] require_approval``),
    with the two ways out: approve it, or say why not."""
    verdict = {"missing": "is not approved", "stale": "changed since its approval",
               "unreadable": "has an unreadable approval"}.get(state.state, "is not approved")
    return ApprovalRequiredError(
        f"issue {day} {verdict} ({state.describe()}), and [schedule] require_approval = true; nothing was sent",
        hint=f"have an editor run `newsletter approve {day}` after reading it, or, to send it anyway, "
             f"`newsletter send {day} --without-approval \"the reason\"` (recorded with your name)")
