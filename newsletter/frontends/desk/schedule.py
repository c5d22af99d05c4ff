"""The operators' schedule page: the cron and its rules, the coming due times, and one-off sends."""

from __future__ import annotations

from datetime import date, datetime

from flask import Blueprint, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as Reply

from newsletter.frontends.desk.access import newsletter, requires
from newsletter.frontends.desk.home import desk_state
from newsletter.frontends.desk.words import gettext as _
from newsletter.frontends.desk.words import said
from newsletter.frontends.desk.words import spoken
from newsletter.errors import NewsletterError

bp = Blueprint("schedule", __name__, url_prefix="/schedule")

#: How many due times the page lists.
COMING = 14


@bp.route("/")
@requires("operate")
def index() -> str:
    nl = newsletter()
    view = nl.schedule_view(COMING)
    states = [(run.at, desk_state(run.readiness.state, nl.approval(run.readiness.day).state
                                  if nl.issues.exists(run.readiness.day) else "missing"), run.holiday)
              for run in view.upcoming]
    running, last_seen = nl.schedulers()
    return render_template("desk/schedule.html", view=view, states=states, running=running,
                           last_seen=last_seen.astimezone(nl.settings.tz) if last_seen else None,
                           tomorrow=nl.today().isoformat())


@bp.route("/once", methods=["POST"])
@requires("operate")
def once() -> Reply:
    """Have the running scheduler send one issue once, at a given time of the schedule's zone."""
    nl = newsletter()
    try:
        day = date.fromisoformat(request.form.get("day", ""))
        at = datetime.fromisoformat(request.form.get("at", "").replace("T", " "))
    except ValueError:
        flash(_("Give the issue's date and the time to send it."), "error")
        return redirect(url_for("schedule.index"))
    if at.tzinfo is None:
        at = at.replace(tzinfo=nl.settings.schedule_tz)
    try:
        nl.schedule_once(at, day)
    except NewsletterError as err:
        flash(_("Not scheduled: %(reason)s", reason=said(err)), "error")
    else:
        flash(_("The issue of %(day)s will be sent at %(when)s by the running scheduler (if the gate lets it).",
                day=spoken().day(day), when=spoken().moment(at)), "ok")
    return redirect(url_for("schedule.index"))
