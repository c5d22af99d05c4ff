"""The operators' subscriber pages: search, add, unsubscribe, export, and CSV import confirmed after a dry run.

An import is read twice: the uploaded file is kept under ``state/desk-imports/`` with a random
name, its dry-run summary is shown, and only the confirmation imports it (then the file goes).
The work of a request stays bounded: a file of more than :data:`MAX_ROWS` rows is refused with
a pointer to ``newsletter subscribers import``. A refusal names the file as uploaded, never its
path on the server, in a few hundred characters; the whole reason goes to the desk's log.
"""

from __future__ import annotations

import logging
import re
import secrets
import tempfile
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as Reply

from newsletter.frontends.desk.access import newsletter, requires
from newsletter.frontends.desk.words import gettext as _
from newsletter.frontends.desk.words import ngettext, said, spoken
from newsletter.errors import NewsletterError, ReaderNotFoundError

log = logging.getLogger(__name__)

bp = Blueprint("subscribers", __name__, url_prefix="/subscribers")

STATUSES = ("pending", "active", "unsubscribed", "bounced", "complained")
TOKEN = re.compile(r"[A-Za-z0-9_-]{20,40}")
SHOWN = 50
ABANDONED = 24 * 3600  # seconds an unconfirmed import file is kept
#: The most rows an upload may have: its dry run and its import each run inside a request (the dry
#: run of 90,000 rows took 14 s); larger files go through the command line, which holds up nobody.
MAX_ROWS = 10_000
SHOWN_REASON = 300  # characters of a refusal's reason shown (a reason can quote a whole line)


def _imports() -> Path:
    """Where uploaded CSV files wait for their confirmation (those left a day unconfirmed are deleted)."""
    nl = newsletter()
    folder = nl.settings.root / "state" / "desk-imports"
    folder.mkdir(parents=True, exist_ok=True)
    oldest = nl.clock().timestamp() - ABANDONED
    for path in folder.glob("*.csv"):
        if path.stat().st_mtime < oldest:
            path.unlink(missing_ok=True)
    return folder


@bp.route("/")
@requires("operate")
def index() -> str:
    nl = newsletter()
    search = request.args.get("q", "").strip()[:200]
    status = request.args.get("status", "")
    status = status if status in STATUSES else ""
    found = nl.subscribers.stream(status=status or None, search=search or None, limit=SHOWN)
    total = nl.subscribers.count(status=status or None, search=search or None)
    return render_template("desk/subscribers.html", found=list(found), total=total, shown=SHOWN, search=search,
                           status=status, statuses=STATUSES, counts=nl.subscribers.count_by_status(),
                           now=nl.clock())


@bp.route("/add", methods=["POST"])
@requires("operate")
def add() -> Reply:
    nl = newsletter()
    try:
        change = nl.subscribers.add(request.form.get("email", ""), first_name=request.form.get("first_name", ""),
                                    last_name=request.form.get("last_name", ""))
    except NewsletterError as err:
        flash(_("Not added: %(reason)s", reason=said(err)), "error")
    else:
        flash(_("%(address)s added.", address=change.record.email) if change.created
              else _("%(address)s updated.", address=change.record.email), "ok")
    return redirect(url_for("subscribers.index"))


@bp.route("/remove", methods=["POST"])
@requires("operate")
def remove() -> Reply:
    nl = newsletter()
    try:
        change = nl.subscribers.remove(request.form.get("email", ""))
    except NewsletterError as err:
        flash(_("Not unsubscribed: %(reason)s", reason=said(err)), "error")
    else:
        flash(_("%(address)s unsubscribed (the record stays, as proof).", address=change.record.email), "ok")
    return redirect(url_for("subscribers.index", q=request.form.get("q", "")))


@bp.route("/preferences", methods=["POST"])
@requires("operate")
def preferences() -> Reply:
    """Change a reader's frequency and pause, as their own preferences page would (a request by mail)."""
    nl = newsletter()
    email, pause = request.form.get("email", ""), request.form.get("pause", "")
    try:
        address = nl.subscribers.get(email)
        if address is None:
            raise ReaderNotFoundError(f"{email} is not in the subscriber list")
        nl.readers.set_frequency(address.email, request.form.get("frequency", ""))
        if pause == "0":
            nl.readers.resume(address.email)
        elif pause:
            nl.readers.pause(address.email, int(pause) if pause.isdigit() else -1)
    except NewsletterError as err:
        flash(_("Not updated: %(reason)s", reason=said(err)), "error")
    else:
        flash(_("%(address)s updated.", address=address.email), "ok")
    return redirect(url_for("subscribers.index", q=request.form.get("q", "")))


@bp.route("/export.csv")
@requires("operate")
def export() -> Response:
    nl = newsletter()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "subscribers.csv"
        nl.subscribers.export(path)
        data = path.read_bytes()
    response = Response(data, mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="subscribers-{nl.today().isoformat()}.csv"'
    return response


@bp.route("/import", methods=["POST"])
@requires("operate")
def upload() -> Any:
    """Keep the uploaded CSV and show what importing it would do."""
    nl = newsletter()
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        flash(_("Choose a CSV file first."), "error")
        return redirect(url_for("subscribers.index"))
    token = secrets.token_urlsafe(24)
    path = _imports() / f"{token}.csv"
    upload.save(path)
    filename = upload.filename[:100]
    if _rows(path) > MAX_ROWS:
        path.unlink(missing_ok=True)
        flash(_("%(file)s has more than %(rows)s lines: the desk imports at most that many at a time. Import it "
                "on the server with: newsletter subscribers import FILE", file=filename, rows=MAX_ROWS), "error")
        return redirect(url_for("subscribers.index"))
    try:
        summary = nl.subscribers.import_csv(path, dry_run=True, source=_source())
    except NewsletterError as err:
        path.unlink(missing_ok=True)
        flash(_("This file cannot be imported: %(reason)s", reason=_reason(err, path, filename)), "error")
        return redirect(url_for("subscribers.index"))
    return render_template("desk/import.html", summary=summary, token=token, source=_source(),
                           reason=lambda row: row.text(spoken().translations.gettext),
                           filename=filename)


def _rows(path: Path) -> int:
    """The rows of a CSV file after its header, counted as lines (a quoted line break counts too)."""
    lines, last = 0, b"\n"
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            lines, last = lines + chunk.count(b"\n"), chunk[-1:]
    return lines + (last != b"\n") - 1


def _reason(err: NewsletterError, path: Path, filename: str) -> str:
    """What the page says of a refused file: the file as uploaded, not its server path, and a short
    reason (it goes into the session cookie); the whole of it is logged."""
    log.warning("import of %r refused: %s", filename, err)
    reason = said(err).replace(str(path), filename)
    return reason if len(reason) <= SHOWN_REASON else reason[:SHOWN_REASON - 1] + "…"


def _source() -> str:
    return " ".join(request.form.get("source", "").split())[:100] or "desk import"


@bp.route("/import/confirm", methods=["POST"])
@requires("operate")
def confirm() -> Reply:
    nl = newsletter()
    token = request.form.get("token", "")
    path = _imports() / f"{token}.csv"
    if not TOKEN.fullmatch(token) or not path.is_file():
        flash(_("This import is no longer waiting; upload the file again."), "error")
        return redirect(url_for("subscribers.index"))
    try:
        if request.form.get("action") == "import":
            summary = nl.subscribers.import_csv(path, source=_source())
            counts = ", ".join((ngettext("%(num)d added", "%(num)d added", summary.added),
                                ngettext("%(num)d updated", "%(num)d updated", summary.updated),
                                ngettext("%(num)d rejected", "%(num)d rejected", summary.rejected)))
            flash(_("Imported: %(counts)s.", counts=counts), "ok")
        else:
            flash(_("Import cancelled; nothing changed."), "info")
    except NewsletterError as err:
        flash(_("This file cannot be imported: %(reason)s", reason=_reason(err, path, "CSV")), "error")
    finally:
        path.unlink(missing_ok=True)
    return redirect(url_for("subscribers.index"))
