"""`send --workers N` and `worker` on SQLite: refused (exit 2) with what to configure, the single-process
path named, nothing created or sent."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import DAY


@pytest.mark.parametrize("args", [("send", DAY.isoformat(), "--workers", "2"), ("worker",), ("worker", "--once")])
def test_workers_on_sqlite_are_refused_with_what_to_configure(cli, project: Path, args: tuple[str, ...]) -> None:  # type: ignore[no-untyped-def]
    code, out, err = cli(*args)
    assert code == 2
    assert '[store] url = "postgresql://' in err and "one process" in err
    assert not (project / "state" / "newsletter.db").exists()  # refused before any database is created
    assert not (project / "out").exists()


def test_one_worker_is_the_single_process_send_on_sqlite(cli, project: Path) -> None:  # type: ignore[no-untyped-def]
    assert cli("approve", DAY.isoformat(), "--by", "Camille Martin")[0] == 0
    assert cli("subscribers", "add", "camille@example.org")[0] == 0
    code, out, _ = cli("send", DAY.isoformat(), "--workers", "1")
    assert code == 0 and "1 sent" in out
