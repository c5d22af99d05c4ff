"""The desk's home: each day's state as the readiness gate and the scheduler's record give it."""

from __future__ import annotations

import re
import shutil
from datetime import timedelta
from pathlib import Path
from typing import Callable

import pytest
from flask.testing import FlaskClient

from newsletter import Newsletter
from newsletter.store.models import DayClaimState
from tests.conftest import DAY
from tests.helpers.desk import Clock


def states(page: str) -> dict[str, str]:
    """The state badge of each day the home page lists, by the day's link or form (ISO date)."""
    found = {}
    for block in re.findall(r'<li class="day[^"]*">(.*?)</li>', page, re.S):
        state = re.search(r'data-state="([^"]+)"', block)
        day = re.search(r"(\d{4}-\d{2}-\d{2})", block)
        assert state and day, block
        found[day.group(1)] = state.group(1)
    return found


@pytest.mark.parametrize(("arrange", "expected"), [
    ("nothing", "waiting approval"),
    ("approve", "approved"),
    ("approve then edit", "stale"),
    ("break an item", "failing"),
    ("remove the folder", "missing"),
])
def test_a_coming_day_shows_the_state_the_gate_computes(nl: Newsletter, issue_dir: Path,
                                                        signed_in: Callable[[str], FlaskClient], arrange: str,
                                                        expected: str) -> None:
    if arrange.startswith("approve"):
        nl.approve(DAY, by="Alex")
    if arrange.endswith("edit"):
        (issue_dir / "02-mobile.md").write_text((issue_dir / "02-mobile.md").read_text(encoding="utf-8") + "\nPlus.\n",
                                                encoding="utf-8")
    if arrange == "break an item":
        (issue_dir / "01-bots.md").write_text("no front matter\n", encoding="utf-8")
    if arrange == "remove the folder":
        shutil.rmtree(issue_dir)
    page = signed_in("editor").get("/").get_data(as_text=True)
    assert states(page)[DAY.isoformat()] == expected


def test_a_day_the_scheduler_skipped_shows_as_skipped_once_its_due_time_has_passed(
        nl: Newsletter, clock: Clock, signed_in: Callable[[str], FlaskClient]) -> None:
    clock.now += timedelta(days=1, hours=5)  # Tuesday 24, 17:00 in Paris: 07:00 and its grace period are over
    nl.schedule_ops.record_day(DAY, DayClaimState.SKIPPED, clock.now, reason="waiting approval: not approved")
    client = signed_in("editor")
    page = client.get("/").get_data(as_text=True)
    assert states(page)[DAY.isoformat()] == "skipped"
    assert "sauté" in re.search(r'data-state="skipped">([^<]*)<', page).group(1)  # type: ignore[union-attr]
