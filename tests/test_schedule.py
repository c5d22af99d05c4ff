"""Approval, the readiness gate, alerts and the scheduler itself, against real SQLite, SMTP and processes."""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import time
import io
import json
import threading
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Callable, Iterator
from zoneinfo import ZoneInfo

import pytest

from newsletter import Newsletter
from newsletter.library import log_events_as_json
from newsletter.content.approval import APPROVAL_FILE, approval_state, approve
from newsletter.config import Settings, load_settings
from newsletter.services.check import check_issue
from newsletter.delivery.engine import send_issue
from newsletter.errors import ConfigError
from newsletter.schedule.due import latest_due, next_runs
from newsletter.schedule.gate import readiness
from newsletter.schedule.jobs import JOB_FUNCTION, schedule_once, stored_jobs
from newsletter.frontends.scheduler import Scheduler
from newsletter.store import ledger
from newsletter.store.database import Store
from newsletter.store.day_claims import day_claim, set_day_claim
from newsletter.store.models import DayClaimState
from newsletter.store.subscribers import add_subscriber
from tests.conftest import DAY, SECRET
from tests.sink import Sink
from tests.helpers.sending import smtp_config
from tests.helpers.children import python_env
from tests.helpers.config import merge_options, remove_option, set_options
from tests.helpers.french import typeset

PARIS = ZoneInfo("Europe/Paris")
NOW = datetime(2026, 11, 24, 6, 0, tzinfo=timezone.utc)
UTC = timezone.utc
#: The scheduler's clock is pinned at these instants, so that no test depends on the hour it runs at:
#: around the daily due time (07:00 in Paris), late at night, the morning the suite once failed
#: (an early warning for a missing issue), and both daylight-saving changes of Europe/Paris.
#: With each, the day whose early warning is due (cron "0 7 * * *", warn_minutes 60), if any.
PINS = [
    pytest.param(datetime(2026, 11, 24, 0, 30, tzinfo=UTC), None, id="00:30Z"),
    pytest.param(datetime(2026, 11, 24, 5, 30, tzinfo=UTC), None, id="05:30Z-issue-ready"),
    pytest.param(datetime(2026, 11, 24, 6, 59, tzinfo=UTC), None, id="06:59Z"),
    pytest.param(datetime(2026, 11, 24, 23, 59, tzinfo=UTC), None, id="23:59Z"),
    pytest.param(datetime(2026, 11, 26, 5, 30, tzinfo=UTC), date(2026, 11, 26), id="05:30Z-issue-missing"),
    pytest.param(datetime(2026, 3, 29, 0, 30, tzinfo=UTC), None, id="spring-forward-00:30Z"),
    pytest.param(datetime(2026, 3, 29, 4, 30, tzinfo=UTC), date(2026, 3, 29), id="spring-forward-04:30Z"),
    pytest.param(datetime(2026, 10, 25, 0, 30, tzinfo=UTC), None, id="fall-back-00:30Z"),
    pytest.param(datetime(2026, 10, 25, 5, 30, tzinfo=UTC), date(2026, 10, 25), id="fall-back-05:30Z"),
]

#: The bound of every wait on a scheduler (process or thread): far above what a loaded machine takes
#: (a Python process may need 25 s just to start there); the waits end on their event, not on this bound.
PATIENCE = 180


def claim_state(store: Store, day: date) -> str | None:
    """The state of the scheduler's claim on ``day`` (None while it has none)."""
    claim = day_claim(store, day)
    return claim.state.value if claim is not None else None

def add_people(store: Store, n: int) -> None:
    for i in range(n):
        add_subscriber(store, f"lecteur{i:03d}@example.org", now=NOW, first_name=f"Prénom{i}")


def configure(project: Path, **schedule: object) -> Settings:
    """The [schedule] table: the repository's, without alert_to, with ``schedule`` set."""
    remove_option(project, "schedule", "alert_to", missing_ok=True)
    set_options(project, "schedule", **schedule)
    return load_settings(project)


# -- approval ------------------------------------------------------------------------------


def test_an_approval_goes_stale_when_any_file_changes(issue_dir: Path, settings: Settings) -> None:
    assert approval_state(issue_dir).state == "missing"
    state = approve(issue_dir, "Camille  Martin", datetime(2026, 11, 23, 18, 0, tzinfo=PARIS))
    assert state.current and state.approved_by == "Camille Martin"
    assert check_issue(settings, DAY).problems == [] or all(p.severity == "warning" for p in
                                                             check_issue(settings, DAY).problems)
    (issue_dir / "02-mobile.md").write_text((issue_dir / "02-mobile.md").read_text(encoding="utf-8") + "\nEncore.\n",
                                            encoding="utf-8")
    (issue_dir / "images" / "extra.png").write_bytes(b"\x89PNG")
    stale = approval_state(issue_dir)
    assert stale.state == "stale" and stale.changed == ["02-mobile.md", "images/extra.png"]
    report = check_issue(settings, DAY)
    assert report.ok  # staleness is a warning for the editor, a stop for the scheduler
    assert any(p.path.name == APPROVAL_FILE and "changed since (02-mobile.md, images/extra.png)" in p.message
               for p in report.problems)


def test_a_damaged_approval_file_is_reported_not_trusted(issue_dir: Path) -> None:
    (issue_dir / APPROVAL_FILE).write_text("approved_by: [unclosed\n", encoding="utf-8")
    assert approval_state(issue_dir).state == "unreadable"
    (issue_dir / APPROVAL_FILE).write_text("approved_by: quelqu'un\n", encoding="utf-8")
    state = approval_state(issue_dir)
    assert state.state == "unreadable" and "approve the issue again" in state.describe()


# -- the gate ------------------------------------------------------------------------------


def test_the_gate_says_why_an_issue_is_not_ready(project: Path, issue_dir: Path, store: Store) -> None:
    settings = configure(project)
    assert readiness(settings, store, DAY.replace(day=25)).state == "missing"
    assert readiness(settings, store, DAY).state == "waiting approval"
    approve(issue_dir, "Camille", NOW)
    assert readiness(settings, store, DAY).ready
    (issue_dir / "issue.yaml").write_text((issue_dir / "issue.yaml").read_text(encoding="utf-8") + "\n",
                                          encoding="utf-8")
    stale = readiness(settings, store, DAY)
    assert stale.state == "waiting approval" and "changed since (issue.yaml)" in stale.reason
    (issue_dir / "03-reseaux.md").write_text("---\ntitle: sans source\n---\nTexte.\n", encoding="utf-8")
    gate = readiness(settings, store, DAY)
    assert gate.state == "failing" and "03-reseaux.md" in gate.reason


def test_the_gate_knows_an_issue_already_sent(project: Path, issue_dir: Path, store: Store) -> None:
    settings = configure(project, require_approval=False)
    add_people(store, 3)
    assert readiness(settings, store, DAY).ready
    send_issue(settings, store, DAY, secret_key=SECRET)
    gate = readiness(settings, store, DAY)
    assert gate.state == "sent" and gate.reason == "3 sent"


# -- when ----------------------------------------------------------------------------------


def test_due_times_follow_the_local_clock_across_daylight_saving(project: Path) -> None:
    settings = configure(project, cron="0 7 * * *", timezone="Europe/Paris")
    spring = next_runs(settings, datetime(2026, 3, 27, 12, 0, tzinfo=timezone.utc), 3)
    assert [f.astimezone(timezone.utc).hour for f in spring] == [6, 5, 5]  # 29 March: CET → CEST
    assert all(f.hour == 7 for f in spring)
    autumn = next_runs(settings, datetime(2026, 10, 23, 12, 0, tzinfo=timezone.utc), 2)
    assert [f.astimezone(timezone.utc).hour for f in autumn] == [5, 6]  # 25 October: CEST → CET
    weekdays = next_runs(configure(project, cron="30 6 * * mon-fri"), datetime(2026, 11, 27, 12, tzinfo=PARIS), 2)
    assert [f.strftime("%a %H:%M") for f in weekdays] == ["Mon 06:30", "Tue 06:30"]


def test_an_issue_is_due_only_within_its_grace_period(project: Path) -> None:
    settings = configure(project, grace_minutes=90)
    assert latest_due(settings, datetime(2026, 11, 24, 8, 20, tzinfo=PARIS)) == \
        datetime(2026, 11, 24, 7, 0, tzinfo=PARIS)
    assert latest_due(settings, datetime(2026, 11, 24, 8, 40, tzinfo=PARIS)) is None
    assert latest_due(settings, datetime(2026, 11, 28, 7, 30, tzinfo=PARIS)) is None  # a Saturday


@pytest.mark.parametrize(("cron", "due"), [("* * * * *", (9, 8)), ("*/2 * * * *", (9, 8)), ("0 * * * *", (9, 0))])
def test_the_latest_due_time_is_the_most_recent_however_often_the_schedule_fires(project: Path, cron: str,
                                                                                 due: tuple[int, int]) -> None:
    # More due times than a fixed look-ahead fit in the grace period: the newest one still counts,
    # or the alert names a time an hour old and the deadline passes an hour early.
    settings = configure(project, cron=cron, grace_minutes=120)
    now = datetime(2026, 11, 26, 9, 8, 30, tzinfo=PARIS)
    assert latest_due(settings, now) == datetime(2026, 11, 26, *due, tzinfo=PARIS)


@pytest.mark.parametrize(("cron", "message"), [("0 7 * *", "must have 5 fields"),
                                               ("0 25 * * *", "[schedule] cron '0 25 * * *' is not valid")])
def test_a_wrong_cron_names_the_key(project: Path, cron: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("*", r"\*")):
        next_runs(configure(project, cron=cron), NOW, 1)


# -- the scheduler -------------------------------------------------------------------------


@pytest.mark.parametrize(("locale", "words"), [
    ("fr_FR", [typeset("n'est pas prêt (il n'est pas approuvé)"), typeset("n'a PAS été envoyé"), "Pour corriger"]),
    ("en_GB", ["is not ready (waiting approval)", "was NOT sent", "To fix it"]),
])
@pytest.mark.parametrize(("pinned", "_warned"), PINS)
def test_a_failing_gate_alerts_once_retries_then_gives_up_at_the_deadline(
        project: Path, store: Store, sink: Sink, pinned: datetime, _warned: date | None, locale: str,
        words: list[str]) -> None:
    smtp_config(project, sink.port)
    set_options(project, "newsletter", locale=locale)
    settings = configure(project, alert_to="exploitation@example.org", retry_minutes=30, grace_minutes=60)
    clock = [pinned]
    scheduler = Scheduler(Newsletter(settings, store=store, secret_key=SECRET, clock=lambda: clock[0]))
    due = clock[0]
    assert scheduler.run("once", DAY, due) == "waiting approval"
    clock[0] += timedelta(minutes=30)
    assert scheduler.run("retry", DAY, due) == "waiting approval"  # same reason: no second alert
    assert claim_state(store, DAY) == "waiting"
    clock[0] += timedelta(minutes=30)
    assert scheduler.run("retry", DAY, due) == "skipped"
    subjects = [m["Subject"] for m in sink.recorder.messages]
    assert len(subjects) == 2 and words[0] in subjects[0] and words[1] in subjects[1]
    assert all(m["To"] == "exploitation@example.org" for m in sink.recorder.messages)
    for message in sink.recorder.messages:  # each says what fixes it, with the command
        body = message.get_body(("plain",)).get_content()
        assert words[2] in body and f'newsletter approve {DAY} --by "' in body and "not approved yet" in body
    assert claim_state(store, DAY) == "skipped"


def test_alerts_go_out_once_per_reason_and_day_whatever_the_number_of_schedulers(project: Path, store: Store,
                                                                                 sink: Sink) -> None:
    smtp_config(project, sink.port)
    settings = configure(project, alert_to="exploitation@example.org", cron="0 7 * * *", grace_minutes=60)
    due = datetime(2026, 11, 24, 7, 0, tzinfo=PARIS)
    schedulers = [Scheduler(Newsletter(settings, store=store, secret_key=SECRET, clock=lambda: due))
                  for _ in range(3)]
    start = threading.Barrier(len(schedulers))
    outcomes: list[str] = []

    def run(scheduler: Scheduler) -> None:
        start.wait(timeout=10)
        outcomes.append(scheduler.run("once", DAY, due))

    threads = [threading.Thread(target=run, args=(s,)) for s in schedulers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert outcomes.count("waiting approval") >= 1
    assert len(sink.recorder.messages) == 1  # three processes at once: one alert
    # The early warning for the next day (its folder is missing), from each of them in turn: one alert.
    warn_at = datetime(2026, 11, 25, 6, 30, tzinfo=PARIS)
    for scheduler in [Scheduler(Newsletter(settings, store=store, secret_key=SECRET, clock=lambda: warn_at))
                      for _ in range(2)]:
        scheduler.heartbeat()
    subjects = [m["Subject"] for m in sink.recorder.messages]
    assert len(subjects) == 2 and typeset("25/11/2026 n'est pas encore prêt (le dossier du numéro n'existe pas)") in subjects[1]
    assert "newsletter new 2026-11-25" in sink.recorder.messages[1].get_body(("plain",)).get_content()


@pytest.mark.parametrize(("pinned", "_warned"), PINS)
def test_a_running_scheduler_sends_a_job_due_a_second_later(project: Path, issue_dir: Path, store: Store,
                                                           sink: Sink, pinned: datetime, _warned: date | None) -> None:
    smtp_config(project, sink.port)
    settings = configure(project)
    add_people(store, 5)
    approve(issue_dir, "Camille", NOW)
    # APScheduler fires on the real clock; everything the scheduler decides reads the pinned one.
    schedule_once(settings, store, DAY, datetime.now(timezone.utc) + timedelta(seconds=1))
    scheduler = Scheduler(Newsletter(settings, store=store, secret_key=SECRET, clock=lambda: pinned))
    scheduler.start()
    try:
        deadline = time.monotonic() + PATIENCE
        while len(sink.recorder.messages) < 5 and time.monotonic() < deadline:
            time.sleep(0.1)
        while claim_state(store, DAY) != "done" and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        scheduler.shutdown()
    assert len(sink.recorder.messages) == 5
    assert claim_state(store, DAY) == "done"


@pytest.mark.parametrize(("pinned", "warned"), PINS)
def test_after_a_downtime_a_recent_miss_is_sent_and_an_old_one_skipped(project: Path, issue_dir: Path, store: Store,
                                                                      sink: Sink, pinned: datetime,
                                                                      warned: date | None) -> None:
    smtp_config(project, sink.port)
    settings = configure(project, alert_to="exploitation@example.org", require_approval=False, grace_minutes=60,
                         cron="0 7 * * *", warn_minutes=60)
    add_people(store, 2)
    now = datetime.now(timezone.utc)  # APScheduler's own clock decides what was missed
    old, recent = DAY.replace(day=23), DAY
    scheduler = Scheduler(Newsletter(settings, store=store, secret_key=SECRET, clock=lambda: pinned))
    for day, late in ((old, timedelta(hours=3)), (recent, timedelta(minutes=10))):
        scheduler.scheduler.add_job(JOB_FUNCTION, "date", run_date=now - late, id=f"once-{day}",
                                    args=["once", day.isoformat(), (now - late).isoformat()])
    scheduler.start()
    try:
        deadline = time.monotonic() + PATIENCE
        while (claim_state(store, recent) != "done"
               or claim_state(store, old) != "skipped") and time.monotonic() < deadline:
            time.sleep(0.1)
        scheduler.heartbeat()  # at least once, whichever order APScheduler's threads take
    finally:
        scheduler.shutdown()
    assert claim_state(store, recent) == "done"
    skipped = day_claim(store, old)
    assert skipped is not None and skipped.state is DayClaimState.SKIPPED and "grace period has passed" in skipped.reason
    people = [m for m in sink.recorder.messages if m["To"] != "exploitation@example.org"]
    alerts = [m for m in sink.recorder.messages if m["To"] == "exploitation@example.org"]
    expected = [typeset("[5 infos relation client] le numéro du 23/11/2026 n'a PAS été envoyé")]
    if warned:  # only the pinned hour decides, never the hour the suite runs at
        expected.append(typeset(f"[5 infos relation client] le numéro du {warned:%d/%m/%Y} n'est pas encore prêt "
                                "(le dossier du numéro n'existe pas)"))
    assert len(people) == 2 and sorted(m["Subject"] for m in alerts) == sorted(expected)
    assert "`newsletter send 2026-11-23`" in next(m for m in alerts if "23/11" in m["Subject"]).get_body(
        ("plain",)).get_content()


class SchedulerProcess:
    """`newsletter schedule run` in a process, its JSON log read as it comes (a thread drains stderr)."""

    def __init__(self, project: Path) -> None:
        env = python_env(NEWSLETTER_SECRET_KEY=SECRET)
        self.process = subprocess.Popen([sys.executable, "-m", "newsletter", "-C", str(project), "schedule", "run"],
                                        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.lines: list[str] = []
        self.started = threading.Event()  # its SIGTERM handler is in place: a stop is a clean one
        self.known = threading.Event()  # started, or ended without starting
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.append(line)
            if '"event": "scheduler_started"' in line:
                self.started.set()
                self.known.set()
        self.known.set()

    def stop(self) -> tuple[int, str]:
        """SIGTERM once it listens for it, as systemd would; its exit code and log."""
        self.known.wait(PATIENCE)
        started = self.started.is_set()
        self.process.send_signal(signal.SIGTERM if started else signal.SIGKILL)
        try:
            code = self.process.wait(timeout=PATIENCE)
        finally:
            self.process.kill()
            self.reader.join(timeout=PATIENCE)
        log = "".join(self.lines)
        assert started or code == 0, f"the scheduler never started:\n{log}"
        return code, log


def wait_until(condition: Callable[[], bool], seconds: float = PATIENCE) -> bool:
    """Poll ``condition`` (a state in the store or the sink) until it holds, at most ``seconds``."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_two_scheduler_processes_on_one_database_send_once(project: Path, issue_dir: Path, store: Store) -> None:
    settings = configure(project)
    add_people(store, 30)
    approve(issue_dir, "Camille", NOW)
    # Stored here, not by a `send --at` process that might start after its own time under load: a job
    # already due when the schedulers start is run at once (within grace_minutes), by one of them.
    schedule_once(settings, store, DAY, datetime.now(timezone.utc) + timedelta(seconds=1))
    processes = [SchedulerProcess(project) for _ in range(2)]
    try:
        done = wait_until(lambda: claim_state(store, DAY) == "done")
    finally:
        # The second may still be starting when the first has sent everything: each is stopped once it
        # listens for SIGTERM, or the signal's default action would kill it (exit code -15, no last line).
        outputs = [process.stop() for process in processes]
    send_id = ledger.find_send(store, DAY) or 0
    assert done and ledger.counts(store, send_id) == {"sent": 30}, (ledger.counts(store, send_id), outputs)
    assert [code for code, _ in outputs] == [0, 0], outputs
    logs = "".join(err for _, err in outputs)
    assert logs.count('"event": "send_started"') == 1 and logs.count('"event": "scheduler_stopped"') == 2
    plain = [line for line in logs.splitlines() if not line.startswith("{")]
    assert plain == [], logs  # every line is JSON, APScheduler's too
    lines = [json.loads(line) for line in logs.splitlines()]
    assert all("event" in line and "level" in line for line in lines)
    assert any(line["logger"].startswith("apscheduler") and line["message"] == "Scheduler started" for line in lines)
    assert len(list((project / "out" / "outbox" / "new").iterdir())) == 30
    assert claim_state(store, DAY) == "done"


def pace(project: Path, rate: int) -> None:
    set_options(project, "delivery", rate_per_second=rate)


def test_sigterm_during_a_send_finishes_cleanly_and_the_send_resumes(project: Path, issue_dir: Path,
                                                                      store: Store, sink: Sink) -> None:
    configure(project, require_approval=False)
    smtp_config(project, sink.port)  # paced: the outbox, a local folder, is never slowed down
    pace(project, 5)  # 24 s for everybody: the stop, sent at the fifth message, lands long before the end
    settings = load_settings(project)
    add_people(store, 120)
    schedule_once(settings, store, DAY, datetime.now(timezone.utc) + timedelta(seconds=2))
    first = SchedulerProcess(project)
    try:
        assert wait_until(lambda: len(sink.recorder.raw) >= 5), "the send never began"
    finally:
        code, err = first.stop()
    assert code == 0, err
    counts = ledger.counts(store, ledger.find_send(store, DAY) or 0)
    # The message in hand is finished, the rest waits: nothing is left in flight.
    assert 5 <= counts.get("sent", 0) < 120 and set(counts) == {"sent", "pending"}, counts
    assert counts["sent"] == len(sink.recorder.raw)
    assert claim_state(store, DAY) == "waiting"
    # The next start resumes it at once (a plain `newsletter send` would do as well), unpaced to keep the test short.
    pace(project, 5000)
    second = SchedulerProcess(project)
    try:
        done = wait_until(lambda: claim_state(store, DAY) == "done")
    finally:
        code, err = second.stop()
    counts = ledger.counts(store, ledger.find_send(store, DAY) or 0)
    assert done and counts == {"sent": 120}, (counts, err)  # said first: where the others went, if any did not
    assert '"event": "resuming"' in err and code == 0
    received = sink.recorder.count_by_recipient()
    assert len(received) == 120 and set(received.values()) == {1}


def test_a_refused_send_leaves_the_scheduler_running_and_its_retry_sends(project: Path, issue_dir: Path, store: Store,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """A send ended by an error (a refused request, a wrong key) ends that run, not the scheduler: once the
    operator fixes the cause, the retry sends. The run used to set the scheduler's own stop, so nothing
    was ever sent again until a restart."""
    from tests.fakes import FAKES, Fault, api_config, environment

    with FAKES["sendgrid"]() as fake:
        merge_options(project, "[delivery]\n" + api_config("sendgrid", fake.base_url))
        settings = configure(project, require_approval=False)
        for name, value in environment("sendgrid").items():
            monkeypatch.setenv(name, value)
        add_people(store, 5)
        fake.script.append(Fault(403, {"errors": [{"message": "The from address does not match a verified Sender "
                                                              "Identity.", "field": "from", "help": None}]}))
        due = datetime(2026, 11, 24, 7, 0, tzinfo=PARIS)
        scheduler = Scheduler(Newsletter(settings, store=store, secret_key=SECRET, clock=lambda: due))
        assert scheduler.run("once", DAY, due) == "send failed"
        assert not scheduler.stop.is_set()
        assert scheduler.run("retry", DAY, due) == "done" and len(fake.inbox) == 5
    assert claim_state(store, DAY) == "done"


def test_status_fails_when_the_schedule_skipped_an_issue(project: Path, store: Store,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    from newsletter.frontends.cli import main

    set_day_claim(store, DAY, DayClaimState.SKIPPED, NOW, reason="waiting approval: not approved yet")
    assert main(["-C", str(project), "status", DAY.isoformat()]) == 1
    out = capsys.readouterr().out
    assert "Schedule: skipped — waiting approval: not approved yet" in out and "Approval: not approved yet" in out


@pytest.mark.parametrize(("args", "message"), [
    (["send", DAY.isoformat(), "--at", "2020-01-01 07:00"], "--at 2020-01-01 07:00 is in the past"),
    (["send", DAY.isoformat(), "--at", "demain 7h"], "is not a time"),
    (["approve", DAY.isoformat(), "--by", "  "], "needs the approver's name"),
])
def test_scheduling_commands_refuse_bad_input(project: Path, args: list[str], message: str,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    from newsletter.frontends.cli import main

    assert main(["-C", str(project), *args]) in (1, 2)
    captured = capsys.readouterr()
    assert message in captured.err + captured.out


def test_a_one_off_job_another_scheduler_removed_first_does_not_stop_this_one(project: Path, store: Store) -> None:
    """APScheduler 3 lets that lookup error kill its main thread: no job would ever run again."""
    settings = configure(project)
    job_id = schedule_once(settings, store, DAY, datetime.now(timezone.utc) + timedelta(hours=1))
    scheduler = Scheduler(Newsletter(settings, store=store, secret_key=SECRET))
    scheduler.scheduler.start(paused=True)
    try:
        scheduler.scheduler.remove_job(job_id, "default")  # the other process ran it and removed it
        scheduler.scheduler.remove_job(job_id, "default")  # this one, finishing the same run, does too
    finally:
        scheduler.scheduler.shutdown(wait=False)


def test_a_thread_that_dies_is_logged_as_a_json_line(monkeypatch: pytest.MonkeyPatch,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    from newsletter.core.logs import JsonLines, log_thread_crashes

    monkeypatch.setattr(threading, "excepthook", threading.excepthook)  # restored after the test
    log_thread_crashes()
    thread = threading.Thread(target=lambda: 1 / 0, name="APScheduler")
    with caplog.at_level("ERROR", logger="newsletter.events"):
        thread.start()
        thread.join(timeout=10)
    [record] = [r for r in caplog.records if "thread_crashed" in r.getMessage()]
    line = json.loads(JsonLines().format(record))
    assert line["event"] == "thread_crashed" and line["thread"] == "APScheduler" and "\n" not in JsonLines().format(
        record) and "ZeroDivisionError" in line["error"]


def test_a_one_off_send_of_an_issue_already_sent_is_refused_by_the_library(project: Path, store: Store) -> None:
    """Not only by the command line: whoever calls schedule_once gets the refusal."""
    from newsletter.errors import ContentError

    settings = configure(project)
    set_day_claim(store, DAY, DayClaimState.DONE, NOW)
    with pytest.raises(ContentError, match="was already sent; it is not scheduled again"):
        schedule_once(settings, store, DAY, NOW + timedelta(hours=1), clock=lambda: NOW)


def test_a_failed_job_is_logged_without_the_text_its_error_carries(caplog: pytest.LogCaptureFixture) -> None:
    """A job's exception may hold a whole message (unsubscribe URL included): the line gets its short account."""
    from types import SimpleNamespace

    err = RuntimeError("cannot hand over https://news.example.org/u/SECRET-TOKEN\nBonjour Camille, voici vos 5 infos")
    with caplog.at_level("ERROR", logger="newsletter.events"):
        Scheduler._crashed(SimpleNamespace(job_id="daily", exception=err))
    [line] = [json.loads(r.getMessage()) for r in caplog.records if "job_error" in r.getMessage()]
    assert line["error"] == "RuntimeError: cannot hand over <URL>"


def test_listing_the_jobs_never_runs_or_drops_one_that_is_due(project: Path, store: Store,
                                                               caplog: pytest.LogCaptureFixture) -> None:
    # `schedule show` while the scheduler is down, after a one-off send's time has passed: no
    # traceback, and the job stays for `schedule run` to carry out (within the grace period) at start.
    settings = configure(project)
    at = datetime.now(timezone.utc) - timedelta(minutes=5)
    schedule_once(settings, store, DAY, at, clock=lambda: at - timedelta(minutes=1))
    with caplog.at_level(logging.ERROR):
        for _ in range(2):
            assert [name for name, _ in stored_jobs(settings, store)] == [f"send {DAY} once"]
            for thread in threading.enumerate():  # a scheduler thread left behind would act on its own
                if thread.name.startswith("APScheduler"):
                    thread.join(timeout=5)
    assert [name for name, _ in stored_jobs(settings, store)] == [f"send {DAY} once"]
    assert not [r for r in caplog.records if r.name.startswith("apscheduler")]


def test_a_one_off_send_whose_scheduler_was_killed_is_resumed_by_the_surviving_one(project: Path, issue_dir: Path,
                                                                                  store: Store, sink: Sink) -> None:
    """`send --at` at 15:00, well past the cron's own due time and grace: the scheduler that claimed the day
    is killed part-way (its lease stops being renewed); the other scheduler's heartbeat finishes the send."""
    from newsletter.store import leases
    from newsletter.store.day_claims import claim_day

    smtp_config(project, sink.port, connections=1)  # one connection: --limit 2 is exactly two messages
    settings = configure(project, cron="0 7 * * *", grace_minutes=60)
    add_people(store, 6)
    approve(issue_dir, "Camille", NOW)
    at = datetime(2026, 11, 24, 15, 0, tzinfo=PARIS)
    lease = timedelta(seconds=settings.delivery.lease_seconds)
    leases.acquire(store, "killed-scheduler", at, lease)  # never renewed after this
    assert claim_day(store, DAY, "killed-scheduler", at, lease)
    assert send_issue(settings, store, DAY, secret_key=SECRET, clock=lambda: at, limit=2).sent_now == 2  # it had begun
    later = at + 2 * lease
    survivor = Scheduler(Newsletter(settings, store=store, secret_key=SECRET, clock=lambda: later))
    survivor.heartbeat()
    assert len(sink.recorder.messages) == 6 and len(sink.recorder.count_by_recipient()) == 6
    assert claim_state(store, DAY) == "done"


def test_a_scheduled_send_that_pauses_itself_waits_for_an_operator(project: Path, issue_dir: Path, store: Store,
                                                                    sink: Sink) -> None:
    smtp_config(project, sink.port, connections=1)  # one connection: the 100th message is judged in list order
    set_options(project, "delivery", bounce_window=100)
    settings = configure(project, alert_to="exploitation@example.org", cron="0 7 * * *", grace_minutes=120,
                         retry_minutes=10)
    add_people(store, 150)
    for i in range(10, 22):  # 12 dead addresses among the first hundred
        sink.recorder.faults.rcpt_permanent[f"lecteur{i:03d}@example.org"] = "550 5.1.1 User unknown"
    approve(issue_dir, "Camille", NOW)
    due = datetime(2026, 11, 24, 7, 0, tzinfo=PARIS)
    clock = [due]
    scheduler = Scheduler(Newsletter(settings, store=store, secret_key=SECRET, clock=lambda: clock[0]))
    assert scheduler.run("once", DAY, due) == "paused"
    claim = day_claim(store, DAY)
    assert claim is not None and claim.state is DayClaimState.WAITING and claim.reason.startswith("paused: 12 hard")
    assert [job.id for job in scheduler.scheduler.get_jobs()] == []  # no retry scheduled
    assert readiness(settings, store, DAY).state == "paused"
    handed = len(sink.recorder.messages)
    alerts = [m for m in sink.recorder.messages if m["To"] == "exploitation@example.org"]
    assert len(alerts) == 1 and "en pause" in str(alerts[0]["Subject"])
    clock[0] += timedelta(minutes=30)  # within the grace period: neither a retry nor the heartbeat resumes it
    assert scheduler.run("retry", DAY, due) == "paused"
    scheduler.heartbeat()
    assert len(sink.recorder.messages) == handed
    report = send_issue(settings, store, DAY, secret_key=SECRET, clock=lambda: clock[0])  # the operator resumes
    assert report.resumed is not None and report.complete and report.count(ledger.DeliveryStatus.SENT) == 138
    assert readiness(settings, store, DAY).state == "sent"


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    """``schedule run``'s logging (JSON lines) into a buffer, the loggers put back afterwards."""
    loggers = [logging.getLogger(name) for name in ("newsletter", "apscheduler")]
    saved = [(lg.handlers[:], lg.level, lg.propagate) for lg in loggers]
    root_formatters = [h.formatter for h in logging.getLogger().handlers]
    hook = threading.excepthook
    stream = io.StringIO()
    log_events_as_json(stream)
    try:
        yield stream
    finally:
        for lg, (handlers, level, propagate) in zip(loggers, saved):
            lg.handlers[:], lg.level, lg.propagate = handlers, level, propagate
        for handler, formatter in zip(logging.getLogger().handlers, root_formatters):
            handler.setFormatter(formatter)
        threading.excepthook = hook


def test_the_heartbeat_says_it_is_alive_hourly_not_twice_every_30_s(project: Path, store: Store,
                                                                    json_log: io.StringIO) -> None:
    from apscheduler.events import EVENT_JOB_EXECUTED

    settings = configure(project, cron="0 7 * * *")
    clock = [datetime(2026, 11, 24, 8, 0, tzinfo=PARIS)]
    scheduler = Scheduler(Newsletter(settings, store=store, secret_key=SECRET, clock=lambda: clock[0]))
    beat = threading.Event()
    scheduler.scheduler.add_listener(lambda e: beat.set() if e.job_id == "heartbeat" else None, EVENT_JOB_EXECUTED)
    scheduler.start()
    try:
        assert beat.wait(PATIENCE)  # APScheduler ran the heartbeat job (at once, then every 30 s)
        for minutes in (30, 59, 61, 90, 125):
            clock[0] = datetime(2026, 11, 24, 8, 0, tzinfo=PARIS) + timedelta(minutes=minutes)
            scheduler.heartbeat()
    finally:
        scheduler.shutdown()
    lines = [json.loads(line) for line in json_log.getvalue().splitlines()]
    beats = [line for line in lines if "heartbeat" in line.get("message", "") and "Added job" not in line["message"]]
    assert beats == [], lines
    alive = [line for line in lines if line["event"] == "scheduler_alive"]
    assert [a["next_run"] for a in alive] == ["2026-11-25T07:00:00+01:00"] * 2  # at 9:01 and 10:05, not at start
