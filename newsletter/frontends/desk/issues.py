"""One issue on the desk: its fields and items in forms, the preview beside them, approval and test copies.

Every save sends back the version of the file the form showed; a save based on an outdated
version is refused (409) and the editor's text is shown again, with nothing overwritten. An issue
folder that is or holds a symbolic link is refused (409) with the links named, and nothing of it
is shown.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for

from werkzeug.wrappers import Response as Reply

from newsletter.frontends.desk.access import current_account, newsletter, requires
from newsletter.frontends.desk.words import gettext as _
from newsletter.frontends.desk.words import said
from newsletter.frontends.desk.words import moment_in_words, spoken
from newsletter.frontends.hardening import FRAMED_EMAIL_POLICY
from newsletter.errors import IssueNotFoundError, NewsletterError, UsageError
from newsletter.library import IssueId

bp = Blueprint("issues", __name__, url_prefix="/issues")

#: The policy of the email shown in the preview frames: its own styles and images, never a script.
EMAIL_CSP = FRAMED_EMAIL_POLICY


def parse_day(text: str) -> date:
    try:
        return IssueId.parse(text)
    except UsageError:
        abort(404)


def anchor(file: str, field: str) -> str:
    """The id of a field's input on the page (``issue-subject``, ``item-02-paiement-md-title``)."""
    base = "issue" if file in ("", "issue.yaml") else "item-" + file
    return re.sub(r"[^A-Za-z0-9_-]+", "-", f"{base}-{field}" if field else base)


def asset_base(day: str) -> str:
    """Where the preview finds the issue's images (``/issues/DATE/assets/``)."""
    return url_for("issues.edit", day=day) + "/assets/"


def _author() -> Any:
    account = current_account()
    assert account is not None  # access.enforce let only signed-in accounts through
    return account


def _linked(err: NewsletterError) -> tuple[str, int]:
    """The page refusing an issue folder that is or holds a symbolic link, naming the links."""
    return render_template("desk/message.html", status=409, message=said(err)), 409


def field_labels() -> dict[str, str]:
    """The labels of the page's inputs, by field (what a problem on that field is said to concern)."""
    return {"subject": _("Subject"), "preheader": _("Preview text (preheader)"), "intro": _("Introduction"),
            "title": _("Title"), "source": _("Source"), "url": _("Link"), "tag": _("Tag"), "image": _("Image"),
            "image_alt": _("Image description (alt text)"), "body": _("Text")}


def where(placed: Any, draft: Any) -> str:
    """Where a problem is, in the words of the page (« Info 2 · Titre »), not a file and line."""
    label = field_labels().get(placed.field, "")
    if placed.file in ("", "issue.yaml"):
        return label or _("The issue")
    numbers = {item.name: n for n, item in enumerate(draft.items, start=1)}
    if placed.file not in numbers:
        return placed.file
    part = _("Item %(number)s", number=numbers[placed.file])
    return f"{part} · {label}" if label else part


#: The check's sentence for an issue with too few items, which the desk answers with its own button.
TOO_FEW_ITEMS = "an issue has %(expected)d items; this one has %(count)d (add the missing ones, e.g. with `newsletter new`)"


def _missing_items(preview: Any) -> int:
    """How many items the check finds missing (0 when the issue has them all)."""
    for placed in preview.problems:
        if placed.problem.template == TOO_FEW_ITEMS:
            return int(placed.problem.values["expected"]) - int(placed.problem.values["count"])
    return 0


def _edit_page(day: date, *, status: int = 200, kept: dict[str, Any] | None = None) -> tuple[str, int]:
    nl = newsletter()
    try:
        draft = nl.issues.read(day)
        preview = nl.issues.preview(day, asset_base=asset_base(day.isoformat()),
                                    gettext=spoken().translations.gettext)
    except IssueNotFoundError:
        abort(404)
    except nl.issues.Linked as err:
        return _linked(err)
    approval = nl.approval(day)
    content = nl.settings.content
    account = _author()
    sent_at = nl.sent_at(day)
    approved = approval.approved_time
    token = request.args.get("removed", "")
    removed_name = nl.issues.removed(day, token) if token else None
    return render_template(
        "desk/issue.html", draft=draft, preview=preview, approval=approval, kept=kept or {},
        max_words=content.max_words, max_title=content.max_title_chars, anchor=anchor,
        max_subject=nl.issues.SUBJECT_MAX, max_preheader=nl.issues.PREHEADER_MAX, where=lambda placed: where(placed, draft),
        approved_on=moment_in_words(approved.astimezone(nl.settings.tz)) if approved else approval.approved_at,
        removed={"token": token, "title": removed_name} if removed_name else None,
        first_name_field='{{ first_name | default("%s") }}' % _("reader"), missing_items=_missing_items(preview), too_few=TOO_FEW_ITEMS,
        require_approval=nl.settings.schedule.require_approval,
        approve_blocked=_changed_it(day, account.name), send=nl.status(day),
        sent_on=spoken().moment(sent_at.astimezone(nl.settings.tz)) if sent_at else "",
    ), status


@bp.route("/new", methods=["POST"])
@requires("write")
def create() -> Reply:
    day = parse_day(request.form.get("day", ""))
    nl = newsletter()
    if nl.issues.exists(day):
        flash(_("The issue of %(day)s exists already.", day=spoken().day(day)), "info")
    else:
        nl.issues.create(day, _author())
        flash(_("Issue of %(day)s created: write its items.", day=spoken().day(day)), "ok")
    return redirect(url_for("issues.edit", day=day.isoformat()))


@bp.route("/<day>")
@requires("read")
def edit(day: str) -> tuple[str, int]:
    return _edit_page(parse_day(day))


def _stale(day: date, kept: dict[str, Any], file: str) -> tuple[str, int]:
    flash(_("%(file)s was changed by someone else since you opened it: your save was refused and nothing was "
            "overwritten. Your text is still in the form below; reload the page to see the current version.",
            file=file), "error")
    return _edit_page(day, status=409, kept=kept)


def _refused(day: date, err: NewsletterError) -> Reply:
    if isinstance(err, newsletter().issues.NotAnItem):
        abort(404)  # the address names no item: nothing there to save
    flash(_("Not saved: %(reason)s", reason=said(err)), "error")
    return redirect(url_for("issues.edit", day=day.isoformat()))


ITEM_INPUTS = ("title", "source", "url", "image", "image_alt", "tag")


@bp.route("/<day>/save", methods=["POST"])
@requires("write")
def save(day: str) -> Any:
    """Save the whole page (subject, preheader, intro and every item) at once: nothing typed is dropped.

    A refusal (a file changed by someone else: 409; a value that cannot be saved: 400) shows the page
    again with everything the editor typed, and writes nothing."""
    when, nl = parse_day(day), newsletter()
    fields = {key: request.form.get(key, "") for key in ("subject", "preheader", "intro")}
    items = {name: ({key: request.form.get(f"{name}:{key}", "") for key in ITEM_INPUTS},
                    request.form.get(f"{name}:body", ""), request.form.get(f"{name}:version", ""))
             for name in dict.fromkeys(request.form.getlist("item"))}
    kept: dict[str, Any] = {"issue.yaml": fields,
                            **{name: {**values, "body": body} for name, (values, body, _) in items.items()}}
    try:
        written = nl.issues.save_issue(when, fields, request.form.get("version", ""), items, _author())
    except nl.issues.Stale as err:
        return _stale(when, kept, err.path)
    except NewsletterError as err:
        if isinstance(err, nl.issues.NotAnItem):
            abort(404)
        flash(_("Not saved: %(reason)s", reason=said(err)), "error")
        return _edit_page(when, status=400, kept=kept)
    flash(_("Saved.") if written else _("Nothing changed since the last save."), "ok")
    return redirect(url_for("issues.edit", day=day) + (request.form.get("at", "")[:80] if
                                                        request.form.get("at", "").startswith("#") else ""))


@bp.route("/<day>/items", methods=["POST"])
@requires("write")
def add_item(day: str) -> Reply:
    when, nl = parse_day(day), newsletter()
    try:
        name = nl.issues.add_item(when, _author())
    except NewsletterError as err:
        return _refused(when, err)
    return redirect(url_for("issues.edit", day=day) + "#" + anchor(name, ""))


@bp.route("/<day>/items/<name>/remove", methods=["POST"])
@requires("write")
def remove_item(day: str, name: str) -> Any:
    """Remove an item; the page then offers to put it back (for a day)."""
    when, nl = parse_day(day), newsletter()
    try:
        token = nl.issues.remove_item(when, name, request.form.get("version", ""), _author())
    except nl.issues.Stale:
        return _stale(when, {}, name)
    except NewsletterError as err:
        return _refused(when, err)
    return redirect(url_for("issues.edit", day=day, removed=token))


@bp.route("/<day>/restore", methods=["POST"])
@requires("write")
def restore_item(day: str) -> Any:
    """Undo a removal: the item back in its place."""
    when, nl = parse_day(day), newsletter()
    try:
        name = nl.issues.restore_item(when, request.form.get("token", ""), _author())
    except NewsletterError as err:
        return _refused(when, err)
    flash(_("The item is back in its place."), "ok")
    return redirect(url_for("issues.edit", day=day) + "#" + anchor(name, ""))


@bp.route("/<day>/items/<name>/move", methods=["POST"])
@requires("write")
def move_item(day: str, name: str) -> Any:
    when, nl = parse_day(day), newsletter()
    offset = -1 if request.form.get("direction") == "up" else 1
    try:
        moved = nl.issues.move_item(when, name, offset, _author())
    except nl.issues.Stale:
        return _stale(when, {}, name)
    except NewsletterError as err:
        return _refused(when, err)
    return redirect(url_for("issues.edit", day=day) + "#" + anchor(moved, ""))


@bp.route("/<day>/preview.html")
@requires("read")
def preview_html(day: str) -> Any:
    return _preview(day, "html")


@bp.route("/<day>/preview.txt")
@requires("read")
def preview_text(day: str) -> Any:
    return _preview(day, "text")


def _preview(day: str, part: str) -> Any:
    """The issue's HTML or plain-text part as the preview renders it, framed by the desk only."""
    nl = newsletter()
    try:
        result = nl.issues.preview(parse_day(day), asset_base=asset_base(day))
    except nl.issues.Linked as err:
        return _linked(err)
    response = Response(getattr(result, part) or "", mimetype="text/html" if part == "html" else "text/plain")
    response.headers["Content-Security-Policy"] = EMAIL_CSP
    response.headers["X-Frame-Options"] = "SAMEORIGIN"
    return response


@bp.route("/<day>/assets/<path:relative>")
@requires("read")
def asset(day: str, relative: str) -> Response:
    found = newsletter().issues.image(parse_day(day), relative)
    if found is None:
        abort(404)
    data, media_type = found
    return Response(data, mimetype=media_type)


def _changed_it(day: date, name: str) -> bool:
    """Whether ``[desk] require_separate_approver`` keeps ``name`` from approving: they saved a file of the
    issue since its last approval (any time, without one). The approval file says when; the store, who saved.
    Its time is to the second, so a save in the second of the approval counts as after it."""
    nl = newsletter()
    if not nl.settings.desk.require_separate_approver:
        return False
    return name in nl.users.editors(day, since=nl.approval(day).approved_time)


@bp.route("/<day>/approve", methods=["POST"])
@requires("approve")
def approve(day: str) -> Reply:
    """Approve the issue as it is now (``[desk] require_separate_approver``: by none of those who changed it
    since its last approval)."""
    when, nl = parse_day(day), newsletter()
    account = _author()
    if _changed_it(when, account.name):
        flash(_("You changed this issue since its last approval: another approver must approve it "
                "([desk] require_separate_approver)."), "error")
        return redirect(url_for("issues.edit", day=day))
    try:
        nl.approve(when, by=account.name)
    except IssueNotFoundError:
        abort(404)
    except NewsletterError:
        flash(_("The issue does not pass the check: fix the problems listed, then approve it."), "error")
        return redirect(url_for("issues.edit", day=day))
    nl.issues.committed(when, account, f"Approve the issue of {when.isoformat()}")
    flash(_("Approved. Any later change makes the approval stale."), "ok")
    return redirect(url_for("issues.edit", day=day) + "#approval")


@bp.route("/<day>/test", methods=["POST"])
@requires("write")
def send_test(day: str) -> Reply:
    """Send a test copy of the issue to the signed-in account's own address."""
    when, nl = parse_day(day), newsletter()
    account = _author()
    if not account.email:
        flash(_("Your account has no address; an operator can give it one with `newsletter users add`."), "error")
        return redirect(url_for("issues.edit", day=day))
    try:
        copies = nl.send_test([account.email], when)
    except NewsletterError:
        flash(_("The test copy could not be made: fix the problems listed first."), "error")
        return redirect(url_for("issues.edit", day=day))
    if all(copy.ok for copy in copies):
        flash(_("A test copy went to %(address)s.", address=account.email), "ok")
    else:
        flash(_("The test copy to %(address)s failed: %(reason)s", address=account.email,
                reason="; ".join(copy.error for copy in copies if not copy.ok)), "error")
    return redirect(url_for("issues.edit", day=day) + "#approval")


@bp.route("/<day>/items/<name>/image", methods=["POST"])
@requires("write")
def upload_image(day: str, name: str) -> Any:
    """Upload an image into the issue's ``images/`` and make it the item's image, with its alt text."""
    when, nl = parse_day(day), newsletter()
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        flash(_("Choose an image file first."), "error")
        return redirect(url_for("issues.edit", day=day) + "#" + anchor(name, "upload"))
    alt = request.form.get("alt", "")
    if not alt.strip():
        flash(_("Describe the image (alt text): readers who do not see it need the description."), "error")
        return redirect(url_for("issues.edit", day=day) + "#" + anchor(name, "upload"))
    data = upload.read(nl.settings.desk.max_image_bytes + 1)
    if len(data) > nl.settings.desk.max_image_bytes:
        flash(_("The image is larger than %(size)s KB; make it smaller (600 pixels wide is enough).",
                size=nl.settings.desk.max_image_bytes // 1024), "error")
        return redirect(url_for("issues.edit", day=day) + "#" + anchor(name, "upload"))
    try:
        relative = nl.issues.attach_image(when, name, upload.filename, data, alt, request.form.get("version", ""),
                                          _author())
    except nl.issues.Stale:
        return _stale(when, {}, name)
    except nl.issues.NotAnImage:
        flash(_("This file is not a PNG, JPEG or GIF image."), "error")
        return redirect(url_for("issues.edit", day=day) + "#" + anchor(name, "upload"))
    except NewsletterError as err:
        return _refused(when, err)
    flash(_("Image %(file)s added to the item.", file=relative), "ok")
    return redirect(url_for("issues.edit", day=day) + "#" + anchor(name, ""))
