"""The public ``Newsletter`` object on a real project folder: each operation's typed result, the lazy
store and secret key, the injected clock, and the library page's example (docs/library.md) run as written."""

from __future__ import annotations

import json
import re
import shutil
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from newsletter import Newsletter
from newsletter.content.approval import ApprovalState
from newsletter.errors import ApprovalRequiredError
from newsletter.services.build import BuildResult
from newsletter.config import Settings
from newsletter.errors import ConfigError, ContentError, DeliveryError, UsageError
from newsletter.library import (
    BrokenTemplateError,
    CheckResult,
    DryRunResult,
    ExportResult,
    IssueStatus,
    ScheduleView,
    SecretKey,
    SendClearance,
    SubscriberChange,
    ProofCopy,
    Verdict,
)
from newsletter.schedule.gate import Readiness
from newsletter.store.database import Store
from newsletter.store.history import HistoryRow
from newsletter.store.subscribers import ImportSummary, SubscriberRecord
from tests.conftest import DAY, REPO, SECRET, item_text, write

#: The day before the issue: its due time (07:00 Paris) is ahead, nothing calls for attention.
BEFORE = datetime(2026, 11, 23, 12, 0, tzinfo=timezone.utc)
#: The issue's day after the grace period (due 06:00 UTC, grace 120 minutes).
LATE = datetime(2026, 11, 24, 9, 0, tzinfo=timezone.utc)


def nl_at(project: Path, when: datetime = BEFORE, **environ: str) -> Newsletter:
    """The project's Newsletter with a pinned clock and an environment of its own."""
    return Newsletter.open(project, environ={"NEWSLETTER_SECRET_KEY": SECRET, **environ}, clock=lambda: when)


@pytest.fixture
def nl(project: Path):  # type: ignore[no-untyped-def]
    with nl_at(project) as opened:
        yield opened


def outbox(project: Path) -> list[Path]:
    folder = project / "out" / "outbox" / "new"
    return sorted(folder.iterdir()) if folder.is_dir() else []


# -- opening ------------------------------------------------------------------------------------


def test_open_finds_the_project_like_the_command_line(project: Path, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(project / "issues")
    assert Newsletter.open().settings.root == project.resolve()  # the nearest folder above
    monkeypatch.chdir(tmp_path)
    assert Newsletter.open(environ={"NEWSLETTER_PROJECT": str(project)}).settings.root == project.resolve()
    with pytest.raises(ConfigError, match="no newsletter.toml"):
        Newsletter.open(environ={})


def test_reading_creates_no_database_and_the_first_write_does(nl: Newsletter, project: Path,
                                                               tmp_path: Path) -> None:
    assert isinstance(nl.check(DAY), CheckResult) and isinstance(nl.approval(DAY), ApprovalState)
    assert not nl.status(DAY).started and nl.history() == [] and nl.readiness(DAY).state == "waiting approval"
    assert nl.schedule_view(1).once == [] and nl.dry_run(DAY).recipients == 0 and nl.waiting(DAY) == 0
    assert nl.subscribers.count() == 0 and list(nl.subscribers.stream()) == [] and nl.subscribers.count_by_status() == {}
    assert nl.subscribers.get("lea@example.org") is None and nl.subscribers.export(tmp_path / "x.csv").count == 0
    contacts = write(tmp_path / "contacts.csv", "email\nlea@example.org\n")
    assert nl.subscribers.import_csv(contacts, dry_run=True).added == 1
    nl.approve(DAY, by="Camille Martin")
    with pytest.raises(DeliveryError, match="has nobody to go to"):
        nl.send(DAY)
    assert not (project / "state").exists()
    nl.subscribers.add("lea@example.org")
    assert (project / "state" / "newsletter.db").is_file()
    assert nl.subscribers.count() == 1 and nl.dry_run(DAY).recipients == 1  # the real store from now on


def test_a_newsletter_built_from_parts_uses_them_and_leaves_the_store_open(settings: Settings, store: Store) -> None:
    nl = Newsletter(settings, store=store, secret_key=SECRET, clock=lambda: BEFORE)
    with nl:
        assert nl.store is store and nl.secret_key().value == SECRET
        assert nl.subscribers.add("lea@example.org").record.created_at == BEFORE
    assert nl.subscribers.count() == 1  # close() left the caller's store open
    with pytest.raises(ConfigError, match="published example key"):
        Newsletter(settings, store=store, secret_key="demo-only-not-secret").secret_key(listen="192.0.2.1")


def test_today_follows_the_injected_clock_in_the_newsletters_zone(project: Path) -> None:
    late_evening = datetime(2026, 11, 23, 23, 30, tzinfo=timezone.utc)  # already the 24th in Paris
    assert nl_at(project, late_evening).today() == date(2026, 11, 24)


# -- the secret key -------------------------------------------------------------------------------


def test_the_secret_key_comes_from_the_given_environment_and_never_shows(project: Path) -> None:
    key = nl_at(project).secret_key()
    assert isinstance(key, SecretKey) and key.value == SECRET and key.warning is None
    assert SECRET not in repr(key)
    with pytest.raises(ConfigError, match="NEWSLETTER_SECRET_KEY is not set"):
        Newsletter.open(project, environ={}).secret_key()


def test_a_weak_key_is_accepted_with_a_warning_only_for_the_local_outbox(project: Path) -> None:
    weak = nl_at(project, NEWSLETTER_SECRET_KEY="demo-only-not-secret")
    assert "outbox adapter delivers nothing" in str(weak.secret_key().warning)
    assert "outbox adapter delivers nothing" in str(weak.secret_key(listen="127.0.0.1").warning)
    with pytest.raises(ConfigError, match="published example key"):
        weak.secret_key(listen="192.0.2.1")


# -- composing ----------------------------------------------------------------------------------


def test_check_gives_the_verdict_the_approval_and_the_problems(nl: Newsletter, issue_dir: Path) -> None:
    result = nl.check(DAY)
    assert result.ok and result.verdict is Verdict.READY_TO_APPROVE and result.refusal is None
    assert result.items == 5 and result.html_bytes > 10_000 and result.folder == Path("issues/2026-11-24")
    nl.approve(DAY, by="Camille Martin")
    assert nl.check(DAY).verdict is Verdict.READY
    write(issue_dir / "01-bots.md", item_text(title=""))
    failing = nl.check(DAY)
    assert not failing.ok and failing.verdict is Verdict.FAILING and failing.errors >= 1
    assert isinstance(failing.refusal, ContentError) and failing.refusal.problems == failing.problems
    assert str(failing.refusal).startswith("issues/2026-11-24: 1 error")


def test_a_broken_template_is_the_configurations_fault_in_every_operation(nl: Newsletter, project: Path) -> None:
    shutil.copytree(REPO / "templates", project / "templates")
    text = project / "templates" / "email.txt.j2"
    text.write_text(text.read_text(encoding="utf-8") + "\n{% if %}\n", encoding="utf-8")
    assert isinstance(nl.check(DAY).refusal, BrokenTemplateError)
    for operation in (nl.build, nl.approve):
        with pytest.raises(BrokenTemplateError) as caught:
            operation(DAY)
        assert caught.value.exit_code == 2 and caught.value.problems


def test_build_writes_the_files_and_returns_them(nl: Newsletter, project: Path) -> None:
    result = nl.build(DAY)
    assert isinstance(result, BuildResult) and result.folder == project / "out" / DAY.isoformat()
    assert {p.name for p in result.files} >= {"email.html", "email.txt", "sample.eml"}


def test_approve_records_the_clocks_time_and_the_editor_from_the_environment(project: Path) -> None:
    nl = nl_at(project, NEWSLETTER_EDITOR="Dominique Roux")
    state = nl.approve(DAY)
    assert isinstance(state, ApprovalState) and state.current
    assert state.approved_by == "Dominique Roux" and state.approved_at == "2026-11-23T13:00:00+01:00"
    with pytest.raises(UsageError, match="approver's name"):
        nl.approve(DAY, by="  ")


@pytest.mark.parametrize("folder", ["images~", ".images", "images/.hidden"])
def test_the_approval_covers_every_file_the_render_reads_whatever_its_name(nl: Newsletter, issue_dir: Path,
                                                                           folder: str) -> None:
    (issue_dir / folder).mkdir(parents=True)
    shutil.copyfile(issue_dir / "images" / "barres.png", issue_dir / folder / "chart.png")
    item = issue_dir / "01-bots.md"
    item.write_text(item.read_text(encoding="utf-8").replace("images/barres.png", f"{folder}/chart.png"),
                    encoding="utf-8")
    assert nl.check(DAY).errors == 0
    assert nl.approve(DAY, by="Camille Martin").current
    assert f"{folder}/chart.png" in (nl.build(DAY).folder / "email.html").read_text(encoding="utf-8")  # read
    (issue_dir / folder / "chart.png").write_bytes((issue_dir / folder / "chart.png").read_bytes() + b"swapped")
    state = nl.approval(DAY)
    assert state.state == "stale" and f"{folder}/chart.png" in state.changed


def test_readiness_is_the_schedulers_gate(nl: Newsletter) -> None:
    gate = nl.readiness(DAY)
    assert isinstance(gate, Readiness) and gate.state == "waiting approval"
    nl.approve(DAY, by="Camille Martin")
    assert nl.readiness(DAY).ready
    assert nl.readiness(date(2099, 6, 1)).state == "missing"


def test_new_issue_creates_the_stubs_of_the_clocks_day(nl: Newsletter, project: Path) -> None:
    created = nl.new_issue()
    assert created[0].parent == project / "issues" / "2026-11-23" and len(created) == 6


# -- sending ----------------------------------------------------------------------------------------


def test_a_send_is_refused_until_approved_and_with_nobody_to_serve(nl: Newsletter, project: Path) -> None:
    nl.subscribers.add("lea@example.org")
    with pytest.raises(ApprovalRequiredError, match="is not approved"):
        nl.send(DAY)
    nl.subscribers.remove("lea@example.org")
    nl.approve(DAY, by="Camille Martin")
    with pytest.raises(DeliveryError, match="has nobody to go to"):
        nl.send(DAY)
    assert outbox(project) == [] and not nl.status(DAY).started


def test_send_serves_each_active_subscriber_once(nl: Newsletter, project: Path) -> None:
    for address in ("lea@example.org", "paul@example.org"):
        nl.subscribers.add(address)
    nl.approve(DAY, by="Camille Martin")
    report = nl.send(DAY)
    assert type(report).__name__ == "SendReport" and report.complete and report.counts == {"sent": 2}
    assert nl.send(DAY).sent_now == 0 and len(outbox(project)) == 2
    assert nl.waiting(DAY) == 0


def test_a_send_without_approval_is_recorded_with_who_and_why(nl: Newsletter) -> None:
    nl.subscribers.add("lea@example.org")
    with pytest.raises(UsageError, match="give the reason"):
        nl.authorize_send(DAY, without_approval="   ")
    clearance = nl.authorize_send(DAY, without_approval="  l'éditrice  est absente ", by="Dominique Roux")
    assert isinstance(clearance, SendClearance) and clearance.override_by == "Dominique Roux"
    assert clearance.approval_required and not clearance.approval.current
    assert nl.send(DAY, clearance=clearance).counts == {"sent": 1}
    override = nl.status(DAY).override
    assert override is not None and (override.by, override.reason) == ("Dominique Roux", "l'éditrice est absente")
    assert override.at == BEFORE


def test_a_reason_given_for_an_approved_issue_changes_nothing(nl: Newsletter) -> None:
    nl.subscribers.add("lea@example.org")
    nl.approve(DAY, by="Camille Martin")
    clearance = nl.authorize_send(DAY, without_approval="just in case")
    assert clearance.override_needless and not clearance.override_by


def test_send_test_gives_one_copy_per_mailbox_and_records_nothing(nl: Newsletter, project: Path) -> None:
    copies = nl.send_test(["Lea@Example.org", "lea@example.org", "paul@example.org"], DAY)
    assert copies == [ProofCopy("lea@example.org", True), ProofCopy("paul@example.org", True)]
    assert len(outbox(project)) == 2 and not nl.status(DAY).started
    with pytest.raises(UsageError, match="address"):
        nl.send_test(["pas-une-adresse"], DAY)


def test_dry_run_counts_builds_a_sample_and_says_whether_send_would_refuse(nl: Newsletter, project: Path) -> None:
    nl.subscribers.add("helene@example.org", first_name="Hélène")
    plan = nl.dry_run(DAY)
    assert isinstance(plan, DryRunResult) and (plan.recipients, plan.already_served) == (1, 0)
    assert plan.adapter == "outbox" and plan.sample_to == "helene@example.org" and b"List-Unsubscribe" in plan.sample
    assert plan.refused_until_approved and outbox(project) == []
    nl.approve(DAY, by="Camille Martin")
    assert not nl.dry_run(DAY).refused_until_approved


def test_schedule_once_stores_a_job_and_refuses_a_time_past_by_the_clock(nl: Newsletter) -> None:
    job = nl.schedule_once(BEFORE + timedelta(hours=2), DAY)
    assert job.startswith(f"once-{DAY.isoformat()}-")
    assert [name for name, _ in nl.schedule_view(1).once] == [f"send {DAY} once"]
    with pytest.raises(ConfigError, match="is in the past"):
        nl.schedule_once(BEFORE - timedelta(minutes=1), DAY)


# -- reading ------------------------------------------------------------------------------------------


def test_status_carries_what_the_status_command_shows(nl: Newsletter) -> None:
    before = nl.status(DAY)
    assert isinstance(before, IssueStatus) and not before.started and before.counts == {}
    assert before.schedule.gate == "waiting approval" and before.attention == ""
    nl.subscribers.add("lea@example.org")
    nl.approve(DAY, by="Camille Martin")
    nl.send(DAY)
    after = nl.status(DAY)
    assert after.started_at == BEFORE and after.finished_at == BEFORE and after.counts == {"sent": 1}
    shown = json.loads(json.dumps(after.to_dict()))
    assert shown["counts"] == {"sent": 1} and shown["started_at"] == "2026-11-23T13:00:00+01:00"
    assert shown["approval"]["by"] == "Camille Martin" and shown["schedule"]["gate"] == "sent"
    assert set(shown) == {"date", "started", "counts", "started_at", "finished_at", "problems", "approval",
                          "without_approval", "schedule", "paused", "pauses", "feedback", "workers", "uncertain",
                          "resends"}
    assert shown["uncertain"] == [] and shown["resends"] == []
    assert shown["workers"] == []  # the run has ended: no live worker
    assert shown["paused"] is None and shown["feedback"] == {
        "bounced": 0, "complained": 0, "unsubscribed": 0, "complaint_rate": 0.0,
        "complaint_rate_above_gmail_line": False, "bounce_reasons": []}


def test_status_counts_the_ledgers_rows_per_state_once(nl: Newsletter) -> None:
    """The figures, the schedule's gate and the feedback line all show the rows per state: counted
    once and shared (on a 1,000,000-row send each count was a tenth of a second, three per status)."""
    from sqlalchemy import event

    nl.subscribers.add("lea@example.org")
    nl.subscribers.add("noe@example.org")
    nl.approve(DAY, by="Camille Martin")
    nl.send(DAY)
    counted: list[str] = []

    def remember(_conn: object, _cursor: object, statement: str, *_rest: object) -> None:
        if re.search(r"GROUP BY (deliveries\.send_id, )?deliveries\.status(\s|$)", statement):
            counted.append(statement)

    event.listen(nl.store.engine, "before_cursor_execute", remember)
    try:
        shown = nl.status(DAY)
    finally:
        event.remove(nl.store.engine, "before_cursor_execute", remember)
    assert shown.counts == {"sent": 2} and shown.schedule.gate == "sent" and shown.figures is not None
    assert shown.figures.sent == 2 and shown.figures.recipients == 2
    assert len(counted) == 1


def test_status_calls_for_attention_once_the_grace_period_is_over(project: Path) -> None:
    issue = nl_at(project, LATE).status(DAY)
    assert re.search(r"it was due at 2026-11-24 07:00 CET and was not sent", issue.attention)


def test_history_lists_the_sends_newest_first(nl: Newsletter, project: Path) -> None:
    assert nl.history() == []
    nl.subscribers.add("lea@example.org")
    nl.approve(DAY, by="Camille Martin")
    nl.send(DAY)
    [row] = nl.history()
    assert isinstance(row, HistoryRow) and (row.day, row.recipients, row.sent) == (DAY, 1, 1)


def test_schedule_view_lists_the_next_due_times_with_the_gate(nl: Newsletter) -> None:
    view = nl.schedule_view(3)
    assert isinstance(view, ScheduleView) and view.cron == "0 7 * * mon-fri" and view.require_approval
    assert [run.at.date() for run in view.upcoming] == [date(2026, 11, 24), date(2026, 11, 25), date(2026, 11, 26)]
    assert view.upcoming[0].readiness.state == "waiting approval" and view.once == []


def test_the_web_app_and_the_scheduler_are_built_from_the_same_parts(nl: Newsletter) -> None:
    from newsletter.frontends.web.app import create_app

    app = create_app(nl)
    assert app.test_client().get("/healthz").status_code == 200
    from newsletter.frontends.scheduler import Scheduler

    scheduler = Scheduler(nl)
    assert scheduler.store is nl.store and scheduler.secret_key == SECRET and scheduler.clock() == BEFORE


# -- subscribers --------------------------------------------------------------------------------------


def test_subscribers_add_remove_search_and_count(nl: Newsletter) -> None:
    added = nl.subscribers.add("Helene.Martin@Example.org", first_name="Hélène")
    assert isinstance(added, SubscriberChange) and added.created
    assert added.record.email == "helene.martin@example.org" and added.record.consent_at == BEFORE
    assert not nl.subscribers.add("helene.martin@example.org", last_name="Martin").created
    nl.subscribers.add("paul@example.org")
    removed = nl.subscribers.remove("PAUL@example.org")
    assert removed.record.status == "unsubscribed" and removed.record.unsubscribed_at == BEFORE
    with pytest.raises(Exception, match="is unsubscribed and is not added back"):
        nl.subscribers.add("paul@example.org")
    assert [s.email for s in nl.subscribers.search("MARTIN")] == ["helene.martin@example.org"]
    assert isinstance(nl.subscribers.get("paul@example.org"), SubscriberRecord)
    assert nl.subscribers.count(status="active") == 1
    assert nl.subscribers.count_by_status() == {"active": 1, "unsubscribed": 1}
    with pytest.raises(UsageError, match="first_name contains a control character"):
        nl.subscribers.add("jean@example.org", first_name="Jean\nBcc: x@example.org")


def test_subscribers_import_then_export_round_trip(nl: Newsletter, tmp_path: Path) -> None:
    source = write(tmp_path / "contacts.csv", "email;prénom\nlea@example.org;Léa\npas-une-adresse;X\n")
    preview = nl.subscribers.import_csv(source, dry_run=True)
    assert isinstance(preview, ImportSummary) and (preview.added, preview.rejected) == (1, 1)
    assert nl.subscribers.count() == 0
    assert nl.subscribers.import_csv(source, source="salon").added == 1
    exported = nl.subscribers.export(tmp_path / "out.csv")
    assert isinstance(exported, ExportResult) and exported.count == 1
    text = exported.path.read_text(encoding="utf-8-sig")
    assert "lea@example.org" in text and "salon" in text


# -- the library page's example ------------------------------------------------------------------------


def library_example() -> str:
    """The first Python block of docs/library.md ("Using it as a library")."""
    text = (REPO / "docs" / "library.md").read_text(encoding="utf-8")
    match = re.search(r"```python\n(.*?)```", text, re.DOTALL)
    assert match, "docs/library.md has no ```python block"
    return match.group(1)


def test_the_library_pages_example_runs_as_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    Newsletter.create(tmp_path / "ma-lettre")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NEWSLETTER_SECRET_KEY", SECRET)
    namespace: dict[str, object] = {"__name__": "library_example"}
    exec(compile(library_example(), "docs/library.md", "exec"), namespace)
    imported, status = namespace["imported"], namespace["status"]
    assert isinstance(imported, ImportSummary) and isinstance(status, IssueStatus)
    assert imported.added > 0 and status.counts == {"sent": imported.added}
    assert len(list((tmp_path / "ma-lettre" / "out" / "outbox" / "new").iterdir())) == imported.added
    assert f"{imported.added} added" in capsys.readouterr().out
