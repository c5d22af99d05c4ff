"""Special editions (issue 27): ``new DATE --edition SLUG`` makes ``issues/DATE-SLUG/``, every command
that took DATE takes the issue id, and the edition has its own approval, send, ledger, archive page and
feed entry, beside the day's issue and never sent by the daily schedule."""

from __future__ import annotations

import email
import email.policy
import json
import re
import shutil
from datetime import datetime, timezone
from pathlib import Path

import pytest

from newsletter.core.issue_id import IssueId
from newsletter.errors import UsageError
from tests.conftest import DAY

EDITION = f"{DAY.isoformat()}-speciale"


def _write_edition(cli, project: Path) -> Path:  # type: ignore[no-untyped-def]
    """``new --edition``, then the sample issue's items in it, with a subject of its own."""
    code, out, err = cli("new", DAY.isoformat(), "--edition", "speciale")
    assert code == 0, err
    folder = project / "issues" / EDITION
    assert folder.is_dir() and f"newsletter check {EDITION}" in out
    daily = project / "issues" / DAY.isoformat()
    for path in folder.glob("*.md"):
        path.unlink()
    for path in daily.iterdir():
        if path.is_dir():
            shutil.copytree(path, folder / path.name, dirs_exist_ok=True)
        elif path.name != "approval.yaml":
            shutil.copyfile(path, folder / path.name)
    issue = folder / "issue.yaml"
    issue.write_text(issue.read_text(encoding="utf-8").replace("subject:", "subject: Spécial —", 1), encoding="utf-8")
    return folder


def _outbox(project: Path) -> list[str]:
    """The subjects of the messages delivered to the outbox."""
    box = project / "out" / "outbox" / "new"
    return [str(email.message_from_bytes(p.read_bytes(), policy=email.policy.default)["Subject"])
            for p in box.iterdir()]


def test_an_edition_lives_its_own_life_beside_the_days_issue(cli, project: Path) -> None:  # type: ignore[no-untyped-def]
    for address in ("lea@example.org", "paul@example.org"):
        assert cli("subscribers", "add", address)[0] == 0
    _write_edition(cli, project)
    code, out, err = cli("check", EDITION)
    assert code == 0, out + err
    assert cli("approve", EDITION, "--by", "Camille Martin")[0] == 0
    assert (project / "issues" / EDITION / "approval.yaml").is_file()
    assert not (project / "issues" / DAY.isoformat() / "approval.yaml").exists()  # its own approval
    code, out, err = cli("send", EDITION)
    assert code == 0 and "2 sent, 0 failed, 0 pending" in out, out + err
    assert len(_outbox(project)) == 2 and all(s.startswith("Spécial —") for s in _outbox(project))
    # The day's issue is another send: its own approval, its own ledger.
    assert cli("approve", DAY.isoformat(), "--by", "Camille Martin")[0] == 0
    code, out, _ = cli("send", DAY.isoformat())
    assert code == 0 and "2 sent" in out
    assert len(_outbox(project)) == 4
    code, out, _ = cli("status", EDITION, "--json")
    assert json.loads(out)["counts"] == {"sent": 2}
    code, out, _ = cli("history", "--json")
    assert [row["issue"] for row in json.loads(out)][:2] == [DAY.isoformat(), EDITION]
    code, out, _ = cli("send", EDITION)
    assert code == 0 and "this run: 0 sent" in out  # exactly once, as any issue


@pytest.mark.parametrize("text", [f"{DAY.isoformat()}-", "2026-13-01-x", f"{DAY.isoformat()}-ÉTÉ",
                                  f"{DAY.isoformat()}-../x", f"{DAY.isoformat()}-a/b", f"{DAY.isoformat()}--x"])
def test_a_malformed_issue_id_is_refused_clearly(cli, project: Path, text: str) -> None:  # type: ignore[no-untyped-def]
    code, _, err = cli("check", text)
    assert code == 2 and "Traceback" not in err
    assert "is not an issue" in err or "is not an edition name" in err or "is not a date" in err
    assert sorted(p.name for p in (project / "issues").iterdir()) == [DAY.isoformat()]


@pytest.mark.parametrize("slug", ["ÉTÉ", "../x", "a b", "-x", "x-", "", "x" * 41, "Speciale"])
def test_a_bad_edition_slug_is_refused_saying_what_is_allowed(cli, project: Path, slug: str) -> None:  # type: ignore[no-untyped-def]
    code, _, err = cli("new", DAY.isoformat(), "--edition", slug)
    assert code == 2 and "lowercase letters a-z, digits and hyphens" in err and "Traceback" not in err
    assert sorted(p.name for p in (project / "issues").iterdir()) == [DAY.isoformat()]


def test_the_issue_id_is_a_date_with_a_slug() -> None:
    edition, daily = IssueId.parse(EDITION), IssueId.parse(DAY.isoformat())
    assert str(edition) == EDITION and edition.slug == "speciale" and edition.isoformat() == EDITION
    assert daily == DAY and hash(daily) == hash(DAY) and str(daily) == DAY.isoformat()
    assert edition != DAY and DAY != edition and len({edition, DAY}) == 2
    import pickle

    assert pickle.loads(pickle.dumps(edition)) == edition
    with pytest.raises(UsageError, match="not an edition name"):
        IssueId.parse(f"{DAY.isoformat()}-../../etc")


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_migration_0025_keeps_the_sends_and_their_ledger(request: pytest.FixtureRequest, tmp_path: Path,
                                                         kind: str) -> None:
    from sqlalchemy import event, text

    from newsletter.store import dialect, ledger
    from newsletter.store.database import Store, migrate
    from newsletter.store.day_claims import claim_day, day_claim
    from tests.helpers.migrations import database_at, revision_before

    engine = database_at(request, tmp_path, kind, revision_before("_editions.py"))
    if kind == "sqlite":  # as the store opens it: foreign keys enforced (a rebuilt `sends` must not cascade)
        event.listen(engine, "connect", dialect.sqlite_pragmas)
        engine.dispose()
    at = datetime(2026, 11, 24, 6, 0)
    try:
        with engine.begin() as connection:
            connection.execute(text("INSERT INTO sends (id, issue_date, subject, created_at) VALUES (7, :d, 'Objet', :t)"),
                               {"d": DAY, "t": at})
            connection.execute(text("INSERT INTO subscribers (id, email, first_name, last_name, status, consent_source, "
                                    "consent_ip, created_at, updated_at) VALUES (1, 'lea@example.org', '', '', 'active', "
                                    "'test', '', :t, :t)"), {"t": at})
            connection.execute(text("INSERT INTO deliveries (send_id, subscriber_id, email, status, last_error, "
                                    "created_at, updated_at) VALUES (7, 1, 'lea@example.org', 'sent', '', :t, :t)"),
                               {"t": at})
            connection.execute(text("INSERT INTO day_claims (issue_date, state, run_id, reason, updated_at) "
                                    "VALUES (:d, 'done', 'run-a', '', :t)"), {"d": DAY, "t": at})
        migrate(engine)
        store = Store(engine)
        now = at.replace(tzinfo=timezone.utc)
        assert ledger.find_send(store, DAY) == 7
        with engine.connect() as connection:
            assert connection.execute(text("SELECT send_id, status FROM deliveries")).all() == [(7, "sent")]
            assert connection.execute(text("SELECT edition FROM sends")).scalars().all() == [""]
        edition = IssueId.parse(EDITION)
        assert ledger.find_send(store, edition) is None
        assert ledger.get_or_create_send(store, edition, "Spécial", now) not in (0, 7)
        assert ledger.get_or_create_send(store, DAY, "Objet", now) == 7
        claim = day_claim(store, DAY)
        assert claim is not None and claim.state.value == "done" and day_claim(store, edition) is None
        assert claim_day(store, edition, "run-b", now)  # the edition's claim is its own
    finally:
        engine.dispose()


def test_an_edition_goes_to_the_smtp_server_and_gets_its_archive_page_and_feed_entry(
        cli, project: Path, sink) -> None:  # type: ignore[no-untyped-def]
    import requests
    from xml.etree import ElementTree as ET

    from newsletter.store.database import open_store
    from tests.helpers.web import Service, web_settings

    settings = web_settings(project, sink)
    _write_edition(cli, project)
    assert cli("subscribers", "add", "lea@example.org")[0] == 0
    assert cli("approve", EDITION, "--by", "Camille Martin")[0] == 0
    code, out, err = cli("send", EDITION)
    assert code == 0 and "1 sent" in out, out + err
    [message] = sink.recorder.messages
    assert str(message["Subject"]).startswith("Spécial —") and f"<{EDITION}." in str(message["Message-ID"])
    assert f"/archive/{EDITION}/" in message.get_body(("plain",)).get_content()
    store = open_store(settings.store.url, project)
    try:
        with Service(settings, store) as service:
            page = requests.get(f"{service.url}/archive/{EDITION}/", timeout=30)
            daily = requests.get(f"{service.url}/archive/{DAY.isoformat()}/", timeout=30)
            listing = requests.get(f"{service.url}/archive/", timeout=30).text
            feed = ET.fromstring(requests.get(f"{service.url}/feed.xml", timeout=30).content)
            bad = [requests.get(f"{service.url}/archive/{t}/", timeout=30).status_code
                   for t in (f"{DAY.isoformat()}-", f"{DAY.isoformat()}-ÉTÉ", f"{DAY.isoformat()}-inconnue")]
    finally:
        store.close()
    title = re.search(r"<title>\s*(.*?)\s*</title>", page.text, re.S)
    assert page.status_code == 200 and title is not None and title.group(1).startswith("Spécial —")
    assert daily.status_code == 404  # the day's issue was not sent: the edition's send is not its send
    assert f"/archive/{EDITION}/" in listing and "speciale" in listing
    atom = "{http://www.w3.org/2005/Atom}"
    links = [link.get("href") for link in feed.iter(f"{atom}link")]
    assert f"https://news.example.org/archive/{EDITION}/" in links
    assert bad == [404, 404, 404]


def test_the_daily_schedule_never_sends_an_edition(cli, project: Path) -> None:  # type: ignore[no-untyped-def]
    from newsletter import Newsletter

    _write_edition(cli, project)
    assert cli("subscribers", "add", "lea@example.org")[0] == 0
    assert cli("approve", EDITION, "--by", "Camille Martin")[0] == 0
    with Newsletter.open(project, environ={"NEWSLETTER_SECRET_KEY": "x" * 40}) as nl:
        edition = IssueId.parse(EDITION)
        assert nl.status(edition).schedule.due is None  # no due time: only `send ISSUE` (--at) sends it
        assert nl.status(DAY).schedule.due is not None
        assert [run.readiness.day for run in nl.schedule_view(60).upcoming if run.readiness.day == edition] == []
        assert nl.issues.editions(DAY) == [edition]
    assert not (project / "out" / "outbox" / "new").exists() or not any((project / "out" / "outbox" / "new").iterdir())


def test_the_schedulers_daily_job_sends_the_days_issue_only_and_a_one_off_job_the_edition(
        cli, project: Path) -> None:  # type: ignore[no-untyped-def]
    from datetime import timedelta

    from newsletter import Newsletter
    from newsletter.frontends.scheduler import Scheduler
    from tests.conftest import SECRET

    _write_edition(cli, project)
    assert cli("subscribers", "add", "lea@example.org")[0] == 0
    for issue in (DAY.isoformat(), EDITION):
        assert cli("approve", issue, "--by", "Camille Martin")[0] == 0
    with Newsletter.open(project) as probe:
        due = probe.status(DAY).schedule.due
    assert due is not None
    edition = IssueId.parse(EDITION)
    with Newsletter.open(project, environ={"NEWSLETTER_SECRET_KEY": SECRET},
                         clock=lambda: due + timedelta(minutes=1)) as nl:
        scheduler = Scheduler(nl)
        assert scheduler.run("daily", None, None) == "done"
        assert nl.status(DAY).counts == {"sent": 1} and nl.status(edition).counts == {}
        assert scheduler.run("daily", None, None) == "sent"  # again: still not the edition
        assert nl.status(edition).counts == {}
        assert scheduler.run("once", edition, due) == "done"  # what `send EDITION --at` stores
        assert nl.status(edition).counts == {"sent": 1}
        claim = nl.schedule_ops.day_claim(edition)
        assert claim is not None and claim.day == edition
    assert len(_outbox(project)) == 2


@pytest.mark.parametrize("args, said", [
    (("new", DAY.isoformat(), "--edition", "Spéciale Noël"), "«\u00a0Spéciale Noël\u00a0» n’est pas un nom d’édition"),
    (("check", f"{DAY.isoformat()}-ÉTÉ"), "«\u00a0ÉTÉ\u00a0» n’est pas un nom d’édition"),
    (("check", f"{DAY.isoformat()}-"), "le nom de l’édition après la date est vide"),
])
def test_a_bad_issue_or_edition_name_is_said_in_the_terminals_language(
        cli, monkeypatch: pytest.MonkeyPatch, args: tuple[str, ...], said: str) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("LANG", "fr_FR.UTF-8")
    code, _, err = cli(*args)
    assert code == 2 and said in err, err
