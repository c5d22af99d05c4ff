"""Editing an issue's files from a form: what the desk reads and writes under ``issues/DATE/``.

The files stay the single source of truth. Each save is based on a *version* (the SHA-256 of
the file as the form showed it): when the file changed since, the save is refused with
:class:`StaleEditError` and nothing is written. Every write goes to a temporary file in the same
folder, flushed to disk, then renamed over the old one, so a reader never sees half a file.
Adding, removing and reordering items renames the ``NN-`` files so their numbers follow the
order. With ``[desk] git_commit = true`` in a git repository, each change is a commit of the
issue folder authored by the editor (the desk is the committer).

The project's rule for files holds for every file read, listed or written here
(:mod:`newsletter.core.atomic`): an issue folder that is a symbolic link or holds one is refused whole
with :class:`LinkedFolderError`, naming the links, and nothing of it is shown or changed; each
file is read without following a link.

Nothing here knows about HTTP: the desk calls :class:`Issues` through ``Newsletter.issues``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import subprocess
import time
import unicodedata
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Callable, Iterator, Mapping, Protocol

import yaml

from newsletter.config import Settings
from newsletter.content.load import ISSUE_FILE, ISSUE_KEYS, ITEM_KEYS, ITEM_NAME, issue_folder
from newsletter.content.problems import Problem
from newsletter.errors import (ContentError, FieldRefused, IssueNotFoundError, LinkedFolderError, NewsletterError,
                               NotAnImageError, NotAnItemError, StaleEditError, UnsafeFileError, UsageError)
from newsletter.core.atomic import links, locked, read_inside, write_atomically
from newsletter.core.i18n import N_, Quoted
from newsletter.core.merge import EDITOR_FIELDS
from newsletter.services.check import PREHEADER_MAX, SUBJECT_MAX

#: The fields the desk shows for each item, in order (``check`` knows them all).
ITEM_FIELDS = ITEM_KEYS
ISSUE_FIELDS = ISSUE_KEYS
MAX_FIELD = 2_000  # characters of one front-matter value
MAX_BODY = 20_000  # characters of an item's text
MAX_NAME = 200  # bytes of an item's file name (``desk_edits.path`` holds 200)
KEEP_REMOVED = 24 * 3600  # seconds a removed item can be restored

Recorder = Callable[[date, str, str], None]


class Author(Protocol):
    """Who makes a change (a desk account): their name and address, for the record and the git commit."""

    @property
    def name(self) -> str: ...

    @property
    def email(self) -> str: ...


@dataclass(frozen=True)
class ItemDraft:
    """One item file as a form shows it."""

    name: str  # the file name, e.g. 02-paiement-mobile.md
    number: int
    fields: dict[str, str]
    body: str
    version: str
    readable: bool = True  # False: the file could not be parsed; the form shows its raw text as the body

    @property
    def words(self) -> int:
        return count_words(self.body)


@dataclass(frozen=True)
class IssueDraft:
    """An issue folder as the desk shows it: ``issue.yaml``'s fields and the items, in order."""

    day: date
    folder: Path
    fields: dict[str, str]
    version: str
    items: list[ItemDraft]
    images: list[str] = field(default_factory=list)

    def item(self, name: str) -> ItemDraft:
        for item in self.items:
            if item.name == name:
                return item
        raise IssueNotFoundError(N_("issue %(day)s has no item %(name)s"), values={"day": self.day.isoformat(), "name": Quoted(name)},
                                 hint="it was renamed or removed meanwhile; reload the page")


@dataclass(frozen=True)
class Placed:
    """A problem of ``check``, with the file and field it concerns (for a link to that input)."""

    problem: Problem
    file: str  # the file's name in the issue folder ("" for the folder itself)
    field: str  # "title", "body", "subject"… or "" when no single field is at fault
    location: str  # file:line, relative to the project
    text: str  # what is wrong, in the language of the preview's ``gettext`` (English without one)
    misspelled: str = ""  # for a spelling warning, the unknown word as written in the field
    suggestions: tuple[str, ...] = ()  # and the words suggested instead


@dataclass(frozen=True)
class PreviewResult:
    """The email as the example recipient gets it, and ``check``'s problems."""

    html: str
    text: str
    subject: str
    problems: list[Placed]
    error: str = ""  # set when the email could not be rendered at all

    @property
    def blocking(self) -> int:
        return sum(p.problem.severity == "error" for p in self.problems)


def count_words(text: str) -> int:
    """Words as an editor counts them: runs of letters or digits (Markdown marks are not words)."""
    return len(re.findall(r"[\w’'-]+", re.sub(r"\]\([^)]*\)", "]", text)))


def version_of(data: bytes | None) -> str:
    """The version of a file's content (``""`` for a file that does not exist)."""
    return hashlib.sha256(data).hexdigest() if data is not None else ""


def _read(path: Path) -> bytes | None:
    """The bytes of ``path``, never through a link (None when it does not exist).

    :raises ContentError: when it cannot be read (a link, a folder, no permission).
    """
    try:
        return read_inside(path.parent, path.name)
    except FileNotFoundError:
        return None
    except OSError as err:
        raise ContentError(N_("cannot read %(path)s: %(reason)s"), hint="replace it by a regular file",
                           values={"path": path.name, "reason": err.strerror}) from err


def atomic_write(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` all at once (temporary file, fsync, rename).

    :raises ContentError: when the folder cannot be written.
    """
    try:
        write_atomically(path, data)
    except OSError as err:
        raise ContentError(N_("cannot write %(path)s: %(reason)s"), hint="check the folder's permissions",
                           values={"path": path, "reason": err.strerror}) from err


def _scalars(text: str) -> dict[str, str]:
    """A YAML mapping's text values as written (``tag: yes`` stays "yes"); {} when it is not one."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except (yaml.YAMLError, RecursionError):
        raise ValueError("unreadable") from None
    if node is None:
        return {}
    if not isinstance(node, yaml.MappingNode):
        raise ValueError("not a mapping")
    out: dict[str, str] = {}
    for key, value in node.value:
        if isinstance(key, yaml.ScalarNode) and isinstance(value, yaml.ScalarNode):
            out[str(key.value)] = str(value.value)
    return out


def _split(text: str) -> tuple[str, str] | None:
    lines = text.replace("\r\n", "\n").split("\n")
    if not lines or lines[0].strip() != "---":
        return None
    for i in range(1, len(lines)):
        if lines[i].rstrip() in ("---", "..."):
            return "\n".join(lines[1:i]), "\n".join(lines[i + 1:])
    return None


def _yaml(values: dict[str, str]) -> str:
    """``key: "value"`` lines, as people write them: a multi-line value as a ``|`` block, any other
    between double quotes (a JSON string is a valid YAML double-quoted scalar)."""
    lines = []
    for key, value in values.items():
        body = value.rstrip("\n")
        if "\n" in body and not any(line[:1] in (" ", "\t") for line in body.split("\n")) \
                and not _UNSAFE_IN_YAML.search(body):
            lines.append(f"{key}: |")
            lines.extend(f"  {line}" if line else "" for line in body.split("\n"))
        else:
            lines.append(f"{key}: {_quoted(value)}")
    return "\n".join(lines) + "\n"


#: Characters YAML reads as a line break inside quotes (it would fold them) or refuses in a file.
_UNSAFE_IN_YAML = re.compile("[\x7f-\x84\x86-\x9f\x85\u2028\u2029\ufeff\ufffe\uffff]")


def _quoted(value: str) -> str:
    """``value`` as a YAML double-quoted scalar that reads back exactly: JSON's escapes (a JSON string is
    YAML), plus ``\\uXXXX`` for what YAML would fold or refuse (NEL, the Unicode line separators, C1 controls)."""
    return _UNSAFE_IN_YAML.sub(lambda m: f"\\u{ord(m.group()):04x}", json.dumps(value, ensure_ascii=False))


def _edit(text: str, values: dict[str, str], required: tuple[str, ...]) -> str:
    """``text`` (a YAML mapping) with only the keys whose value changed rewritten, in place.

    Comments, blank lines, key order and the keys the form does not show stay as written; a changed
    key's lines are replaced by ``key: "value"`` (a comment at the end of a one-line value stays at
    the end of the new line); an emptied key is removed unless it is ``required``; a new key is
    added at the end.

    :raises ValueError: when ``text`` is not a readable mapping (the caller writes the form anew).
    """
    text = text.replace("\r\n", "\n")  # one kind of line end in the file written
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader) if text.strip() else None
    except (yaml.YAMLError, RecursionError):
        raise ValueError("unreadable") from None
    if node is not None and not isinstance(node, yaml.MappingNode):
        raise ValueError("not a mapping")
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    spans: dict[str, tuple[int, int, str, str]] = {}  # key: (first line, line after the last, value, comment)
    for key, value in node.value if node is not None else []:
        if isinstance(key, yaml.ScalarNode):
            end = value.end_mark.line + (1 if value.end_mark.column > 0 else 0)
            current = str(value.value) if isinstance(value, yaml.ScalarNode) else None
            comment = ""
            if value.end_mark.line == key.start_mark.line:  # `key: value  # why`: the comment stays
                rest = lines[key.start_mark.line][value.end_mark.column:]
                comment = rest if rest.strip().startswith("#") else ""
            spans[str(key.value)] = (key.start_mark.line, max(end, key.start_mark.line + 1), current or "", comment)
    edits: list[tuple[int, int, list[str]]] = []
    added: list[str] = []
    for key, new in values.items():
        keep = bool(new) or key in required
        if key not in spans:
            if keep:
                added.extend(_yaml({key: new}).rstrip("\n").split("\n"))
            continue
        first, after, current, comment = spans[key]
        if current.rstrip("\n") == new.rstrip("\n") and keep:
            continue  # unchanged: its lines stay as the person wrote them
        replacement = _yaml({key: new}).rstrip("\n").split("\n") if keep else []
        if comment and len(replacement) == 1:
            replacement[0] += comment
        edits.append((first, after, replacement))
    for first, after, replacement in sorted(edits, reverse=True):
        lines[first:after] = replacement
    lines.extend(added)
    return "\n".join(lines) + "\n" if lines else ""


#: The spaces a one-line field runs together: any white space but the typographic ones an editor types on
#: purpose (no-break U+00A0, narrow no-break U+202F, thin U+2009, hair U+200A, figure U+2007).
_BREAKABLE = re.compile(r"[^\S\u00a0\u202f\u2009\u200a\u2007]+")


def _clean(value: str, key: str, *, multiline: bool = False, limit: int = MAX_FIELD, field: str = "") -> str:
    """``value`` as it is saved; ``key`` is how the refusal names it, ``field`` (``key`` by default) the field
    whose label a page says instead.

    :raises FieldRefused: for control characters, or more than ``limit`` characters.
    """
    value = unicodedata.normalize("NFC", value.replace("\r\n", "\n").replace("\r", "\n"))
    if not multiline:
        value = _BREAKABLE.sub(" ", value.strip())
    else:
        value = value.strip("\n")
    if re.search(r"[\x00-\x08\x0b-\x1f\x7f]", value):
        raise FieldRefused(N_("%(key)s: remove the control characters"), field or key, values={"key": key})
    if len(value) > limit:
        raise FieldRefused(N_("%(key)s is longer than %(limit)d characters"), field or key,
                           values={"key": key, "limit": limit})
    return value


def slug(text: str) -> str:
    """A file-name part from a title: lower-case ASCII words joined by hyphens (40 characters at most)."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    words = re.findall(r"[a-z0-9]+", ascii_text.lower())
    out = "-".join(words)[:40].rstrip("-")
    return out or "info"


def _fields_writer(values: dict[str, str]) -> Callable[[bytes | None], bytes]:
    """What writes ``issue.yaml`` from the form's subject, preheader and intro (checked now)."""
    fields = {"subject": _clean(values.get("subject", ""), "subject"),
              "preheader": _clean(values.get("preheader", ""), "preheader"),
              "intro": _clean(values.get("intro", ""), "intro", multiline=True, limit=MAX_BODY)}
    if fields["intro"]:
        fields["intro"] += "\n"

    def compose(old: bytes | None) -> bytes:
        try:
            text = old.decode("utf-8-sig") if old else ""
            return _edit(text, fields, ("subject", "preheader")).encode()
        except (ValueError, UnicodeDecodeError):  # unreadable: written anew from the form
            return _yaml({k: v for k, v in fields.items() if v or k in ("subject", "preheader")}).encode()
    return compose


def _item_writer(values: dict[str, str], body: str) -> Callable[[bytes | None], bytes]:
    """What writes an item file from the form's fields and text (checked now)."""
    fields = {key: _clean(values.get(key, ""), key) for key in ITEM_FIELDS}
    text = _clean(body, "text", multiline=True, limit=MAX_BODY, field="body")

    def compose(old: bytes | None) -> bytes:
        try:
            parts = _split(old.decode("utf-8-sig")) if old else None
            if parts is None:
                raise ValueError("no front matter")
            front = _edit(parts[0] + "\n" if parts[0] else "", fields, ("title", "source"))
        except (ValueError, UnicodeDecodeError):  # unreadable: written anew from the form
            front = _yaml({k: v for k, v in fields.items() if v or k in ("title", "source")})
        return f"---\n{front}---\n{text}\n".encode()
    return compose


class Issues:
    """The issue folders of one project (``Newsletter.issues``).

    :param record: called with (day, file name, account name) after each save (who edited last).
    :param create: makes a new issue's stubs, as ``newsletter new`` does.
    """

    #: Raised by a save based on an outdated version (front ends catch ``issues.Stale``).
    Stale = StaleEditError
    #: Raised by an upload that is not an image.
    NotAnImage = NotAnImageError
    #: Raised for a name that cannot be an item's file name.
    NotAnItem = NotAnItemError
    #: Raised for an issue folder that is or holds a symbolic link.
    Linked = LinkedFolderError
    #: The longest subject and preheader ``check`` accepts (the desk counts towards them).
    SUBJECT_MAX, PREHEADER_MAX = SUBJECT_MAX, PREHEADER_MAX
    #: The merge fields an editor may write in the intro and the item texts (what ``check`` accepts).
    MERGE_FIELDS = EDITOR_FIELDS

    def __init__(self, settings: Settings, *, record: Recorder | None = None,
                 create: Callable[[date], list[Path]] | None = None) -> None:
        self.settings = settings
        self._record = record
        self._create = create

    # -- reading --------------------------------------------------------------------------------

    def folder(self, day: date) -> Path:
        return issue_folder(self.settings.issues_dir, day)

    def editions(self, day: date) -> list[date]:
        """The special editions of ``day`` that have a folder (``issues/DATE-SLUG/``), by slug."""
        from newsletter.core.issue_id import IssueId, day_of

        prefix = f"{day_of(day).isoformat()}-"
        found: list[date] = []
        for path in sorted(self.settings.issues_dir.glob(f"{prefix}*")):
            try:
                issue = IssueId.parse(path.name)
            except NewsletterError:
                continue  # not an edition's name: no command reads it
            if path.is_dir() and not path.is_symlink():
                found.append(issue)
        return found

    def exists(self, day: date) -> bool:
        """Whether the issue folder is there (a link counts: the desk refuses it rather than create over it)."""
        return self.folder(day).is_symlink() or self.folder(day).is_dir()

    def read(self, day: date) -> IssueDraft:
        """The issue as the form shows it.

        :raises IssueNotFoundError: when the folder does not exist.
        :raises LinkedFolderError: when it is or holds a symbolic link.
        """
        folder = self._folder(day, hint=f"create it with `newsletter new {day.isoformat()}`")
        meta = _read(folder / ISSUE_FILE)
        try:
            values = _scalars(meta.decode("utf-8-sig")) if meta is not None else {}
        except (ValueError, UnicodeDecodeError):
            values = {}
        fields = {key: values.get(key, "") for key in ISSUE_FIELDS}
        items = [item for path in self._item_paths(folder) if (item := self._item(path)) is not None]
        images_dir = folder / "images"
        images = sorted(p.name for p in images_dir.iterdir() if p.is_file() and not p.name.startswith(".")) \
            if images_dir.is_dir() else []
        return IssueDraft(day, folder, fields, version_of(meta), items, images)

    def _item_paths(self, folder: Path) -> list[Path]:
        found = [(int(m.group(1)), p.name, p) for p in folder.iterdir()
                 if p.is_file() and (m := ITEM_NAME.match(p.name))]
        return [p for _, _, p in sorted(found)]

    def _item(self, path: Path) -> ItemDraft | None:
        data = _read(path)
        if data is None:
            return None  # removed since the folder was listed
        number = int(ITEM_NAME.match(path.name).group(1))  # type: ignore[union-attr]
        try:
            text = data.decode("utf-8-sig")
            parts = _split(text)
            if parts is None:
                raise ValueError("no front matter")
            values = _scalars(parts[0])
        except (ValueError, UnicodeDecodeError):
            return ItemDraft(path.name, number, {key: "" for key in ITEM_FIELDS},
                             data.decode("utf-8", "replace"), version_of(data), readable=False)
        return ItemDraft(path.name, number, {key: values.get(key, "") for key in ITEM_FIELDS},
                         parts[1].strip("\n"), version_of(data))

    # -- writing --------------------------------------------------------------------------------

    def create(self, day: date, by: Author) -> IssueDraft:
        """Create the day's issue with the stubs ``newsletter new`` writes.

        :raises NewsletterError: when it exists already.
        """
        if self._create is None:
            raise NewsletterError("this desk cannot create issues")
        self._create(day)
        self._after(day, ISSUE_FILE, by, f"Create the issue of {day.isoformat()}")
        return self.read(day)

    def save_fields(self, day: date, values: dict[str, str], version: str, by: Author) -> str:
        """Write ``issue.yaml``'s fields: only the changed keys' lines; comments, order and other keys stay.

        :return: the new version.
        :raises StaleEditError: when the file changed since ``version``.
        """
        return self._replace(day, self.folder(day) / ISSUE_FILE, version, _fields_writer(values), by,
                             f"Edit issue.yaml of {day.isoformat()}")

    def save_item(self, day: date, name: str, values: dict[str, str], body: str, version: str, by: Author) -> str:
        """Write one item's fields and text.

        :return: the new version.
        :raises StaleEditError: when the file changed (or went) since ``version``.
        """
        path = self._item_path(day, name)
        return self._replace(day, path, version, _item_writer(values, body), by, f"Edit {name} of {day.isoformat()}")

    def save_issue(self, day: date, fields: dict[str, str], version: str,
                   items: dict[str, tuple[dict[str, str], str, str]], by: Author) -> list[str]:
        """Save the whole page at once: ``issue.yaml``'s fields (shown at ``version``) and each item
        ``name: (fields, text, version)``, all or nothing, so that no typed text is dropped by saving another part.

        Every value is checked and every version compared under the folder's lock before anything is
        written; only the files whose content changes are written (and recorded as edited).

        :return: the names of the files written.
        :raises StaleEditError: naming the files changed by someone else since (nothing is written then).
        :raises UsageError: for a value that cannot be saved (nothing is written then).
        """
        plans = [(self.folder(day) / ISSUE_FILE, version, _fields_writer(fields))]
        plans += [(self._item_path(day, name), shown, _item_writer(values, body))
                  for name, (values, body, shown) in items.items()]
        written: list[str] = []
        with self._writing(day):
            stale = [path.name for path, shown, _ in plans if version_of(_read(path)) != shown]
            if stale:
                raise StaleEditError(", ".join(stale), N_("%(file)s was changed by someone else since you opened it; "
                                                          "your save was refused and nothing was overwritten"))
            for path, _, compose in plans:
                old = _read(path)
                data = compose(old)
                if data != old:
                    atomic_write(path, data)
                    written.append(path.name)
                    if self._record is not None:
                        self._record(day, path.name, by.name)
            if written:
                self._commit(day, by, f"Edit {', '.join(written)} of {day.isoformat()}")
        return written

    def add_item(self, day: date, by: Author) -> str:
        """Add an empty item at the end; returns its file name."""
        with self._writing(day) as folder:
            paths = self._item_paths(folder)
            number = (int(ITEM_NAME.match(paths[-1].name).group(1)) if paths else 0) + 1  # type: ignore[union-attr]
            name = f"{number:02d}-info-{number}.md"
            path = folder / name
            if path.exists():
                raise StaleEditError(name, N_("%(file)s appeared meanwhile; reload the page"))
            atomic_write(path, b'---\ntitle: ""\nsource: ""\n---\n\n')
        self._after(day, name, by, f"Add {name} to {day.isoformat()}")
        return name

    def add_drafted_item(self, day: date, fields: dict[str, str], body: str, by: Author, *,
                         free: Callable[[bytes], bool], limit: int) -> str:
        """Write a drafted item (``draft --from``) into the first free slot: an item file that ``free`` says
        is still untouched (replaced, renamed after the title), else a new file after the last, up to
        ``limit`` items. Returns its file name.

        :raises UsageError: when the issue has ``limit`` items already, none of them free.
        """
        values = {key: _clean(value, key) for key, value in fields.items() if value}
        text = _clean(body, "text", multiline=True, limit=MAX_BODY)
        with self._writing(day) as folder:
            paths = self._item_paths(folder)
            stub = next((p for p in paths if free(_read(p) or b"")), None)
            if stub is None and len(paths) >= limit:
                raise UsageError(N_("the issue of %(day)s has %(count)d items already, none of them free"),
                                 values={"day": day.isoformat(), "count": len(paths)},
                                 hint="remove an item, or raise [newsletter] items_per_issue")
            numbers = [int(m.group(1)) for p in paths if (m := ITEM_NAME.match(p.name))]
            taken = ITEM_NAME.match(stub.name) if stub is not None else None
            number = int(taken.group(1)) if taken else max(numbers, default=0) + 1
            name = f"{number:02d}-{slug(values.get('title', ''))}.md"
            if (folder / name).exists() and (stub is None or stub.name != name):
                raise StaleEditError(name, N_("%(file)s appeared meanwhile; reload the page"))
            atomic_write(folder / name, f"---\n{_yaml(values)}---\n{text}\n".encode())
            if stub is not None and stub.name != name:
                stub.unlink()
        self._after(day, name, by, f"Draft {name} in {day.isoformat()}")
        return name

    def remove_item(self, day: date, name: str, version: str, by: Author) -> str:
        """Remove an item (only as it was shown: ``version``) and renumber the others.

        The file is kept aside for a day (``state/desk-removed/``) so that :meth:`restore_item` can put it back.

        :return: the token that restores it.
        """
        with self._writing(day) as folder:
            path = self._item_path(day, name)
            data = _read(path)
            if version_of(data) != version or data is None:
                raise StaleEditError(name, N_("%(file)s changed since the page was loaded; nothing was removed"))
            token = secrets.token_hex(8)
            aside = self._removed(day)
            aside.mkdir(parents=True, exist_ok=True)
            atomic_write(aside / f"{token}-{name}", data)
            now = time.time()  # the time it was set aside by the clock _removed reads, not the file system's
            os.utime(aside / f"{token}-{name}", (now, now))
            path.unlink()
            self._renumber(folder)
        self._after(day, name, by, f"Remove {name} from {day.isoformat()}")
        return token

    def removed(self, day: date, token: str) -> str | None:
        """The title of the item removed with ``token`` (its file name when it has none), while it can
        still be restored; else None."""
        found = self._removed_file(day, token)
        if found is None:
            return None
        try:
            parts = _split(read_inside(found.parent, found.name).decode("utf-8-sig"))
            title = _scalars(parts[0]).get("title", "") if parts else ""
        except (OSError, ValueError, UnicodeDecodeError):
            title = ""
        return title or found.name[len(token) + 1:]

    def restore_item(self, day: date, token: str, by: Author) -> str:
        """Put back the item removed with ``token``, at the place it had (the others renumbered around it).

        :return: its file name now.
        :raises UsageError: when there is nothing to restore (restored already, or kept aside too long).
        """
        with self._writing(day) as folder:
            found = self._removed_file(day, token)
            if found is None:
                raise UsageError(N_("this item can no longer be restored"), hint="add it again")
            name = found.name[len(token) + 1:]
            match = ITEM_NAME.match(name)
            assert match is not None  # kept aside under the name it had
            paths = self._item_paths(folder)
            place = min(max(int(match.group(1)) - 1, 0), len(paths))
            back = folder / f"999-{name.split('-', 1)[1]}"  # a number no item has: renumbered below
            atomic_write(back, read_inside(found.parent, found.name))
            moves = self._renumber(folder, [*paths[:place], back, *paths[place:]])
            found.unlink()
        self._after(day, moves[back.name], by, f"Restore {name} in {day.isoformat()}")
        return moves[back.name]

    def _removed(self, day: date) -> Path:
        """Where removed items wait a day for an undo (the older ones are deleted)."""
        aside = self.settings.root / "state" / "desk-removed" / day.isoformat()
        if aside.is_dir():
            oldest = time.time() - KEEP_REMOVED
            for path in aside.iterdir():
                if path.is_file() and path.stat().st_mtime < oldest:
                    path.unlink(missing_ok=True)
        return aside

    def _removed_file(self, day: date, token: str) -> Path | None:
        if not re.fullmatch(r"[0-9a-f]{16}", token):
            return None
        aside = self._removed(day)
        found = sorted(aside.glob(f"{token}-*.md")) if aside.is_dir() else []
        return found[0] if found and ITEM_NAME.match(found[0].name[len(token) + 1:]) else None

    def move_item(self, day: date, name: str, offset: int, by: Author) -> str:
        """Move an item up (-1) or down (+1); the files are renamed to follow. Returns its new name."""
        with self._writing(day) as folder:
            self._item_path(day, name)
            paths = self._item_paths(folder)
            names = [p.name for p in paths]
            index = names.index(name)
            target = index + offset
            if not 0 <= target < len(paths):
                return name
            paths[index], paths[target] = paths[target], paths[index]
            new_names = self._renumber(folder, paths)
        self._after(day, name, by, f"Move {name} in {day.isoformat()}")
        return new_names[name]

    def add_image(self, day: date, filename: str, data: bytes, by: Author) -> str:
        """Save an uploaded image into ``images/`` under a safe name; returns its path for ``image:``.

        :raises UsageError: for a file that is not a PNG, JPEG or GIF, or too large.
        """
        limit = self.settings.desk.max_image_bytes
        if len(data) > limit:
            raise UsageError(N_("the image is %(size)d KB; the limit is %(limit)d KB"),
                             values={"size": len(data) // 1024, "limit": limit // 1024},
                             hint="resize it (600 px wide is enough for an email)")
        from newsletter.content.publication import IMAGE_KINDS, sniff

        sniffed = sniff(data)  # the bytes decide, never the name or the browser's type
        if sniffed is None:
            raise NotAnImageError(N_("the file is not a PNG, JPEG or GIF image"), hint="export it as PNG or JPEG")
        kind = IMAGE_KINDS[sniffed][1]
        stem = slug(Path(filename).stem) if filename else "image"
        with self._writing(day) as folder:
            images = folder / "images"
            images.mkdir(exist_ok=True)
            name, n = f"{stem}.{kind}", 1
            while (images / name).exists():
                n += 1
                name = f"{stem}-{n}.{kind}"
            atomic_write(images / name, data)
        self._after(day, f"images/{name}", by, f"Add images/{name} to {day.isoformat()}")
        return f"images/{name}"

    def attach_image(self, day: date, name: str, filename: str, data: bytes, alt: str, version: str,
                     by: Author) -> str:
        """Save an uploaded image and make it the image of item ``name``, with its alt text.

        :return: the image's path in the issue (``images/….png``).
        :raises UsageError: without alt text, or for a file that is not an image or too large.
        :raises StaleEditError: when the item changed since ``version`` (nothing is written then).
        """
        alt = _clean(alt, "image_alt")
        if not alt:
            raise UsageError(N_("an image needs a description (alt text) for readers who do not see it"),
                             hint="describe what the image shows in one sentence")
        item = self._item(self._item_path(day, name))
        if item is None or item.version != version:
            raise StaleEditError(name, N_("%(file)s was changed by someone else since you opened it; "
                                          "your save was refused and nothing was overwritten"))
        relative = self.add_image(day, filename, data, by)
        self.save_item(day, name, {**item.fields, "image": relative, "image_alt": alt}, item.body, version, by)
        return relative

    def committed(self, day: date, by: Author, message: str) -> None:
        """Commit the issue folder as it is now (``[desk] git_commit``), e.g. after an approval."""
        self._commit(day, by, message)

    # -- the parts --------------------------------------------------------------------------------

    def _folder(self, day: date, *, hint: str = "create it first") -> Path:
        """The issue folder, when it exists and neither is nor holds a symbolic link.

        :raises IssueNotFoundError: when it does not exist.
        :raises LinkedFolderError: naming the links.
        """
        folder = self.folder(day)
        found = links(folder)
        if found:
            raise LinkedFolderError(folder, found)
        if not folder.is_dir():
            raise IssueNotFoundError(f"no issue for {day.isoformat()}: {folder} does not exist", hint=hint)
        return folder

    @contextmanager
    def _writing(self, day: date) -> Iterator[Path]:
        """The issue folder, locked (:func:`newsletter.core.atomic.locked`) and checked for links under the lock:
        no write of this block lands where a link points."""
        with locked(self._folder(day)):
            yield self._folder(day)

    def _item_path(self, day: date, name: str) -> Path:
        folder = self._folder(day)
        if not ITEM_NAME.match(name) or "/" in name or "\\" in name or name.startswith(".") \
                or re.search(r"[\x00-\x1f\x7f]", name) or len(name.encode()) > MAX_NAME:
            raise NotAnItemError(N_("%(name)s is not an item file name"), values={"name": Quoted(name[:60])})
        path = folder / name
        if not path.is_file():
            raise StaleEditError(name, N_("%(file)s no longer exists (renamed or removed meanwhile); nothing was saved"))
        return path

    def _replace(self, day: date, path: Path, version: str, compose: Callable[[bytes | None], bytes],
                 by: Author, message: str) -> str:
        """Check the version, write and commit under the folder's lock (:func:`newsletter.core.atomic.locked`):
        a write by another process (the CLI, a second desk) lands before the check or after the commit."""
        with self._writing(day):
            old = _read(path)
            if version_of(old) != version:
                raise StaleEditError(path.name, N_("%(file)s was changed by someone else since you opened it; "
                                                   "your save was refused and nothing was overwritten"))
            data = compose(old)
            atomic_write(path, data)
            self._after(day, path.name, by, message)
        return version_of(data)

    def _renumber(self, folder: Path, order: list[Path] | None = None) -> dict[str, str]:
        """Give the item files the numbers 01, 02… in ``order`` (two renames each: no name collides)."""
        paths = order if order is not None else self._item_paths(folder)
        width = max(2, len(str(len(paths))))
        moves: dict[str, str] = {}
        staged: list[tuple[Path, Path]] = []
        for n, path in enumerate(paths, start=1):
            rest = ITEM_NAME.match(path.name) and path.name.split("-", 1)[1]
            target = folder / f"{n:0{width}d}-{rest}"
            moves[path.name] = target.name
            if target != path:
                tmp = folder / f".renumber-{n}-{path.name}"
                os.replace(path, tmp)
                staged.append((tmp, target))
        for tmp, target in staged:
            os.replace(tmp, target)
        return moves

    def _after(self, day: date, file: str, by: Author, message: str) -> None:
        if self._record is not None:
            self._record(day, file, by.name)
        self._commit(day, by, message)

    def _commit(self, day: date, by: Author, message: str) -> None:
        if not self.settings.desk.git_commit:
            return
        root = self.settings.root
        folder = self.folder(day).relative_to(root).as_posix()
        env = {**os.environ, "GIT_AUTHOR_NAME": by.name, "GIT_AUTHOR_EMAIL": by.email or f"{by.name}@desk.invalid",
               "GIT_COMMITTER_NAME": "newsletter desk", "GIT_COMMITTER_EMAIL": "desk@newsletter.invalid"}

        def git(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(["git", "-C", str(root), *args], env=env, capture_output=True, text=True,
                                  timeout=30, check=False)

        if git("rev-parse", "--is-inside-work-tree").returncode != 0:
            return
        git("add", "-A", "--", folder)
        if git("diff", "--cached", "--quiet", "--", folder).returncode == 0:
            return  # nothing changed
        done = git("commit", "--quiet", "-m", message, "--", folder)
        if done.returncode != 0:
            raise ContentError(N_("the change was saved but git refused the commit: %(reason)s"),
                               values={"reason": done.stderr.strip()[:300]},
                               hint="run `git status` in the project folder")

    # -- preview --------------------------------------------------------------------------------

    def preview(self, day: date, *, asset_base: str, gettext: Callable[[str], str] | None = None,
                labels: Mapping[str, str] | None = None) -> PreviewResult:
        """The email as the example recipient gets it, with ``check``'s problems placed on their fields
        and said in the language of ``gettext`` (the desk's), each field named by its label in ``labels``
        (field key → label) rather than its key in the file."""
        from newsletter.services.check import check_issue
        from newsletter.render.sample import sample_values

        self._folder(day)
        report = check_issue(self.settings, day, asset_base=asset_base)
        placed = [self._place(problem, gettext or (lambda message: message), labels) for problem in report.problems]
        if report.rendered is None:
            return PreviewResult("", "", "", placed, error="the email could not be rendered")
        html, text = report.rendered.personalize(sample_values(self.settings))
        return PreviewResult(html, text, report.rendered.subject, placed)

    def image(self, day: date, relative: str) -> tuple[bytes, str] | None:
        """An image of the issue (never a link or anything outside ``images/``): bytes and media type."""
        from newsletter.content.publication import read_image

        try:
            found = read_image(self._folder(day), relative)
        except (UnsafeFileError, IssueNotFoundError, LinkedFolderError):
            return None
        return found.data, found.media_type

    def _place(self, problem: Problem, gettext: Callable[[str], str], labels: Mapping[str, str] | None) -> Placed:
        folder = problem.path
        location, text = problem.location(self.settings.root), problem.text(gettext, labels)
        try:
            relative = problem.path.relative_to(self.settings.issues_dir)
        except ValueError:
            return Placed(problem, "", "", location, text)
        parts = relative.parts
        file = "/".join(parts[1:]) if len(parts) > 1 else ""
        field = problem.field
        if not field and file and problem.line and folder.is_file():
            field = _field_at(folder, problem.line)  # a problem of the file's syntax: the key on its line
        from newsletter.content.spelling import misspelling  # (not loaded by a send, which checks no spelling)

        found = misspelling(problem)
        if found is not None:
            return Placed(problem, file, field, location, text, found.word, found.suggestions)
        return Placed(problem, file, field, location, text)


def _field_at(path: Path, line: int) -> str:
    """The field whose text holds ``line`` of ``path`` ("body" past an item's front matter)."""
    try:
        lines = read_inside(path.parent, path.name).decode("utf-8-sig").replace("\r\n", "\n").split("\n")
    except (OSError, UnicodeDecodeError):
        return ""
    in_front = path.suffix.lower() == ".md"
    closed_at = None
    if in_front:
        for i in range(1, len(lines)):
            if lines[i].rstrip() in ("---", "..."):
                closed_at = i + 1
                break
        if closed_at is not None and line > closed_at:
            return "body"
    key = ""
    for number, content in enumerate(lines[:line], start=1):
        found = re.match(r"([A-Za-z_]+)\s*:", content)
        if found and not content.startswith((" ", "\t")):
            key = found.group(1)
    return key if key in (*ITEM_FIELDS, *ISSUE_FIELDS) else ""

