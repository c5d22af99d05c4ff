"""Why a send stopped, paused or left a row unsent: the English templates the engine and the transports record,
and :func:`said_reason`, which reads a recorded reason back as its template, for a front end to say in its
reader's language.

The ledger, the pauses and the log keep a reason as English text (one line that reads the same in every
process, whatever its locale). :func:`said_reason` recognises the text of each template below and gives it back
as a :class:`~newsletter.core.i18n.Message`; what a mail server or a provider answered stays a value
(``%(answer)s``), said as it was written, and a reason no template knows is such an answer as a whole: a French
operator reads a French sentence quoting the server's own words (« 550 5.1.1 user unknown »), never an English one.
"""

from __future__ import annotations

from typing import Mapping

from newsletter.core.i18n import Message, Translatable, template_pattern
from newsletter.errors import N_

#: Why a run ended before its send did (``SendReport.stopped``).
STOP_REQUESTED = N_("stop requested")
LIMIT_REACHED = N_("--limit %(limit)s reached")
PAUSED = N_("paused: %(reason)s")
PAUSED_ELSEWHERE = N_("the send was paused by another run (too many hard bounces)")
LEASE_TAKEN = N_("its lease was taken over by another run")
LEASE_LATE = N_("its lease could not be renewed in time (store unreachable or process frozen)")
WORKERS_ENDED = N_("the workers ended with exit codes %(codes)s")
#: Why the bounce brake paused a send (``SendReport.paused``, the pauses ``status`` lists).
BOUNCE_BRAKE = N_("%(bounces)s hard bounces among the last %(messages)s messages (%(rate)s), above [delivery] "
                  "max_bounce_rate = %(limit)s (%(percent)s)")
#: The reasons written on ledger rows by the engine.
STOPPED_BEFORE_HANDOVER = N_("not sent yet: the run was stopped before handing it over; the next run sends it")
PAUSED_BEFORE_HANDOVER = N_("not sent yet: the send paused itself on too many hard bounces; `newsletter send` "
                            "resumes it")
TAKEN_FROM_A_DEAD_RUN = N_("taken back from a run that stopped renewing its lease")
#: ... and by the transports, around what the server answered.
CONNECTION_LOST = N_("connection lost: %(answer)s")
LOST_AFTER_SENDING = N_("the connection was lost after the message was sent: %(answer)s")
NOT_THROUGH_SMTP = N_("this recipient cannot be sent through SMTP: %(answer)s")
NOT_IN_OUTBOX = N_("not in the outbox: the run stopped before writing it")
#: An SMTP server's refusal, by the command it answered.
REFUSED_AT = {"MAIL FROM": N_("MAIL FROM: %(answer)s"), "RCPT TO": N_("RCPT TO: %(answer)s"),
              "DATA": N_("DATA: %(answer)s"), "end of DATA": N_("end of DATA: %(answer)s")}
#: What a server or a provider answered, quoted as it was said (a reason no template above knows).
# Translators: a mail server's or a provider's own words, quoted as they were written (French: « … »).
ANSWER = N_("%(answer)s")

_TEMPLATES = (STOP_REQUESTED, LIMIT_REACHED, PAUSED, PAUSED_ELSEWHERE, LEASE_TAKEN, LEASE_LATE, WORKERS_ENDED,
              BOUNCE_BRAKE, STOPPED_BEFORE_HANDOVER, PAUSED_BEFORE_HANDOVER, TAKEN_FROM_A_DEAD_RUN, CONNECTION_LOST,
              LOST_AFTER_SENDING, NOT_THROUGH_SMTP, NOT_IN_OUTBOX, *REFUSED_AT.values())
_PATTERNS = {template: template_pattern(template) for template in _TEMPLATES}
#: The values that are reasons themselves (said in turn), and the ones quoted as they were written.
_NESTED = frozenset({"reason"})
_QUOTED = frozenset({"answer"})


def said_reason(reason: str) -> Translatable:
    """``reason`` (a recorded English text) as its template and values, so that it can be said in another
    language; an unknown reason is a server's or a provider's answer, quoted as it was written."""
    for template in _TEMPLATES:
        found = _PATTERNS[template].fullmatch(reason)
        if found is not None:
            return Message(template, _values(found.groupdict()))
    return Message(ANSWER, {"answer": reason})


def _values(found: Mapping[str, str]) -> dict[str, object]:
    return {name: said_reason(value) if name in _NESTED else Message(ANSWER, {"answer": value}) if name in _QUOTED
            else value for name, value in found.items()}
