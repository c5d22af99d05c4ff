"""The operators' lever on a sent issue: resend the recipients left uncertain, after a confirmation page
that says how many and what it risks (the same as ``newsletter send DATE --resend-uncertain``)."""

from __future__ import annotations

from datetime import date

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as Reply

from newsletter.frontends.desk.access import current_account, newsletter, requires
from newsletter.frontends.desk.words import gettext as _
from newsletter.frontends.desk.words import ngettext, said, spoken
from newsletter.errors import NewsletterError, SendBusyError, UsageError
from newsletter.library import IssueId

bp = Blueprint("sends", __name__, url_prefix="/sends")


def _issue_day(day: str) -> date:
    try:
        return IssueId.parse(day)
    except UsageError:
        abort(404)


def _refused(err: NewsletterError) -> None:
    if isinstance(err, SendBusyError):  # its details (hosts, lease) are for the command line
        flash(_("Another run is sending this issue now; nothing was resent. Try again once it ends."), "error")
    else:
        flash(_("Not resent: %(reason)s", reason=said(err)), "error")


@bp.route("/<day>/resend")
@requires("operate")
def confirm(day: str) -> str | Reply:
    """How many recipients are uncertain, the first of them, and what resending risks; the form that does it."""
    nl = newsletter()
    when = _issue_day(day)
    try:
        plan = nl.resend_plan(when)
    except NewsletterError as err:
        _refused(err)
        return redirect(url_for("home.index"))
    if plan.uncertain == 0:
        flash(_("Nothing to resend: no recipient of this issue is uncertain."), "info")
        return redirect(url_for("home.index"))
    return render_template("desk/resend.html", issue=when, count=plan.uncertain, rows=nl.status(when).uncertain)


@bp.route("/<day>/resend", methods=["POST"])
@requires("operate")
def resend(day: str) -> Reply:
    """Resend, if the number of uncertain recipients is still the one the operator confirmed."""
    nl = newsletter()
    when = _issue_day(day)
    try:
        plan = nl.resend_plan(when)
        if plan.uncertain == 0:
            flash(_("Nothing to resend: no recipient of this issue is uncertain."), "info")
            return redirect(url_for("home.index"))
        if str(plan.uncertain) != request.form.get("count"):
            flash(_("The number of uncertain recipients changed since the page was shown; check it again."), "error")
            return redirect(url_for("sends.confirm", day=when.isoformat()))
        account = current_account()
        done = nl.resend_uncertain(when, by=account.name if account else None)
    except NewsletterError as err:
        _refused(err)
        return redirect(url_for("home.index"))
    report = done.report
    counts = ", ".join((ngettext("%(num)d sent", "%(num)d sent", report.counts.get("sent", 0)),
                        ngettext("%(num)d failed", "%(num)d failed", report.counts.get("failed", 0)),
                        ngettext("%(num)d uncertain", "%(num)d uncertain", report.counts.get("uncertain", 0))))
    flash(ngettext("The issue of %(day)s was sent again to %(num)d uncertain recipient; it now counts %(counts)s.",
                   "The issue of %(day)s was sent again to %(num)d uncertain recipients; it now counts %(counts)s.",
                   done.rows, day=spoken().day(when), counts=counts), "ok")
    return redirect(url_for("home.index"))
