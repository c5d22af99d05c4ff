"""Approval, the readiness gate, alerts and the scheduler itself, against real SQLite, SMTP and processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from newsletter.approval import APPROVAL_FILE, approval_state, approve
from newsletter.config import Settings, load_settings
from newsletter.content.check import check_issue
from newsletter.dispatch import send_issue
from newsletter.errors import ConfigError
from newsletter.schedule import JOB_FUNCTION, Scheduler, dispatch_record, latest_due, next_runs, readiness, \
    schedule_once
from newsletter.store import ledger
from newsletter.store.database import Store
from newsletter.store.subscribers import add_subscriber
from tests.conftest import DAY, SECRET, REPO
from tests.sink import Sink
from tests.test_dispatch import smtp_config

PARIS = ZoneInfo("Europe/Paris")
NOW = datetime(2026, 11, 24, 6, 0, tzinfo=timezone.utc)


def add_people(store: Store, n: int) -> None:
    for i in range(n):
        add_subscriber(store, f"lecteur{i:03d}@example.org", now=NOW, first_name=f"Prénom{i}")


def configure(project: Path, **schedule: object) -> Settings:
    """Rewrite the [schedule] table: the repository's, without alert_to, with ``schedule`` on top."""
    config = project / "newsletter.toml"
    head, _, rest = config.read_text(encoding="utf-8").partition("[schedule]\n")
    table, _, tail = rest.partition("\n[")
    keep = [line for line in table.splitlines() if line.split(" = ")[0] not in (*schedule, "alert_to")]
    lines = [f"{k} = {v!r}".replace("'", '"').replace("True", "true").replace("False", "false")
             for k, v in schedule.items()]
    config.write_text(head + "[schedule]\n" + "\n".join(lines + keep) + "\n\n[" + tail, encoding="utf-8")
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


@pytest.mark.parametrize(("cron", "message"), [("0 7 * *", "must have 5 fields"),
                                               ("0 25 * * *", "[schedule] cron '0 25 * * *' is not valid")])
def test_a_wrong_cron_names_the_key(project: Path, cron: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("*", r"\*")):
        next_runs(configure(project, cron=cron), NOW, 1)


# -- the scheduler -------------------------------------------------------------------------


def test_a_failing_gate_alerts_once_retries_then_gives_up_at_the_deadline(project: Path, store: Store,
                                                                         sink: Sink) -> None:
    smtp_config(project, sink.port)
    settings = configure(project, alert_to="exploitation@example.org", retry_minutes=30, grace_minutes=60)
    clock = [datetime(2026, 11, 24, 7, 0, tzinfo=PARIS)]
    scheduler = Scheduler(settings, store, SECRET, clock=lambda: clock[0])
    due = clock[0]
    assert scheduler.run("once", DAY, due) == "waiting approval"
    clock[0] += timedelta(minutes=30)
    assert scheduler.run("retry", DAY, due) == "waiting approval"  # same reason: no second alert
    assert dispatch_record(store, DAY)["state"] == "waiting"  # type: ignore[index]
    clock[0] += timedelta(minutes=30)
    assert scheduler.run("retry", DAY, due) == "skipped"
    subjects = [m["Subject"] for m in sink.recorder.messages]
    assert len(subjects) == 2 and "is not ready (waiting approval)" in subjects[0] and "was NOT sent" in subjects[1]
    assert all(m["To"] == "exploitation@example.org" for m in sink.recorder.messages)
    assert "not approved yet" in sink.recorder.messages[1].get_body(("plain",)).get_content()
    assert dispatch_record(store, DAY)["state"] == "skipped"  # type: ignore[index]


def test_a_running_scheduler_sends_a_job_due_a_second_later(project: Path, issue_dir: Path, store: Store,
                                                           sink: Sink) -> None:
    smtp_config(project, sink.port)
    settings = configure(project)
    add_people(store, 5)
    approve(issue_dir, "Camille", NOW)
    schedule_once(settings, store, DAY, datetime.now(timezone.utc) + timedelta(seconds=1))
    scheduler = Scheduler(settings, store, SECRET)
    scheduler.start()
    try:
        deadline = time.monotonic() + 30
        while len(sink.recorder.messages) < 5 and time.monotonic() < deadline:
            time.sleep(0.1)
        while (dispatch_record(store, DAY) or {}).get("state") != "done" and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        scheduler.shutdown()
    assert len(sink.recorder.messages) == 5
    assert dispatch_record(store, DAY)["state"] == "done"  # type: ignore[index]


def test_after_a_downtime_a_recent_miss_is_sent_and_an_old_one_skipped(project: Path, issue_dir: Path, store: Store,
                                                                      sink: Sink) -> None:
    smtp_config(project, sink.port)
    settings = configure(project, alert_to="exploitation@example.org", require_approval=False, grace_minutes=60)
    add_people(store, 2)
    now = datetime.now(timezone.utc)
    old, recent = DAY.replace(day=23), DAY
    scheduler = Scheduler(settings, store, SECRET)
    for day, late in ((old, timedelta(hours=3)), (recent, timedelta(minutes=10))):
        scheduler.scheduler.add_job(JOB_FUNCTION, "date", run_date=now - late, id=f"once-{day}",
                                    args=["once", day.isoformat(), (now - late).isoformat()])
    scheduler.start()
    try:
        deadline = time.monotonic() + 30
        while ((dispatch_record(store, recent) or {}).get("state") != "done"
               or (dispatch_record(store, old) or {}).get("state") != "skipped") and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        scheduler.shutdown()
    assert dispatch_record(store, recent)["state"] == "done"  # type: ignore[index]
    skipped = dispatch_record(store, old)
    assert skipped is not None and skipped["state"] == "skipped" and "grace period has passed" in skipped["reason"]
    people = [m for m in sink.recorder.messages if m["To"] != "exploitation@example.org"]
    alerts = [m for m in sink.recorder.messages if m["To"] == "exploitation@example.org"]
    assert len(people) == 2 and len(alerts) == 1 and "2026-11-23 was NOT sent" in alerts[0]["Subject"]


def test_two_scheduler_processes_on_one_database_send_once(project: Path, issue_dir: Path, store: Store) -> None:
    configure(project)
    add_people(store, 30)
    approve(issue_dir, "Camille", NOW)
    env = {**os.environ, "NEWSLETTER_SECRET_KEY": SECRET, "PYTHONPATH": str(REPO)}
    at = (datetime.now(PARIS) + timedelta(seconds=4)).strftime("%Y-%m-%d %H:%M:%S")
    cli = [sys.executable, "-m", "newsletter", "-C", str(project)]
    subprocess.run([*cli, "send", DAY.isoformat(), "--at", at], env=env, check=True, capture_output=True)
    processes = [subprocess.Popen([*cli, "schedule", "run"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True) for _ in range(2)]
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            send_id = ledger.find_send(store, DAY)
            if send_id and ledger.counts(store, send_id).get("sent") == 30 and \
                    (dispatch_record(store, DAY) or {}).get("state") == "done":
                break
            time.sleep(0.2)
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        outputs = [process.communicate(timeout=30) for process in processes]
    assert [p.returncode for p in processes] == [0, 0], outputs
    logs = "".join(err for _, err in outputs)
    assert logs.count('"event": "send_started"') == 1 and logs.count('"event": "scheduler_stopped"') == 2
    assert len(list((project / "out" / "outbox" / "new").iterdir())) == 30
    assert dispatch_record(store, DAY)["state"] == "done"  # type: ignore[index]


def test_sigterm_during_a_send_finishes_cleanly_and_the_send_resumes(project: Path, issue_dir: Path,
                                                                      store: Store, sink: Sink) -> None:
    configure(project, require_approval=False)
    smtp_config(project, sink.port)  # paced: the outbox, a local folder, is never slowed down
    config = project / "newsletter.toml"
    config.write_text(config.read_text(encoding="utf-8").replace("rate_per_second = 5000", "rate_per_second = 30"),
                      encoding="utf-8")
    settings = load_settings(project)
    add_people(store, 120)  # four seconds at 30 messages/s
    env = {**os.environ, "NEWSLETTER_SECRET_KEY": SECRET, "PYTHONPATH": str(REPO)}
    cli = [sys.executable, "-m", "newsletter", "-C", str(project)]
    schedule_once(settings, store, DAY, datetime.now(timezone.utc) + timedelta(seconds=2))
    process = subprocess.Popen([*cli, "schedule", "run"], env=env, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and len(sink.recorder.raw) < 5:
            time.sleep(0.05)
    finally:
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    counts = ledger.counts(store, ledger.find_send(store, DAY) or 0)
    # The message in hand is finished, the rest waits: nothing is left in flight.
    assert 5 <= counts.get("sent", 0) < 120 and set(counts) == {"sent", "pending"}
    assert dispatch_record(store, DAY)["state"] == "waiting"  # type: ignore[index]
    # The next start resumes it at once (a plain `newsletter send` would do as well).
    process = subprocess.Popen([*cli, "schedule", "run"], env=env, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while (dispatch_record(store, DAY) or {}).get("state") != "done" and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=30)
    assert '"event": "resuming"' in err and process.returncode == 0
    received = sink.recorder.count_by_recipient()
    assert len(received) == 120 and set(received.values()) == {1}
    assert ledger.counts(store, ledger.find_send(store, DAY) or 0) == {"sent": 120}


def test_status_fails_when_the_schedule_skipped_an_issue(project: Path, store: Store,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    from newsletter.cli import main
    from newsletter.schedule import set_dispatch
    from newsletter.store.models import DispatchState

    set_dispatch(store, DAY, DispatchState.SKIPPED, NOW, reason="waiting approval: not approved yet")
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
    from newsletter.cli import main

    assert main(["-C", str(project), *args]) in (1, 2)
    captured = capsys.readouterr()
    assert message in captured.err + captured.out
