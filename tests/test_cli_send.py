"""The sending commands end to end through the CLI: subscribers, send, status."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from newsletter.cli import main
from tests.conftest import DAY, SECRET


@pytest.fixture
def cli(project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("NEWSLETTER_SECRET_KEY", SECRET)

    def run(*args: str) -> tuple[int, str, str]:
        code = main(["--project", str(project), *args])
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


def test_add_send_status_and_rerun(cli, project: Path) -> None:  # type: ignore[no-untyped-def]
    for address in ("Helene.Martin@Example.org", "paul@example.org"):
        assert cli("subscribers", "add", address, "--first-name", "Hélène")[0] == 0
    code, out, _ = cli("subscribers", "list")
    assert code == 0 and "helene.martin@example.org" in out and "2 active" in out
    code, out, _ = cli("send", DAY.isoformat(), "--dry-run")
    assert code == 0 and "2 would receive it now" in out and "List-Unsubscribe-Post" in out
    assert "Nothing was sent" in out
    code, out, _ = cli("send", DAY.isoformat())
    assert code == 0 and "2 sent, 0 failed, 0 pending" in out and "out/outbox/new" in out
    code, out, _ = cli("send", DAY.isoformat())
    assert code == 0 and "this run: 0 sent" in out
    code, out, _ = cli("status", DAY.isoformat(), "--json")
    assert json.loads(out)["counts"] == {"sent": 2}


def test_remove_keeps_the_record_and_add_cannot_bring_them_back(cli) -> None:  # type: ignore[no-untyped-def]
    cli("subscribers", "add", "parti@example.org")
    assert cli("subscribers", "remove", "PARTI@example.org")[0] == 0
    code, _, err = cli("subscribers", "add", "parti@example.org")
    assert code == 1 and "is unsubscribed and is not added back" in err
    code, out, _ = cli("subscribers", "list", "--status", "unsubscribed")
    assert "parti@example.org" in out


def test_send_without_secret_key_is_a_config_error(cli, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delenv("NEWSLETTER_SECRET_KEY")
    code, _, err = cli("send", DAY.isoformat())
    assert code == 2 and "NEWSLETTER_SECRET_KEY is not set" in err


def test_status_before_any_send(cli) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = cli("status", DAY.isoformat())
    assert code == 0 and "has not been sent" in out


@pytest.mark.parametrize("address", ["pas-une-adresse", "a@b", "x@example.org\r\nBcc: y@example.org"])
def test_invalid_addresses_are_refused(cli, address: str) -> None:  # type: ignore[no-untyped-def]
    code, _, err = cli("subscribers", "add", address)
    assert code == 1 and "is not a valid address" in err


def test_test_send_is_not_recorded(cli, project: Path) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = cli("send", DAY.isoformat(), "--test", "relecture@example.org")
    assert code == 0 and "[TEST] relecture@example.org: sent" in out
    code, out, _ = cli("status", DAY.isoformat())
    assert "has not been sent" in out


def test_import_an_excel_export_then_export_it(cli, project: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from tests.audience.test_csv_reader import EXCEL_FR

    source = tmp_path / "export excel.csv"
    source.write_bytes(EXCEL_FR)
    code, out, _ = cli("subscribers", "import", str(source), "--dry-run")
    assert code == 0 and "Would import" in out and "2 added" in out and "Nothing was written" in out
    assert cli("subscribers", "list")[1].strip() == "No subscribers yet."
    code, out, _ = cli("subscribers", "import", str(source))
    assert code == 0
    assert "2 added, 0 updated, 0 unchanged, 1 duplicates merged, 0 unsubscribed/bounced kept out, 4 rejected" in out
    assert f"{source}:5: 'jean.dupont@' is not a valid address" in out
    cli("subscribers", "remove", "helene.dubois@example.org")
    code, out, _ = cli("subscribers", "import", str(source))
    assert "1 unsubscribed/bounced kept out" in out
    exported = tmp_path / "out.csv"
    assert cli("subscribers", "export", str(exported))[0] == 0
    text = exported.read_text(encoding="utf-8-sig")
    assert "helene.dubois@example.org,Hélène,Dubois,unsubscribed" in text


def test_import_of_a_file_without_email_column(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    source = tmp_path / "contacts.csv"
    source.write_text("nom;prénom\nDupont;Jean\n", encoding="utf-8")
    code, _, err = cli("subscribers", "import", str(source))
    assert code == 1 and "no email column" in err and "Traceback" not in err


def test_demo_csv_imports_cleanly(cli) -> None:  # type: ignore[no-untyped-def]
    from tests.conftest import REPO

    code, out, _ = cli("subscribers", "import", str(REPO / "subscribers.example.csv"))
    assert code == 0 and "12 added" in out and "0 rejected" in out


def test_switching_to_a_mail_api_is_config_only(cli, project: Path,  # type: ignore[no-untyped-def]
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.fakes import KEY, FakeSendGrid, api_config

    with FakeSendGrid() as fake:
        config = project / "newsletter.toml"
        config.write_text(config.read_text(encoding="utf-8").replace(
            'adapter = "outbox"\nrate_per_second = 20\n', api_config("sendgrid", fake.base_url)), encoding="utf-8")
        cli("subscribers", "add", "lea@example.org", "--first-name", "Léa")
        monkeypatch.setenv("SENDGRID_API_KEY", "not-the-key")
        code, _, err = cli("send", DAY.isoformat())
        assert code == 2 and "sendgrid answered 401" in err and "not-the-key" not in err
        monkeypatch.setenv("SENDGRID_API_KEY", KEY)
        code, _, _ = cli("send", DAY.isoformat(), "--test", "relecture@example.org")
        assert code == 0 and fake.inbox[-1].subject.startswith("[TEST] ")
        code, out, _ = cli("send", DAY.isoformat())
        assert code == 0 and "1 sent, 0 failed" in out
    assert [m.to for m in fake.inbox] == ["relecture@example.org", "lea@example.org"]
    assert "Bonjour Léa," in fake.inbox[-1].text


def test_the_summary_names_every_state_so_that_it_adds_up() -> None:
    from newsletter.cli import _status_line
    from newsletter.dispatch import SendReport

    report = SendReport(DAY, counts={"sent": 963, "sending": 1, "queued": 2, "pending": 34})
    line = _status_line(report)
    assert "963 sent, 0 failed, 36 pending, 1 in flight, 0 uncertain, 0 skipped, 1000 in all" in line
    assert not report.complete


def test_a_send_that_ends_while_another_live_run_holds_rows_waits_for_it_and_exits_0(
        cli, project: Path) -> None:  # type: ignore[no-untyped-def]
    """The other run is alive (its lease is valid): its rows are its own; the issue ends complete."""
    import threading
    import time
    from datetime import datetime, timezone

    from newsletter.store import leases, ledger
    from newsletter.store.database import open_store
    from newsletter.store.models import DeliveryStatus
    from newsletter.store.subscribers import add_subscriber

    store = open_store("sqlite:///state/newsletter.db", project)
    now = datetime.now(timezone.utc)
    for i in range(6):
        add_subscriber(store, f"lecteur{i}@example.org", now=now)
    send_id = ledger.send_for(store, DAY, "Objet", now)
    ledger.enqueue(store, send_id, now)
    other = ledger.new_run_id()
    leases.acquire(store, other, now)
    held = [c.delivery_id for c in ledger.claim(store, send_id, other, 2, now)]

    def other_run_finishes_after_the_rest() -> None:
        deadline = time.monotonic() + 30
        while ledger.counts(store, send_id).get("sent", 0) < 4 and time.monotonic() < deadline:
            time.sleep(0.05)
        at = datetime.now(timezone.utc)
        ledger.mark_sending(store, held, at)
        ledger.record(store, [ledger.Outcome(i, DeliveryStatus.SENT) for i in held], at)

    thread = threading.Thread(target=other_run_finishes_after_the_rest)
    thread.start()
    try:
        code, out, err = cli("send", DAY.isoformat())
    finally:
        thread.join(timeout=60)
    assert code == 0, out + err
    assert "6 sent, 0 failed, 0 pending, 0 in flight, 0 uncertain, 0 skipped, 6 in all" in out
    assert "this run: 4 sent" in out
    store.close()
