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
from newsletter.frontends.desk.words import ngettext, said
from newsletter.frontends.desk.words import date_in_words, moment_in_words, spoken
from newsletter.frontends.hardening import FRAMED_EMAIL_POLICY
from newsletter.errors import ContentError, IssueNotFoundError, NewsletterError, UsageError
from newsletter.library import NOTE_CHARS, IssueId

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


def merge_fields(names: tuple[str, ...]) -> list[dict[str, str]]:
    """The fields an editor may insert in a text, in words, each with the fallback the menu suggests."""
    said = {"first_name": _("the reader’s first name"), "last_name": _("the reader’s last name"),
            "email": _("the reader’s address")}
    return [{"name": name, "said": said.get(name, name), "fallback": _("reader") if name == "first_name" else ""}
            for name in names]


def beside(problems: list[Any]) -> dict[str, list[Any]]:
    """The problems of each field, by the id of its input: the page shows them under it."""
    found: dict[str, list[Any]] = {}
    for placed in problems:
        if placed.file and placed.field:
            found.setdefault(anchor(placed.file, placed.field), []).append(placed)
    return found


def misspelled(problems: list[Any]) -> dict[str, dict[str, list[str]]]:
    """The unknown words of each field and their suggestions, by the id of its input: the page underlines them."""
    found: dict[str, dict[str, list[str]]] = {}
    for placed in problems:
        if placed.misspelled and placed.file and placed.field:
            found.setdefault(anchor(placed.file, placed.field), {})[placed.misspelled] = list(placed.suggestions)
    return found


def marked(text: str, words: dict[str, list[str]]) -> list[tuple[str, bool]]:
    """The lines of ``text`` that hold one of the unknown ``words``, cut into parts, each with whether it is one of
    them (a whole word: no letter or digit on either side); a run of other lines is one "…". For the copy of a
    field that underlines them (desk.js cuts it the same way as the editor types)."""
    if not words:
        return []
    pattern = re.compile(r"(?<![^\W_])(?:" + "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))
                         + r")(?![^\W_])")
    parts: list[tuple[str, bool]] = []
    for line in text.split("\n"):
        found = list(pattern.finditer(line))
        if not found and parts and parts[-1] == ("…", False):
            continue
        if parts:
            parts.append(("\n", False))
        if not found:
            parts.append(("…", False))
            continue
        at = 0
        for match in found:
            if match.start() > at:
                parts.append((line[at:match.start()], False))
            parts.append((match.group(0), True))
            at = match.end()
        if at < len(line):
            parts.append((line[at:], False))
    return parts


#: The check's sentence for an issue with too few items, which the desk answers with its own button.
TOO_FEW_ITEMS = "an issue has %(expected)d items; this one has %(count)d (add the missing ones, e.g. with `newsletter new`)"


def _missing_items(preview: Any) -> int:
    """How many items the check finds missing (0 when the issue has them all)."""
    for placed in preview.problems:
        if placed.problem.template == TOO_FEW_ITEMS:
            return int(placed.problem.values["expected"]) - int(placed.problem.values["count"])
    return 0


def link_in_words(report: Any) -> str:
    """A link's state as the page says it: works, dead (and why, in words), leads elsewhere, not checked yet."""
    if report.state == "unchecked":
        return _("Not checked yet")
    if report.state == "moved":
        return _("Leads to another site: %(url)s", url=report.final_url)
    if report.state == "ok":
        return _("Works")
    if report.failure:
        reasons = {"dns": _("the site cannot be found (DNS)"), "timeout": _("no answer in time (timeout)"),
                   "unreachable": _("the server does not answer"), "tls": _("the secure connection failed"),
                   "loop": _("too many redirects"), "too large": _("the answer is too large"),
                   "refused": _("a private network address, not fetched")}
        return _("Dead: %(reason)s", reason=reasons.get(report.failure, _("the answer broke off")))
    if report.status == 404:
        return _("Dead: the page is not found (%(status)s)", status=report.status)
    if report.status == 410:
        return _("Dead: the page was removed (%(status)s)", status=report.status)
    return _("Dead: server error (%(status)s)", status=report.status)


def _link_place(report: Any, draft: Any) -> str:
    """Where a link is, in the words of the page (« Info 3 », « Introduction »)."""
    numbers = {item.name: n for n, item in enumerate(draft.items, start=1)}
    name = report.link.path.name
    return _("Item %(number)s", number=numbers[name]) if name in numbers else _("Introduction")


def _edit_page(day: date, *, status: int = 200, kept: dict[str, Any] | None = None,
               draft_url: str = "") -> tuple[str, int]:
    nl = newsletter()
    try:
        draft = nl.issues.read(day)
        preview = nl.issues.preview(day, asset_base=asset_base(day.isoformat()),
                                    gettext=spoken().translations.gettext, labels=field_labels())
    except IssueNotFoundError:
        abort(404)
    except nl.issues.Linked as err:
        return _linked(err)
    approval = nl.approval(day)
    links = nl.links(day)  # the states kept in the store: the page makes no request
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
        beside=beside(preview.problems), misspelled=misspelled(preview.problems), marked=marked,
        approved_on=moment_in_words(approved.astimezone(nl.settings.tz)) if approved else approval.approved_at,
        removed={"token": token, "title": removed_name} if removed_name else None,
        merge_fields=merge_fields(nl.issues.MERGE_FIELDS), missing_items=_missing_items(preview), too_few=TOO_FEW_ITEMS,
        require_approval=nl.settings.schedule.require_approval,
        approve_blocked=_changed_it(day, account.name), send=nl.status(day),
        sent_on=moment_in_words(sent_at.astimezone(nl.settings.tz)) if sent_at else "",
        corrections=nl.corrections.of(day, spoken()) if sent_at else [], tz=nl.settings.tz, note_chars=NOTE_CHARS,
        correction_mail=_correction_mail,
        links=links, link_in_words=link_in_words, draft_url=draft_url, link_place=lambda report: _link_place(report, draft),
        siblings=_same_day(day),
    ), status


def _same_day(day: date) -> list[date]:
    """The other issues of ``day``'s date that have a folder: the daily one, then the special editions by slug."""
    issues = newsletter().issues
    return [other for other in (IssueId(day), *issues.editions(day)) if other != day and issues.exists(other)]


def _correction_mail(correction: Any) -> str:
    """How far a correction's mail went, in the desk's words."""
    counts = correction.mail_counts
    return ngettext("Readers told: %(num)d.", "Readers told: %(num)d.", counts.get("sent", 0)) + (
        " " + _("Not finished: publish the same correction again to go on.")
        if any(counts.get(s) for s in ("pending", "queued", "sending")) else "")


@bp.route("/new", methods=["POST"])
@requires("write")
def create() -> Reply:
    day = parse_day(request.form.get("day", ""))
    nl = newsletter()
    if nl.issues.exists(day):
        flash(_("The issue of %(day)s exists already.", day=date_in_words(day, nl.today())), "info")
    else:
        nl.issues.create(day, _author())
        flash(_("Issue of %(day)s created: write its items.", day=date_in_words(day, nl.today())), "ok")
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
    flash(_("Not saved: %(reason)s", reason=said(err, field_labels())), "error")
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
        flash(_("Not saved: %(reason)s", reason=said(err, field_labels())), "error")
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


@bp.route("/<day>/draft", methods=["POST"])
@requires("write")
def draft_from_link(day: str) -> Any:
    """« Add from a link »: the next free item drafted from the page's metadata (``newsletter draft --from``),
    then shown to edit. A link that cannot be used is said on the page (400), with the address kept in the
    form, and nothing is written."""
    when, nl = parse_day(day), newsletter()
    url = request.form.get("url", "").strip()
    if not url:
        flash(_("Give the address of the article."), "error")
        return _edit_page(when, status=400)
    try:
        drafted = nl.draft(when, urls=[url], by=_author())
    except IssueNotFoundError:
        abort(404)
    except NewsletterError as err:
        hint = err.hint_text(spoken().translations.gettext)
        flash(_("Nothing was added: %(reason)s", reason=said(err)) + (f" ({hint})" if hint else ""), "error")
        return _edit_page(when, status=400, draft_url=url)
    name = drafted.files[0]
    flash(_("Item drafted from the link: check it and rewrite its text in your own words."), "ok")
    if drafted.notes:
        flash(_("The page's image could not be used; add one by hand."), "info")
    return redirect(url_for("issues.edit", day=day) + "#" + anchor(name, ""))


@bp.route("/<day>/links", methods=["POST"])
@requires("write")
def check_links(day: str) -> Reply:
    """« Check the links »: every link not checked within a day fetched now (as ``check --links`` does); the
    page then shows each one's state."""
    when, nl = parse_day(day), newsletter()
    try:
        reports = nl.links(when, fetch=True)
    except IssueNotFoundError:
        abort(404)
    dead = sum(report.state == "dead" for report in reports)
    if dead:
        flash(ngettext("%(num)d dead link: fix it or remove it.", "%(num)d dead links: fix them or remove them.",
                       dead), "error")
    else:
        flash(_("The links are checked."), "ok")
    return redirect(url_for("issues.edit", day=day) + "#links")


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


@bp.route("/<day>/correct/confirm", methods=["POST"])
@requires("approve")
def confirm_correction(day: str) -> str | Reply:
    """What publishing the files as a correction of the sent issue will do (the changes, the readers told),
    and the form that does it."""
    when, nl = parse_day(day), newsletter()
    note, mail = request.form.get("note", ""), request.form.get("mail") == "1"
    try:
        note = nl.corrections.clean_note(note)
    except NewsletterError as err:
        flash(said(err), "error")
        return redirect(url_for("issues.edit", day=day) + "#corrections")
    plan = nl.corrections.plan(when, mail=mail)
    if plan.refusal is not None:
        flash(_("The issue does not pass the check: fix the problems listed, then correct it.")
              if isinstance(plan.refusal, ContentError) else said(plan.refusal), "error")
        return redirect(url_for("issues.edit", day=day) + "#corrections")
    return render_template("desk/correct.html", issue=when, note=note, mail=mail, plan=plan,
                           today=nl.clock().astimezone(nl.settings.tz).date())


@bp.route("/<day>/correct", methods=["POST"])
@requires("approve")
def correct(day: str) -> Reply:
    """Publish the files as the corrected version of the sent issue (and tell its readers)."""
    when, nl = parse_day(day), newsletter()
    try:
        outcome = nl.corrections.publish(when, request.form.get("note", ""), mail=request.form.get("mail") == "1",
                                         by=_author().name)
    except ContentError:
        flash(_("The issue does not pass the check: fix the problems listed, then correct it."), "error")
        return redirect(url_for("issues.edit", day=day) + "#corrections")
    except NewsletterError as err:
        flash(said(err), "error")
        return redirect(url_for("issues.edit", day=day) + "#corrections")
    message = _("Correction %(number)d published.", number=outcome.correction.number)
    if outcome.mail is not None:
        message += " " + _correction_mail(outcome.correction)
    flash(message, "ok")
    return redirect(url_for("issues.edit", day=day) + "#corrections")


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
