"""The operators' schedule page: the rules, the coming due times, and a one-off send handed to the scheduler."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from flask.testing import FlaskClient

from newsletter import Newsletter
from tests.conftest import DAY, SECRET
from tests.helpers.config import set_options
from tests.helpers.desk import csrf_token
from tests.helpers.french import typeset


def test_the_schedule_page_lists_the_rules_and_the_coming_days(signed_in: Callable[[str], FlaskClient]) -> None:
    page = signed_in("operator").get("/schedule/").get_data(as_text=True)
    assert "<code>0 7 * * mon-fri</code> (Europe/Paris)" in page and "exigée" in page
    assert "demain · 7 h 00" in page and "Aucun." in page  # the clock: Monday 23


def test_a_one_off_send_is_stored_for_the_scheduler(signed_in: Callable[[str], FlaskClient], nl: Newsletter) -> None:
    client = signed_in("operator")
    response = client.post("/schedule/once", data={"day": DAY.isoformat(), "at": "2026-11-24T09:30",
                                                   "csrf_token": csrf_token(client, "/schedule/")})
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "sera envoyé le 24/11/2026 à 09:30" in page
    once = nl.schedule_view().once
    assert len(once) == 1 and once[0][1] is not None and once[0][1].isoformat() == "2026-11-24T09:30:00+01:00"


def test_a_one_off_send_in_the_past_is_refused(signed_in: Callable[[str], FlaskClient], nl: Newsletter) -> None:
    client = signed_in("operator")
    response = client.post("/schedule/once", data={"day": DAY.isoformat(), "at": "2026-11-20T09:30",
                                                   "csrf_token": csrf_token(client, "/schedule/")})
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert typeset("Non programmé : --at 2026-11-20 09:30 : cette heure est passée") in page  # all in French
    assert "is in the past" not in page
    assert nl.schedule_view().once == []


def test_the_calendar_names_a_public_holiday_and_the_home_page_leaves_it_out(project: Path) -> None:
    from newsletter.frontends.desk.app import create_app
    from tests.helpers.desk import PASSWORD, Clock, sign_in

    set_options(project, "schedule", skip_holidays="FR")
    with Newsletter.open(project, environ={"NEWSLETTER_SECRET_KEY": SECRET},
                         clock=Clock(datetime(2026, 12, 23, 12, 0, tzinfo=timezone.utc))) as nl:
        nl.users.add("operator", "operator", PASSWORD, email="operator@example.org")
        client = create_app(nl, SECRET).test_client()
        sign_in(client, "operator")
        page = client.get("/schedule/").get_data(as_text=True)
        assert typeset("jour férié : Noël (pas d’envoi)") in page and "vendredi 25 décembre · 7 h 00" in page
        home = client.get("/").get_data(as_text=True)
        assert "demain" in home and "25 décembre" not in home
