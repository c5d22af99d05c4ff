"""The stored jobs run on the scheduler that holds them, with no module-global runner: two schedulers in
one process (two newsletters, as a library user or the tests may run) each run their own jobs."""

from __future__ import annotations

import ast
import shutil
import threading
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from newsletter import Newsletter
from newsletter.frontends.scheduler import Scheduler
from newsletter.schedule.jobs import JOB_FUNCTION
from tests.conftest import DAY, REPO, SECRET

PATIENCE = 30.0


class Recording(Scheduler):
    """A scheduler that records the one-off jobs it is asked to run instead of sending."""

    def __init__(self, nl: Newsletter) -> None:
        super().__init__(nl)
        self.ran: list[date | None] = []
        self.done = threading.Event()

    def run(self, kind: str, day: date | None, due: datetime | None) -> str:
        if kind != "once":
            return "ignored"
        self.ran.append(day)
        self.done.set()
        return "recorded"


@pytest.mark.parametrize("function", [JOB_FUNCTION, "newsletter.schedule:_job"], ids=["today", "stored-by-0.1"])
def test_a_stored_job_runs_on_the_scheduler_whose_store_holds_it(project: Path, tmp_path: Path, function: str) -> None:
    other = tmp_path / "other"
    shutil.copytree(project, other)
    with Newsletter.open(project, environ={"NEWSLETTER_SECRET_KEY": SECRET}) as nl, \
            Newsletter.open(other, environ={"NEWSLETTER_SECRET_KEY": SECRET}) as nl_other:
        mine, theirs = Recording(nl), Recording(nl_other)
        mine.start()
        theirs.start()  # started last: a module-global runner would now be this one
        try:
            at = datetime.now(timezone.utc) + timedelta(milliseconds=300)  # APScheduler's own clock fires it
            mine.scheduler.add_job(function, "date", run_date=at, id="once-test",
                                   args=["once", DAY.isoformat(), at.isoformat()])
            assert mine.done.wait(PATIENCE) or theirs.done.wait(1), "the job never ran"
        finally:
            theirs.shutdown()
            mine.shutdown()
    assert (mine.ran, theirs.ran) == ([DAY], [])


def test_no_module_of_the_schedule_or_its_front_end_keeps_global_state() -> None:
    for path in [*(REPO / "newsletter" / "schedule").glob("*.py"), REPO / "newsletter" / "frontends" / "scheduler.py"]:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        assert not [node for node in ast.walk(tree) if isinstance(node, ast.Global)], path
