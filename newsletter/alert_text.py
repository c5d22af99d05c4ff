"""The words of the operator alerts, in the newsletter's language, each with the command that fixes the cause.

French is the newsletter's default language (``[newsletter] locale = "fr_FR"``); English is
used for any other locale, until a translation for it is written here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from newsletter.config import Settings


@dataclass(frozen=True)
class AlertText:
    """One alert: the key that makes it once per day (``kind`` and the gate's state), subject, body."""

    key: str
    subject: str
    body: str


_STATES = {
    "fr": {"missing": "le dossier du numéro n'existe pas", "failing": "la vérification échoue",
           "waiting approval": "il n'est pas approuvé", "ready": "prêt", "sent": "déjà envoyé"},
    "en": {"missing": "its folder does not exist", "failing": "the check fails",
           "waiting approval": "it is not approved", "ready": "ready", "sent": "already sent"},
}


def _language(settings: Settings) -> str:
    return "fr" if settings.newsletter.language == "fr" else "en"


def fix_for(settings: Settings, state: str, day: date) -> str:
    """The command that removes the cause of a gate state (and what to do around it)."""
    d = day.isoformat()
    fr = _language(settings) == "fr"
    if state == "missing":
        return (f"`newsletter new {d}`, puis rédigez les brèves, `newsletter check {d}` et `newsletter approve {d}`"
                if fr else f"`newsletter new {d}`, then write the items, `newsletter check {d}` and "
                           f"`newsletter approve {d}`")
    if state == "failing":
        return (f"`newsletter check {d}` : corrigez chaque erreur signalée, puis `newsletter approve {d}`"
                if fr else f"`newsletter check {d}`: fix each error it reports, then `newsletter approve {d}`")
    if state == "waiting approval":
        return (f"relisez le numéro puis `newsletter approve {d} --by \"VOTRE NOM\"`"
                if fr else f"review the issue, then `newsletter approve {d} --by \"YOUR NAME\"`")
    return f"`newsletter send {d}`"


def _when(settings: Settings, moment: datetime) -> str:
    local = moment.astimezone(settings.schedule_tz)
    if _language(settings) == "fr":
        return f"{local:%d/%m/%Y à %H:%M} ({settings.schedule_tz.key})"
    return f"{local:%Y-%m-%d %H:%M} ({settings.schedule_tz.key})"


def not_ready(settings: Settings, day: date, state: str, reason: str, due: datetime, deadline: datetime) -> AlertText:
    """The gate fails at the due time; it is tried again until ``deadline``."""
    every = settings.schedule.retry_minutes
    if _language(settings) == "fr":
        return AlertText(
            f"not_ready:{state}", f"le numéro du {day:%d/%m/%Y} n'est pas prêt ({_STATES['fr'].get(state, state)})",
            f"Le numéro prévu le {_when(settings, due)} n'est pas prêt : {_STATES['fr'].get(state, state)}.\n"
            f"Détail : {reason}\n\nPour corriger : {fix_for(settings, state, day)}\n\n"
            f"Il est retenté toutes les {every} minutes jusqu'au {_when(settings, deadline)}.")
    return AlertText(
        f"not_ready:{state}", f"the issue of {day} is not ready ({state})",
        f"The issue due at {_when(settings, due)} is not ready: {_STATES['en'].get(state, state)}.\n"
        f"Details: {reason}\n\nTo fix it: {fix_for(settings, state, day)}\n\n"
        f"It is tried again every {every} minutes until {_when(settings, deadline)}.")


def not_sent(settings: Settings, day: date, why: str) -> AlertText:
    """The day's issue will not go out on schedule (gate still failing at the deadline, or missed while down)."""
    d = day.isoformat()
    if _language(settings) == "fr":
        return AlertText("not_sent", f"le numéro du {day:%d/%m/%Y} n'a PAS été envoyé",
                         f"{why}\n\nPour l'envoyer quand même, une fois prêt : `newsletter send {d}` "
                         f"(`newsletter status {d}` dit où il en est).")
    return AlertText("not_sent", f"the issue of {day} was NOT sent",
                     f"{why}\n\nTo send it anyway once it is ready: `newsletter send {d}` "
                     f"(`newsletter status {d}` says where it stands).")


def gate_gave_up(settings: Settings, day: date, state: str, reason: str, due: datetime, deadline: datetime) -> str:
    """Why an issue is not sent when the grace period ends with the gate still failing."""
    if _language(settings) == "fr":
        return (f"Le numéro prévu le {_when(settings, due)} n'a pas été envoyé : "
                f"{_STATES['fr'].get(state, state)}.\nDétail : {reason}\n"
                f"Le délai de grâce a pris fin le {_when(settings, deadline)}.\n"
                f"Pour corriger : {fix_for(settings, state, day)}")
    return (f"The issue due at {_when(settings, due)} was not sent: {_STATES['en'].get(state, state)}.\n"
            f"Details: {reason}\nThe grace period ended at {_when(settings, deadline)}.\n"
            f"To fix it: {fix_for(settings, state, day)}")


def missed(settings: Settings, scheduled: datetime) -> str:
    """Why an issue is not sent when the scheduler was down at its due time."""
    grace = settings.schedule.grace_minutes
    if _language(settings) == "fr":
        return (f"Le planificateur ne tournait pas le {_when(settings, scheduled)} et le délai de grâce de "
                f"{grace} minutes est passé ; il n'envoie jamais un numéro par surprise après une panne.")
    return (f"The scheduler was not running at {_when(settings, scheduled)} and the {grace}-minute grace "
            "period has passed; it never sends an issue by surprise after a downtime.")


def send_failed(settings: Settings, day: date, error: str, hint: str) -> AlertText:
    """The send itself failed (transport, configuration); it is tried again within the grace period."""
    d = day.isoformat()
    if _language(settings) == "fr":
        return AlertText(f"send_failed:{error[:150]}", f"l'envoi du numéro du {day:%d/%m/%Y} a échoué",
                         f"Erreur : {error}\n" + (f"Piste : {hint}\n" if hint else "")
                         + f"\nUne fois la cause corrigée : `newsletter send {d}` reprend l'envoi là où il "
                           "s'est arrêté, sans doublon.")
    return AlertText(f"send_failed:{error[:150]}", f"the issue of {day} could not be sent",
                     f"Error: {error}\n" + (f"Hint: {hint}\n" if hint else "")
                     + f"\nOnce the cause is fixed, `newsletter send {d}` resumes the send where it stopped, "
                       "with no double sends.")


def early_warning(settings: Settings, day: date, state: str, reason: str, due: datetime) -> AlertText:
    """Some time before the due time, the gate fails: there is still time to fix it."""
    if _language(settings) == "fr":
        return AlertText(f"early:{state}", f"le numéro du {day:%d/%m/%Y} n'est pas encore prêt "
                                           f"({_STATES['fr'].get(state, state)})",
                         f"Il part le {_when(settings, due)}.\nDétail : {reason}\n\n"
                         f"Pour corriger : {fix_for(settings, state, day)}")
    return AlertText(f"early:{state}", f"the issue of {day} is not ready yet ({state})",
                     f"It is due at {_when(settings, due)}.\nDetails: {reason}\n\n"
                     f"To fix it: {fix_for(settings, state, day)}")
