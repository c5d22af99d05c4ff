"""Readers choose (issue 28) on the command line: holidays in ``schedule show`` and ``send --at``,
``subscribers erase``, the export and import of frequency and pause, ``import --welcome``."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from newsletter import Newsletter
from newsletter.config import load_settings
from newsletter.schedule.due import latest_due, next_runs
from newsletter.store.database import Store
from newsletter.store.subscribers import add_subscriber, find_subscriber
from tests.conftest import SECRET
from tests.helpers.clock import NOW
from tests.helpers.config import set_options
from tests.helpers.sending import smtp_config
from tests.sink import Sink

CHRISTMAS_EVE = datetime(2026, 12, 24, 12, 0, tzinfo=timezone.utc)  # a Thursday; Christmas is a Friday


def test_no_due_time_on_a_public_holiday_and_schedule_show_names_it(project: Path, cli) -> None:  # type: ignore[no-untyped-def]
    set_options(project, "schedule", skip_holidays="FR-57", cron="0 7 * * mon-fri")
    settings = load_settings(project)
    days = [run.date().isoformat() for run in next_runs(settings, CHRISTMAS_EVE, 3)]
    assert days == ["2026-12-28", "2026-12-29", "2026-12-30"]  # the 25th (Noël) and 26th (Saint-Étienne, Moselle)
    assert latest_due(settings, datetime(2026, 12, 25, 6, 30, tzinfo=timezone.utc)) is None
    code, out, _err = cli("schedule", "show", "--count", "2", clock=lambda: CHRISTMAS_EVE)
    assert code == 0 and "Fri 2026-12-25 07:00 CET  jour férié: Noël" in out
    assert "Mon 2026-12-28" in out
    code, out, _err = cli("status", "2026-12-25", clock=lambda: CHRISTMAS_EVE)
    assert "no due time that day: jour férié, Noël" in out


def test_an_unknown_holiday_country_is_a_clear_configuration_error(project: Path, cli) -> None:  # type: ignore[no-untyped-def]
    set_options(project, "schedule", skip_holidays="FR-99")
    code, _out, err = cli("schedule", "show")
    assert code == 2 and "[schedule] skip_holidays 'FR-99'" in err and "FR-57" in err


def test_a_one_off_send_on_a_holiday_is_allowed_with_a_warning(project: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    from newsletter.frontends.cli import _parse_time

    set_options(project, "schedule", skip_holidays="FR")
    when = _parse_time("2026-12-25 07:00", Newsletter.open(project))
    assert when.date().isoformat() == "2026-12-25"
    assert "public holiday (jour férié: Noël)" in capsys.readouterr().err


def test_export_and_import_carry_frequency_and_pause(project: Path, store: Store, cli) -> None:  # type: ignore[no-untyped-def]
    add_subscriber(store, "weekly@example.org", now=NOW)
    add_subscriber(store, "paused@example.org", now=NOW)
    nl = Newsletter(load_settings(project), store=store, secret_key=SECRET, clock=lambda: NOW)
    nl.readers.set_frequency("weekly@example.org", "weekly")
    until = nl.readers.pause("paused@example.org", 4).paused_until
    code, _out, _err = cli("subscribers", "export", str(project / "out.csv"))
    assert code == 0
    header = (project / "out.csv").read_text(encoding="utf-8-sig").splitlines()[0]
    assert header.endswith(",frequency,paused_until")
    fresh = project / "fresh"
    fresh.mkdir()
    from newsletter.store.database import open_store

    second = open_store("sqlite:///fresh.db", fresh)
    try:
        copy = Newsletter(load_settings(project), store=second, secret_key=SECRET, clock=lambda: NOW)
        summary = copy.subscribers.import_csv(project / "out.csv")
        assert summary.added == 2 and summary.rejected == 0
        assert find_subscriber(second, "weekly@example.org").frequency == "weekly"  # type: ignore[union-attr]
        assert find_subscriber(second, "paused@example.org").paused_until == until  # type: ignore[union-attr]
    finally:
        second.close()
    bad = project / "bad.csv"
    bad.write_text("email,frequency\nx@example.org,hourly\n", encoding="utf-8")
    code, out, _err = cli("subscribers", "import", str(bad))
    assert "bad.csv:2: frequency 'hourly' is not one of daily, weekly" in out


def test_erase_on_the_command_line_then_a_reimport_is_kept_out(project: Path, store: Store, cli) -> None:  # type: ignore[no-untyped-def]
    add_subscriber(store, "parti@example.org", now=NOW)
    code, out, _err = cli("subscribers", "erase", "parti@example.org", "--yes")
    assert code == 0 and "Erased parti@example.org" in out and find_subscriber(store, "parti@example.org") is None
    code, _out, err = cli("subscribers", "erase", "parti@example.org", "--yes")
    assert code == 1 and "not in the subscriber list" in err  # a replay is refused
    (project / "again.csv").write_text("email\nparti@example.org\n", encoding="utf-8")
    code, out, _err = cli("subscribers", "import", str(project / "again.csv"))
    assert code == 0 and "0 added" in out and "1 unsubscribed/bounced/erased kept out" in out
    code, _out, err = cli("subscribers", "add", "parti@example.org")
    assert code == 1 and "erased their data" in err


def test_import_welcome_greets_each_added_row_once(project: Path, store: Store, cli, sink: Sink) -> None:  # type: ignore[no-untyped-def]
    smtp_config(project, sink.port)
    add_subscriber(store, "deja@example.org", now=NOW)
    (project / "new.csv").write_text("email\ndeja@example.org\nneuf@example.org\n", encoding="utf-8")
    for _ in range(2):
        code, _out, _err = cli("subscribers", "import", str(project / "new.csv"), "--welcome")
        assert code == 0
    assert [(m["To"], m["Subject"]) for m in sink.recorder.messages] == [
        ("neuf@example.org", "Bienvenue dans 5 infos relation client !")]
