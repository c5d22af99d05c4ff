"""The schedule's view of one day for `status`: when it calls for the operator, at any hour."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from newsletter.config import Settings
from newsletter.schedule.gate import day_state, due_time
from newsletter.store.database import Store

PARIS = ZoneInfo("Europe/Paris")
MISSING = date(2026, 11, 25)  # a Wednesday with no issue folder; due at 07:00 Paris time
DUE = datetime(2026, 11, 25, 7, 0, tzinfo=PARIS)


def test_the_due_time_of_a_day_comes_from_the_cron(settings: Settings) -> None:
    assert due_time(settings, MISSING) == DUE
    assert due_time(settings, date(2026, 11, 28)) is None  # a Saturday: "0 7 * * mon-fri"


@pytest.mark.parametrize(("offset", "attention"), [
    (timedelta(hours=-3), ""),  # before warn_minutes (60): nothing to say yet
    (timedelta(minutes=-59), "it is due at 2026-11-25 07:00 CET and is not ready (missing)"),
    (timedelta(minutes=30), "it is due at 2026-11-25 07:00 CET and is not ready (missing)"),
    (timedelta(hours=3), "it was due at 2026-11-25 07:00 CET and was not sent"),
])
def test_a_missing_issue_needs_attention_from_the_warning_on(settings: Settings, store: Store,
                                                            offset: timedelta, attention: str) -> None:
    state = day_state(settings, store, MISSING, DUE + offset)
    assert state.gate == "missing" and state.due == DUE and state.dispatch is None
    assert state.alarm == attention


def test_the_alarm_names_the_issues_state_in_the_readers_language(settings: Settings, store: Store) -> None:
    """`status` said « il est prévu le … et n’est pas prêt (missing) »: the state stayed the gate's English word."""
    from newsletter.core.i18n import words

    state = day_state(settings, store, MISSING, DUE - timedelta(minutes=30))
    assert state.alarm_said is not None
    said = state.alarm_said.text(words("fr_FR").translations.gettext)
    assert said.endswith("n’est pas prêt (absent)"), said
