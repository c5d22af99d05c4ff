"""Export: spreadsheet-safe cells, a BOM, a round trip, and an atomic write."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Iterator, Mapping

import pytest

from zoneinfo import ZoneInfo

from newsletter.audience.csv_reader import CandidateRow, RejectedRow, read_subscriber_csv
from newsletter.audience.export import EXPORT_COLUMNS, neutralize, write_subscriber_csv
from newsletter.store.database import Store, open_store
from newsletter.store.models import Subscriber
from newsletter.store.subscribers import import_rows, list_subscribers

WHEN = datetime(2026, 3, 14, 9, 0, tzinfo=timezone.utc)
LATER = datetime(2026, 11, 24, 6, 0, tzinfo=timezone.utc)


def record(email: str, first: str = "Hélène", last: str = "Dubois") -> dict[str, object]:
    return {"email": email, "first_name": first, "last_name": last, "status": "active", "consent_at": WHEN,
            "consent_source": "salon", "created_at": WHEN, "unsubscribed_at": None}


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r", "\n", " =", "  +", "\n=", "\r\n@", "\t=", "\u00a0=",
                                   "\uff1d", "\x00", "'"])
def test_formula_cells_are_neutralized(start: str) -> None:
    assert neutralize(f"{start}HYPERLINK(1)") == f"'{start}HYPERLINK(1)"


@pytest.mark.parametrize("value", ["Jean-Pierre", "O'Brien", " Jean", "", "2026-03-14"])
def test_plain_cells_are_left_alone(value: str) -> None:
    assert neutralize(value) == value


def test_export_has_a_bom_and_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    assert write_subscriber_csv(path, iter([record("helene@example.org"), record("x@example.org", "=1+1")])) == 2
    data = path.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf") and b"'=1+1" in data and b"2026-03-14T09:00:00+00:00" in data
    rows = [r for r in read_subscriber_csv(path) if isinstance(r, CandidateRow)]
    # The export's apostrophe is removed again; the import drops the formula trigger as always.
    assert [(r.email, r.first_name) for r in rows] == [("helene@example.org", "Hélène"), ("x@example.org", "1+1")]


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


# -- the round trip restores the list: statuses, consent, suppressions ---------------------------

PEOPLE = [
    # email, first, last, status, consent_at, source, ip, created_at, unsubscribed_at
    ("active@example.org", "Hélène", "Dubois", "active", WHEN, "salon", "203.0.113.7", WHEN, None),
    ("+g3@example.org", "Gaëlle", "", "active", WHEN, "web (double opt-in)", "", WHEN, None),
    ("-moins@example.org", "'quote", "O'Brien", "active", WHEN, "import", "", WHEN, None),
    ("pending@example.org", "Paul", "", "pending", None, "web", "198.51.100.2", WHEN, None),
    ("parti@example.org", "Pierre", "Martin", "unsubscribed", WHEN, "salon", "", WHEN,
     datetime(2026, 6, 1, 8, 30, tzinfo=timezone.utc)),
    ("rebond@example.org", "", "", "bounced", WHEN, "import", "", WHEN, None),
    ("plainte@example.org", "", "", "complained", WHEN, "import", "", WHEN, None),
    # 02:30 happens twice in Paris on 25 October 2026: this is the second one (CET, 01:30 UTC).
    ("automne@example.org", "", "", "active", datetime(2026, 10, 25, 1, 30, tzinfo=timezone.utc), "web", "", WHEN,
     None),
]


def _store_with(tmp_path: Path, name: str, people: list[tuple[object, ...]]) -> Store:
    store = open_store(f"sqlite:///{name}.db", tmp_path)
    with store.session() as session:
        for email, first, last, status, consent, source, ip, created, left in people:
            session.add(Subscriber(email=email, first_name=first, last_name=last, status=status, consent_at=consent,
                                   consent_source=source, consent_ip=ip, created_at=created, updated_at=WHEN,
                                   unsubscribed_at=left))
    return store


def _export(store: Store, path: Path, excel_fr: ZoneInfo | None) -> None:
    write_subscriber_csv(path, ({c: getattr(s, c) for c in EXPORT_COLUMNS} for s in list_subscribers(store)),
                         excel_fr=excel_fr)


@pytest.mark.parametrize("excel_fr", [None, ZoneInfo("Europe/Paris")], ids=["csv", "excel-fr"])
def test_export_then_import_into_a_new_store_restores_the_list(tmp_path: Path, excel_fr: ZoneInfo | None) -> None:
    old = _store_with(tmp_path, "old", PEOPLE)
    path = tmp_path / "export.csv"
    _export(old, path, excel_fr)
    new = open_store("sqlite:///new.db", tmp_path)
    summary = import_rows(new, read_subscriber_csv(path, default_timezone="Europe/Paris"), now=LATER)
    assert list(list_subscribers(new)) == list(list_subscribers(old))
    assert (summary.added, summary.suppressed, summary.rejected) == (5, 3, 0)
    old.close()
    new.close()


def test_an_imported_suppression_never_becomes_or_stays_active(tmp_path: Path) -> None:
    source = _store_with(tmp_path, "source", [p for p in PEOPLE if p[3] in ("unsubscribed", "bounced")])
    path = tmp_path / "suppressions.csv"
    _export(source, path, None)
    target = _store_with(tmp_path, "target", [
        ("parti@example.org", "Pierre", "Martin", "active", WHEN, "salon", "", WHEN, None),
    ])
    summary = import_rows(target, read_subscriber_csv(path), now=LATER)
    status = {s.email: (s.status, s.unsubscribed_at) for s in list_subscribers(target)}
    assert status == {"parti@example.org": ("unsubscribed", datetime(2026, 6, 1, 8, 30, tzinfo=timezone.utc)),
                      "rebond@example.org": ("bounced", None)}
    assert summary.suppressed == 2 and summary.added == 0
    # and a later plain file (no status column) does not bring them back
    plain = tmp_path / "plain.csv"
    plain.write_text("email,first_name\nparti@example.org,Pierre\nrebond@example.org,R\n", encoding="utf-8")
    assert import_rows(target, read_subscriber_csv(plain), now=LATER + timedelta(days=1)).kept_out == 2
    assert {s.status for s in list_subscribers(target)} == {"unsubscribed", "bounced"}
    source.close()
    target.close()


def test_a_file_with_an_unknown_status_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("email,status\na@example.org,active\nb@example.org,parti\n", encoding="utf-8")
    rows = list(read_subscriber_csv(path))
    assert isinstance(rows[1], RejectedRow) and rows[1].line == 3 and "status 'parti' is not one of" in rows[1].reason


def test_excel_fr_export_uses_semicolons_and_local_dates(tmp_path: Path) -> None:
    path = tmp_path / "excel.csv"
    write_subscriber_csv(path, iter([record("helene@example.org")]), excel_fr=ZoneInfo("Europe/Paris"))
    lines = path.read_bytes().decode("utf-8-sig").splitlines()
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")
    assert lines[0] == ";".join(EXPORT_COLUMNS)
    assert lines[1] == "helene@example.org;Hélène;Dubois;active;14/03/2026 10:00:00;salon;;14/03/2026 10:00:00;;;"
