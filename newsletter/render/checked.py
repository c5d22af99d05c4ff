"""The render of an issue that passed the check, kept under the digest of everything it was made from.

``newsletter approve`` checks and renders the issue; the send of the same inputs starts from that
render instead of making it again, so that its start is a lookup: it loads neither jinja2 nor MJML
nor premailer, and renders nothing. A send that finds none renders and keeps its own, which the next
run of the send (a resume) finds.

The key is the SHA-256 of the render's inputs: the issue's files as its approval digests them
(:func:`newsletter.content.approval.digests`), the templates (the project's and the built-in ones),
the brand's logo, ``newsletter.toml``, and newsletter's own code (its version, and the size and time
of every file of the package). Any change to one of them gives another key, and the send checks and
renders again, as it would without this. One file per issue under ``out/.checked/``, written
atomically; one that cannot be read or comes from another version is ignored (the send renders).
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Callable

from newsletter.config import CONFIG_FILE, Settings
from newsletter.content.approval import digests
from newsletter.content.load import issue_folder
from newsletter.content.publication import IMAGE_KINDS, Image
from newsletter.core.atomic import write_atomically
from newsletter.core.resources import default_templates_dir
from newsletter.core.version import VERSION as NEWSLETTER_VERSION
from newsletter.errors import NewsletterError
from newsletter.render import snapshot
from newsletter.render.rendered import PublicPage, RenderedIssue

log = logging.getLogger(__name__)

#: Bumped when the file's fields change: an older file is ignored.
VERSION = 1
FOLDER = ".checked"
PACKAGE = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Checked:
    """An issue that passed the check: its render (what every message is built from) and its public page."""

    rendered: RenderedIssue
    page: PublicPage


def _tree(folder: Path, *, contents: bool) -> list[str]:
    """Each file under ``folder`` (caches left out) with the SHA-256 of its bytes, or its size and time."""
    out: list[str] = []
    for top, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__" and not d.startswith("."))
        for name in sorted(files):
            path = os.path.join(top, name)
            try:
                if contents:
                    with open(path, "rb") as handle:
                        mark = hashlib.sha256(handle.read()).hexdigest()
                else:
                    info = os.stat(path)
                    mark = f"{info.st_size}:{info.st_mtime_ns}"
            except OSError as err:
                mark = f"unreadable {err.errno}"
            out.append(f"{os.path.relpath(path, folder)}={mark}")
    return out


def _file(path: Path) -> str:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError as err:
        return f"unreadable {err.errno}"


def inputs_digest(settings: Settings, day: date) -> str:
    """The SHA-256 naming everything the check and the render of ``day``'s issue read (see the module)."""
    brand = settings.brand
    logo = brand.logo if brand else ""
    parts = {
        "version": [str(VERSION), NEWSLETTER_VERSION, str(snapshot.VERSION)],
        "code": _tree(PACKAGE, contents=False),
        "day": [day.isoformat()],
        "config": [_file(settings.root / CONFIG_FILE)],
        "logo": [logo, _file(settings.root / logo) if logo else ""],
        "templates": _tree(settings.templates_dir, contents=True) + ["--"]
        + _tree(default_templates_dir(), contents=True),
        "issue": [f"{name}={value}" for name, value in digests(issue_folder(settings.issues_dir, day)).items()],
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def _path(settings: Settings, day: date, key: str) -> Path:
    return settings.out_dir / FOLDER / f"{day.isoformat()}-{key}.json"


def save(settings: Settings, day: date, key: str, checked: Checked, now: datetime) -> None:
    """Keep ``checked`` as the render of ``day``'s issue for the inputs ``key`` (the issue's older ones go).
    A folder that cannot be written costs only the lookup: the send renders, as without it."""
    page = checked.page
    body = {"version": VERSION, "key": key, "render": snapshot.freeze(checked.rendered, now).text,
            "page": {"subject": page.subject, "layout": page.layout, "digest": page.digest,
                     "images": [[i.relative, i.kind, base64.b64encode(i.data).decode()] for i in page.images]}}
    path = _path(settings, day, key)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(path, json.dumps(body, ensure_ascii=False).encode("utf-8"))
        for old in path.parent.glob(f"{day.isoformat()}-*.json"):
            if old != path and "-" not in old.stem[len(day.isoformat()) + 1:]:  # not an edition's of that day
                old.unlink(missing_ok=True)
    except OSError as err:
        log.warning("the checked render of %s could not be kept in %s (%s); the send renders it again",
                    day.isoformat(), path.parent, err.strerror)


def load(settings: Settings, day: date, key: str) -> Checked | None:
    """The render kept for the inputs ``key`` of ``day``'s issue, or None (none kept, or unreadable)."""
    path = _path(settings, day, key)
    try:
        body = json.loads(path.read_bytes())
        if body.get("version") != VERSION or body.get("key") != key:
            return None
        rendered, _ = snapshot.thaw(body["render"])  # the time it was checked: a send dates its messages itself
        page = body["page"]
        images = tuple(Image(relative, base64.b64decode(data), kind) for relative, kind, data in page["images"])
        if rendered.issue.date != day or any(i.kind not in IMAGE_KINDS for i in images):
            return None
        return Checked(rendered, PublicPage(page["subject"], page["layout"], page["digest"], images))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError, NewsletterError) as err:
        log.warning("the checked render %s cannot be read (%s); the send renders the issue again", path, err)
        return None


def keep(settings: Settings, day: date, key: str, rendered: RenderedIssue, page: Callable[[], PublicPage],
         now: datetime) -> Checked:
    """Keep the render of ``day``'s issue that passed the check, with its public page (``page()``), under ``key``:
    the inputs' digest taken before the check read them, and kept only when it is still theirs (a file that
    changed meanwhile may be in the render, and must not be filed under the old inputs)."""
    made = Checked(rendered, page())
    if inputs_digest(settings, day) == key:
        save(settings, day, key, made, now)
    return made
