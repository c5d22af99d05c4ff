"""The words of the operator alerts, in the newsletter's language, each with the command that fixes the cause.

The sentences come from the gettext catalogs (:mod:`newsletter.core.i18n`): French for a ``fr_*``
``[newsletter] locale`` (the default), English for ``en_*`` and for any locale without a catalog.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from newsletter.config import Settings
from newsletter.core.i18n import Words, words


@dataclass(frozen=True)
class AlertText:
    """One alert: the key that makes it once per day (``kind`` and the gate's state), subject, body."""

    key: str
    subject: str
    body: str


def _words(settings: Settings) -> Words:
    return words(settings.newsletter.locale)


def _state(w: Words, state: str) -> str:
    """A gate state as the body of an alert says it."""
    texts = {"missing": w.gettext("its folder does not exist"), "failing": w.gettext("the check fails"),
             "waiting approval": w.gettext("it is not approved"), "ready": w.gettext("ready"),
             "sent": w.gettext("already sent"),
             "paused": w.gettext("the send paused itself on too many hard bounces")}
    return texts.get(state, state)


def _label(w: Words, state: str) -> str:
    """A gate state as the subject of an alert names it."""
    labels = {"missing": w.pgettext("gate state", "missing"), "failing": w.pgettext("gate state", "failing"),
              "waiting approval": w.pgettext("gate state", "waiting approval"),
              "ready": w.pgettext("gate state", "ready"), "sent": w.pgettext("gate state", "sent"),
              "paused": w.pgettext("gate state", "paused")}
    return labels.get(state, state)


def fix_for(settings: Settings, state: str, day: date) -> str:
    """The command that removes the cause of a gate state (and what to do around it)."""
    w, d = _words(settings), day.isoformat()
    if state == "missing":
        return w.gettext("`newsletter new %(date)s`, then write the items, `newsletter check %(date)s` and "
                         "`newsletter approve %(date)s`", date=d)
    if state == "failing":
        return w.gettext("`newsletter check %(date)s`: fix each error it reports, then `newsletter approve %(date)s`",
                         date=d)
    if state == "waiting approval":
        return w.gettext('review the issue, then `newsletter approve %(date)s --by "YOUR NAME"`', date=d)
    return f"`newsletter send {d}`"


def _when(settings: Settings, moment: datetime) -> str:
    local = moment.astimezone(settings.schedule_tz)
    return f"{_words(settings).moment(local)} ({settings.schedule_tz.key})"


def _details_and_fix(settings: Settings, state: str, reason: str, day: date) -> str:
    w = _words(settings)
    return (w.gettext("Details: %(reason)s", reason=reason) + "\n\n"
            + w.gettext("To fix it: %(fix)s", fix=fix_for(settings, state, day)))


def not_ready(settings: Settings, day: date, state: str, reason: str, due: datetime, deadline: datetime) -> AlertText:
    """The gate fails at the due time; it is tried again until ``deadline``."""
    w = _words(settings)
    return AlertText(
        f"not_ready:{state}", w.gettext("the issue of %(day)s is not ready (%(state)s)", day=w.day(day),
                                        state=_label(w, state)),
        w.gettext("The issue due at %(due)s is not ready: %(state)s.", due=_when(settings, due),
                  state=_state(w, state)) + "\n"
        + _details_and_fix(settings, state, reason, day) + "\n\n"
        + w.ngettext("It is tried again every minute until %(deadline)s.",
                     "It is tried again every %(num)d minutes until %(deadline)s.",
                     settings.schedule.retry_minutes, deadline=_when(settings, deadline)))


def not_sent(settings: Settings, day: date, why: str) -> AlertText:
    """The day's issue will not go out on schedule (gate still failing at the deadline, or missed while down)."""
    w = _words(settings)
    return AlertText("not_sent", w.gettext("the issue of %(day)s was NOT sent", day=w.day(day)),
                     f"{why}\n\n" + w.gettext("To send it anyway once it is ready: `newsletter send %(date)s` "
                                              "(`newsletter status %(date)s` says where it stands).",
                                              date=day.isoformat()))


def gate_gave_up(settings: Settings, day: date, state: str, reason: str, due: datetime, deadline: datetime) -> str:
    """Why an issue is not sent when the grace period ends with the gate still failing."""
    w = _words(settings)
    return "\n".join([
        w.gettext("The issue due at %(due)s was not sent: %(state)s.", due=_when(settings, due),
                  state=_state(w, state)),
        w.gettext("Details: %(reason)s", reason=reason),
        w.gettext("The grace period ended at %(deadline)s.", deadline=_when(settings, deadline)),
        w.gettext("To fix it: %(fix)s", fix=fix_for(settings, state, day))])


def missed(settings: Settings, scheduled: datetime) -> str:
    """Why an issue is not sent when the scheduler was down at its due time."""
    return _words(settings).ngettext(
        "The scheduler was not running at %(when)s and the %(num)d-minute grace period has passed; it never "
        "sends an issue by surprise after a downtime.",
        "The scheduler was not running at %(when)s and the %(num)d-minute grace period has passed; it never "
        "sends an issue by surprise after a downtime.",
        settings.schedule.grace_minutes, when=_when(settings, scheduled))


def send_failed(settings: Settings, day: date, error: str, hint: str) -> AlertText:
    """The send itself failed (transport, configuration); it is tried again within the grace period."""
    w = _words(settings)
    return AlertText(f"send_failed:{error[:150]}", w.gettext("the issue of %(day)s could not be sent", day=w.day(day)),
                     w.gettext("Error: %(error)s", error=error) + "\n"
                     + (w.gettext("Hint: %(hint)s", hint=hint) + "\n" if hint else "")
                     + "\n" + w.gettext("Once the cause is fixed, `newsletter send %(date)s` resumes the send where "
                                        "it stopped, with no double sends.", date=day.isoformat()))


def early_warning(settings: Settings, day: date, state: str, reason: str, due: datetime) -> AlertText:
    """Some time before the due time, the gate fails: there is still time to fix it."""
    w = _words(settings)
    return AlertText(f"early:{state}", w.gettext("the issue of %(day)s is not ready yet (%(state)s)", day=w.day(day),
                                                 state=_label(w, state)),
                     w.gettext("It is due at %(due)s.", due=_when(settings, due)) + "\n"
                     + _details_and_fix(settings, state, reason, day))


def dead_links(settings: Settings, day: date, problems: list[str]) -> AlertText:
    """Links of the issue about to be sent are dead (``problems``: each ``file:line: sentence``); it goes out
    anyway: a dead link is for a person to judge, not a reason to hold the day's issue."""
    w = _words(settings)
    return AlertText("dead_links", w.ngettext("the issue of %(day)s has %(num)d dead link",
                                              "the issue of %(day)s has %(num)d dead links", len(problems),
                                              day=w.day(day)),
                     "\n".join(problems) + "\n\n"
                     + w.gettext("The issue is sent all the same. `newsletter check %(date)s --links` lists its "
                                 "dead links again once they are fixed.", date=day.isoformat()))


def _percent(w: Words, value: float) -> str:
    """A rate as this language writes it, one decimal (French: « 5,0 % »)."""
    from babel.numbers import format_percent

    pattern = w.locale.percent_formats[None].pattern.replace("#,##0", "#,##0.0", 1)  # the language's own spacing
    return format_percent(value, pattern, locale=w.locale)


def send_paused(settings: Settings, day: date, pause_id: int, *, bounces: int, messages: int,
                pending: int) -> AlertText:
    """The send paused itself on too many hard bounces; it waits for an operator to resume it."""
    w = _words(settings)
    limit = settings.delivery.max_bounce_rate
    return AlertText(
        f"paused:{pause_id}", w.gettext("the send of %(day)s paused itself: too many hard bounces", day=w.day(day)),
        w.gettext("The send of the issue of %(day)s paused itself: %(bounces)d hard bounces among the last "
                  "%(messages)d messages (%(rate)s), above [delivery] max_bounce_rate (%(limit)s).",
                  day=w.day(day), bounces=bounces, messages=messages, rate=_percent(w, bounces / max(1, messages)),
                  limit=_percent(w, limit)) + "\n"
        + w.ngettext("%(num)d recipient is waiting; nobody is lost and nobody will get the issue twice.",
                     "%(num)d recipients are waiting; nobody is lost and nobody will get the issue twice.",
                     pending) + "\n\n"
        + w.gettext("Mailbox providers throttle or block senders who keep mailing addresses that do not exist. "
                    "Check where the list came from (the wrong file imported?) and remove the dead addresses; "
                    "`newsletter status %(date)s` shows the figures.", date=day.isoformat()) + "\n\n"
        + w.gettext("To resume: `newsletter send %(date)s` (the scheduler does not resume a paused send on its "
                    "own).", date=day.isoformat()))


def _issue_day(w: Words, text: str) -> str:
    """An issue's date as a chat sentence says it (« lundi 7 décembre »); the text itself when it is no date."""
    from babel.dates import format_date

    try:
        return format_date(date.fromisoformat(text), w.gettext("EEEE d MMMM"), locale=w.locale)  # the desk's words
    except ValueError:
        return text


def _count(w: Words, value: object) -> str:
    from babel.numbers import format_decimal

    return format_decimal(value if isinstance(value, int) else 0, locale=w.locale)


def chat_text(settings: Settings, event_type: str, data: dict[str, object]) -> str:
    """The sentence a chat hook posts for an outbox event (:data:`~newsletter.config.CHAT_EVENTS`).

    :param data: the event's ``data``, as the signed hooks receive it.
    """
    w = _words(settings)
    day = _issue_day(w, str(data.get("issue", "")))
    if event_type == "send.paused":
        bounces = data.get("bounces")
        return w.ngettext("The send of %(day)s paused itself: %(bounces)s hard bounce among the last %(messages)s "
                          "messages. To resume: `newsletter send %(date)s`.",
                          "The send of %(day)s paused itself: %(bounces)s hard bounces among the last %(messages)s "
                          "messages. To resume: `newsletter send %(date)s`.", bounces if isinstance(bounces, int) else 0,
                          day=day, bounces=_count(w, bounces), messages=_count(w, data.get("messages")),
                          date=data.get("issue", ""))
    counts = data.get("counts")
    counts = counts if isinstance(counts, dict) else {}
    sent = counts.get("sent", 0)
    return w.ngettext("The send of %(day)s is finished: %(sent)s sent, %(failed)s failed.",
                      "The send of %(day)s is finished: %(sent)s sent, %(failed)s failed.",
                      sent if isinstance(sent, int) else 0, day=day, sent=_count(w, sent),
                      failed=_count(w, counts.get("failed", 0)))


def chat_test_text(settings: Settings) -> str:
    """The sentence of the desk's « test message » button."""
    return _words(settings).gettext("Test message from %(name)s: the send notices will arrive here.",
                                    name=settings.newsletter.name)
