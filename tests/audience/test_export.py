"""Export: spreadsheet-safe cells, a BOM, a round trip, and an atomic write."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator, Mapping

import pytest

from newsletter.audience.csv_reader import CandidateRow, read_subscriber_csv
from newsletter.audience.export import neutralize, write_subscriber_csv

WHEN = datetime(2026, 3, 14, 9, 0, tzinfo=timezone.utc)


def record(email: str, first: str = "Hélène", last: str = "Dubois") -> dict[str, object]:
    return {"email": email, "first_name": first, "last_name": last, "status": "active", "consent_at": WHEN,
            "consent_source": "salon", "created_at": WHEN, "unsubscribed_at": None}


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r"])
def test_formula_cells_are_neutralized(start: str) -> None:
    assert neutralize(f"{start}HYPERLINK(1)") == f"'{start}HYPERLINK(1)"
    assert neutralize("Jean-Pierre") == "Jean-Pierre"


def test_export_has_a_bom_and_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    assert write_subscriber_csv(path, iter([record("helene@example.org"), record("x@example.org", "=1+1")])) == 2
    data = path.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf") and b"'=1+1" in data and b"2026-03-14T09:00:00+00:00" in data
    rows = [r for r in read_subscriber_csv(path) if isinstance(r, CandidateRow)]
    assert [(r.email, r.first_name) for r in rows] == [("helene@example.org", "Hélène"), ("x@example.org", "'=1+1")]


def test_a_failed_export_keeps_the_previous_file(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_text("previous\n", encoding="utf-8")

    def rows() -> Iterator[Mapping[str, object]]:
        yield record("a@example.org")
        raise RuntimeError("database went away")

    with pytest.raises(RuntimeError):
        write_subscriber_csv(path, rows())
    assert path.read_text(encoding="utf-8") == "previous\n"
    assert [p.name for p in tmp_path.iterdir()] == ["export.csv"]
