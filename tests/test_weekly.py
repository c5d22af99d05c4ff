"""The weekly roundup (issue 28): ``weekly build [WEEK]`` writes ``issues/SUNDAY-hebdo/`` from the week's
sent issues (by readers' clicks, else the editors' ``weekly: true``, else each day's first item); it is
approved and sent like any issue, to the weekly readers only, and the daily sends keep skipping them."""

from __future__ import annotations

import email
import email.policy
import shutil
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Iterator

import pytest

from newsletter import Newsletter
from newsletter.config import load_settings
from newsletter.errors import ConfigError, ContentError, ScaffoldError, UsageError
from newsletter.store.database import Store, open_store
from newsletter.store.readers import set_preferences
from newsletter.store.subscribers import add_subscriber
from tests.conftest import DAY, FIXTURES, SECRET
from tests.helpers.config import set_options

#: The ISO week of DAY (Tuesday 2026-11-24): Monday 23 to Sunday 29 November.
WEEK = "2026-W48"
DAYS = [date(2026, 11, 23), DAY, date(2026, 11, 25)]
ROUNDUP = "2026-11-29-hebdo"


def _at(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 6, 0, tzinfo=timezone.utc)


@pytest.fixture
def week_store(project: Path) -> Iterator[Store]:
    store = open_store("sqlite:///state/newsletter.db", project)
    yield store
    store.close()


def _send_week(project: Path, store: Store, *, flag: tuple[date, int] | None = None) -> None:
    """Three daily issues of the week, each with its own titles, approved and sent to both readers."""
    add_subscriber(store, "quotidien@example.org", now=_at(DAYS[0]) - timedelta(days=1))
    add_subscriber(store, "hebdo@example.org", now=_at(DAYS[0]) - timedelta(days=1))
    set_preferences(store, "hebdo@example.org", now=_at(DAYS[0]) - timedelta(days=1), frequency="weekly")
    for day in DAYS:
        folder = project / "issues" / day.isoformat()
        if day != DAY:
            shutil.copytree(FIXTURES / "issue", folder)
        for item in sorted(folder.glob("0*.md")):
            text = item.read_text(encoding="utf-8").replace('title: "', f'title: "{day.day} — ', 1)
            if flag == (day, int(item.name[:2])):
                text = text.replace("---\n", "---\nweekly: true\n", 1)
            item.write_text(text, encoding="utf-8")
        with Newsletter(load_settings(project), store=store, secret_key=SECRET, clock=lambda d=day: _at(d)) as nl:
            nl.approve(day, by="Camille Martin")
            report = nl.send(day)
            assert report.complete and report.counts == {"sent": 1}  # the daily reader only


def _nl(project: Path, store: Store, day: date = date(2026, 11, 27)) -> Newsletter:
    return Newsletter(load_settings(project), store=store, secret_key=SECRET, clock=lambda: _at(day))


def _titles(folder: Path) -> list[str]:
    return [line.split('"')[1] for p in sorted(folder.glob("0*.md"))
            for line in p.read_text(encoding="utf-8").splitlines() if line.startswith("title:")]


def test_without_clicks_or_flags_it_takes_each_days_first_item(project: Path, week_store: Store) -> None:
    set_options(project, "analytics", clicks=False)
    _send_week(project, week_store)
    built = _nl(project, week_store).weekly_build(WEEK)
    assert str(built.issue) == ROUNDUP and built.folder == project / "issues" / ROUNDUP and built.by == "first items"
    # Each day's first item, then (five items an issue) the second items of the first days.
    assert [(c.day, c.item.number) for c in built.chosen] == [(DAYS[0], 1), (DAYS[0], 2), (DAY, 1), (DAY, 2),
                                                              (DAYS[2], 1)]
    assert _titles(built.folder)[0] == "23 — Le service client par bot ne convainc pas"
    assert (built.folder / "images" / "barres.png").is_file()
    assert "semaine du 23 novembre au 29 novembre 2026" in (built.folder / "issue.yaml").read_text(encoding="utf-8")
    checked = _nl(project, week_store).check(built.issue)
    assert checked.ok, [p.message for p in checked.problems if p.severity == "error"]


def test_the_editors_flags_choose_when_there_are_no_clicks(project: Path, week_store: Store) -> None:
    set_options(project, "analytics", clicks=False)
    _send_week(project, week_store, flag=(DAY, 3))
    built = _nl(project, week_store).weekly_build(WEEK)
    assert built.by == "flags" and (DAY, 3) in [(c.day, c.item.number) for c in built.chosen]
    assert (DAY, 2) not in [(c.day, c.item.number) for c in built.chosen]  # the flag comes before the fill
    assert all("weekly:" not in p.read_text(encoding="utf-8") for p in built.folder.glob("0*.md"))


def test_readers_clicks_choose_first(project: Path, week_store: Store) -> None:
    from newsletter.store import clicks as stored

    _send_week(project, week_store, flag=(DAY, 3))
    picks = {(DAYS[0], 2): 3, (DAYS[2], 4): 2, (DAY, 5): 1}
    rows = []
    for (day, position), readers in picks.items():
        link = next(r for r in stored.links_of(week_store, day.isoformat()) if r.position == position)
        rows += [stored.ClickRow(day.isoformat(), position, link.link, f"n{position}{n}", _at(day) + timedelta(hours=2),
                                 "GET", "") for n in range(readers)]
    stored.record(week_store, rows)
    built = _nl(project, week_store).weekly_build(WEEK)
    assert built.by == "clicks"
    top = sorted(built.chosen, key=lambda c: -c.clicks)[:3]
    assert [(c.day, c.item.number, c.clicks) for c in top] == [(DAYS[0], 2, 3), (DAYS[2], 4, 2), (DAY, 5, 1)]
    assert len(built.chosen) == 5


def test_the_roundup_goes_to_the_weekly_readers_only(project: Path, week_store: Store) -> None:
    set_options(project, "analytics", clicks=False)
    _send_week(project, week_store)
    with _nl(project, week_store) as nl:
        built = nl.weekly_build(WEEK)
        nl.approve(built.issue, by="Camille Martin")
        report = nl.send(built.issue)
        assert report.complete and report.counts == {"sent": 1}
    box = project / "out" / "outbox" / "new"
    messages = [email.message_from_bytes(p.read_bytes(), policy=email.policy.default) for p in box.iterdir()]
    roundup = [m for m in messages if str(m["Subject"]).startswith("La semaine")]
    assert [str(m["To"]) for m in roundup] == ["hebdo@example.org"]
    assert {str(m["To"]) for m in messages if m not in roundup} == {"quotidien@example.org"}  # 3 dailies
    assert len(messages) == 4


def test_refusals_say_what_to_do_and_write_nothing(project: Path, week_store: Store) -> None:
    set_options(project, "analytics", clicks=False)
    with pytest.raises(ContentError, match="no issue was sent in the week"):
        _nl(project, week_store).weekly_build(WEEK)
    assert not (project / "issues" / ROUNDUP).exists()
    for bad in ("2026-48", "2026-W54", "W48", "2026-W48-../x"):
        with pytest.raises(UsageError, match="is not a week"):
            _nl(project, week_store).weekly_build(bad)
    _send_week(project, week_store)
    built = _nl(project, week_store).weekly_build(WEEK)
    intro = built.folder / "issue.yaml"
    intro.write_text(intro.read_text(encoding="utf-8") + "# the editor's words\n", encoding="utf-8")
    with pytest.raises(ScaffoldError, match="not built over an editor.s work") as refused:
        _nl(project, week_store).weekly_build(WEEK)
    assert f"weekly build {WEEK}" in refused.value.hint and "move or delete" in refused.value.hint
    assert "the editor's words" in intro.read_text(encoding="utf-8")


def test_the_default_week_is_the_clocks_in_the_newsletters_zone(project: Path, week_store: Store) -> None:
    set_options(project, "analytics", clicks=False)
    _send_week(project, week_store)
    assert str(_nl(project, week_store, day=date(2026, 11, 29)).weekly_build().issue) == ROUNDUP


def test_the_cli_builds_it(cli, project: Path) -> None:  # type: ignore[no-untyped-def]
    code, _, err = cli("weekly", "build", WEEK)
    assert code == 1 and "no issue was sent in the week" in err
    code, _, err = cli("weekly", "build", "2026-13")
    assert code == 2 and "is not a week" in err


@pytest.mark.parametrize(("cron", "words"), [("0 17 * * 5", "name the weekday"), ("0 17 * * mon-5", "name the weekday"),
                                             ("0 17 * fri", "5 fields"), ("0 25 * * fri", "is not valid")])
def test_weekly_cron_is_checked(project: Path, cron: str, words: str) -> None:
    set_options(project, "weekly", cron=cron)
    with pytest.raises(ConfigError, match=words):
        load_settings(project)


def test_weekly_cron_is_read(project: Path) -> None:
    set_options(project, "weekly", cron="0 17 * * fri")
    assert load_settings(project).weekly.cron == "0 17 * * fri"


def test_the_weekly_flag_is_true_or_false(project: Path, issue_dir: Path) -> None:
    from newsletter.services.check import check_issue

    item = issue_dir / "02-mobile.md"
    item.write_text(item.read_text(encoding="utf-8").replace("---\n", "---\nweekly: oui\n", 1), encoding="utf-8")
    problems = check_issue(load_settings(project), DAY).problems
    assert any("'weekly' is true or false" in str(p) for p in problems)


def test_the_scheduler_builds_it_ahead_alerts_then_sends_it_at_its_time(project: Path, week_store: Store) -> None:
    from newsletter.frontends.scheduler import Scheduler

    set_options(project, "analytics", clicks=False)
    set_options(project, "schedule", alert_to="exploitation@example.org")
    set_options(project, "weekly", cron="0 17 * * fri")
    _send_week(project, week_store)
    box = project / "out" / "outbox" / "new"
    before = set(box.iterdir())
    friday = datetime(2026, 11, 27, 16, 0, tzinfo=timezone.utc)  # 17:00 in Paris, the roundup's due time
    clock = [friday - timedelta(days=2)]
    nl = Newsletter(load_settings(project), store=week_store, secret_key=SECRET, clock=lambda: clock[0])
    scheduler = Scheduler(nl)
    scheduler.heartbeat()  # two days ahead: nothing yet
    assert not (project / "issues" / ROUNDUP).exists()
    clock[0] = friday - timedelta(hours=20)
    scheduler.heartbeat()
    assert (project / "issues" / ROUNDUP / "issue.yaml").is_file()
    alerts = [email.message_from_bytes(p.read_bytes(), policy=email.policy.default) for p in set(box.iterdir()) - before]
    assert [str(m["To"]) for m in alerts] == ["exploitation@example.org"]
    assert ROUNDUP in alerts[0].get_body(("plain",)).get_content()
    assert scheduler.run("daily", None, None) in ("nothing due", "sent", "done")  # the daily job leaves it alone
    assert nl.status(nl.schedule_ops.roundup_of(friday)).counts == {}
    nl.approve(nl.schedule_ops.roundup_of(friday), by="Camille Martin")
    clock[0] = friday + timedelta(minutes=1)
    assert scheduler.run("weekly", None, None) == "done"
    assert nl.status(nl.schedule_ops.roundup_of(friday)).counts == {"sent": 1}
    sent = [email.message_from_bytes(p.read_bytes(), policy=email.policy.default) for p in set(box.iterdir()) - before]
    assert sorted(str(m["To"]) for m in sent) == ["exploitation@example.org", "hebdo@example.org"]
