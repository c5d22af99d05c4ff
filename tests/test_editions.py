"""Special editions (issue 27): ``new DATE --edition SLUG`` makes ``issues/DATE-SLUG/``, every command
that took DATE takes the issue id, and the edition has its own approval, send, ledger, archive page and
feed entry, beside the day's issue and never sent by the daily schedule."""

from __future__ import annotations

import email
import email.policy
import json
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
