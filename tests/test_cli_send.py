"""The sending commands end to end through the CLI: subscribers, send, status."""

from __future__ import annotations

import email
import email.policy
import json
import logging
import mailbox
import re
import threading
from datetime import datetime, timezone
from pathlib import Path

import pytest

from tests.conftest import DAY, SECRET
from tests.helpers.clock import ticking
from tests.helpers.ledger import mark_sending
from tests.helpers.config import merge_options

#: A weekday far ahead: no due time has come, whatever the day the tests run.
FUTURE = "2099-06-01"


def test_add_send_status_and_rerun(cli, project: Path) -> None:  # type: ignore[no-untyped-def]
    for address in ("Helene.Martin@Example.org", "paul@example.org"):
        assert cli("subscribers", "add", address, "--first-name", "Hélène")[0] == 0
    code, out, _ = cli("subscribers", "list")
    assert code == 0 and "helene.martin@example.org" in out and "2 active" in out
    assert cli("approve", DAY.isoformat(), "--by", "Camille Martin")[0] == 0
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
    cli("approve", DAY.isoformat(), "--by", "Camille Martin")
    monkeypatch.delenv("NEWSLETTER_SECRET_KEY")
    code, _, err = cli("send", DAY.isoformat())
    assert code == 2 and "NEWSLETTER_SECRET_KEY is not set" in err


def test_status_before_any_send(cli) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = cli("status", FUTURE)
    assert code == 0 and "has not been sent" in out and "Gate: missing" in out


@pytest.mark.parametrize("address", ["pas-une-adresse", "a@b", "x@example.org\r\nBcc: y@example.org"])
def test_invalid_addresses_are_refused_as_usage_errors(cli, address: str) -> None:  # type: ignore[no-untyped-def]
    code, _, err = cli("subscribers", "add", address)
    assert code == 2 and "is not a valid address" in err


def test_test_send_is_not_recorded(cli, project: Path) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = cli("send", DAY.isoformat(), "--test", "relecture@example.org")
    assert code == 0 and "[TEST] relecture@example.org: sent" in out
    code, out, _ = cli("status", DAY.isoformat())
    assert "has not been sent" in out


def test_import_an_excel_export_then_export_it(cli, project: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from tests.helpers.csv_files import EXCEL_FR

    source = tmp_path / "export excel.csv"
    source.write_bytes(EXCEL_FR)
    code, out, _ = cli("subscribers", "import", str(source), "--dry-run")
    assert code == 0 and "Would import" in out and "2 added" in out and "Nothing was written" in out
    assert cli("subscribers", "list")[1].strip() == "No subscribers yet."
    code, out, _ = cli("subscribers", "import", str(source))
    assert code == 0
    assert "2 added, 0 updated, 0 unchanged, 1 duplicate merged, 0 unsubscribed/bounced/erased kept out, 4 rejected" in out
    assert f"{source}:5: 'jean.dupont@' is not a valid address" in out
    cli("subscribers", "remove", "helene.dubois@example.org")
    code, out, _ = cli("subscribers", "import", str(source))
    assert "1 unsubscribed/bounced/erased kept out" in out
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
        merge_options(project, "[delivery]\n" + api_config("sendgrid", fake.base_url))
        cli("subscribers", "add", "lea@example.org", "--first-name", "Léa")
        cli("approve", DAY.isoformat(), "--by", "Camille Martin")
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


# -- the approval means something ------------------------------------------------------------


def outbox(project: Path) -> list[Path]:
    folder = project / "out" / "outbox" / "new"
    return sorted(folder.iterdir()) if folder.is_dir() else []


@pytest.mark.parametrize(("prepare", "message"), [
    ("unapproved", "issue 2026-11-24 is not approved (not approved yet)"),
    ("stale", "issue 2026-11-24 changed since its approval"),
])
def test_a_send_of_an_issue_not_approved_as_it_is_is_refused(cli, project: Path, prepare: str,  # type: ignore[no-untyped-def]
                                                              message: str) -> None:
    cli("subscribers", "add", "lea@example.org")
    if prepare == "stale":
        cli("approve", DAY.isoformat(), "--by", "Camille Martin")
        item = project / "issues" / DAY.isoformat() / "02-mobile.md"
        item.write_text(item.read_text(encoding="utf-8") + "\nUne phrase de plus.\n", encoding="utf-8")
    code, _, err = cli("send", DAY.isoformat())
    assert code == 1 and message in err and "nothing was sent" in err
    assert f"newsletter approve {DAY}" in err and "--without-approval" in err
    if prepare == "stale":
        assert "02-mobile.md" in err
    assert outbox(project) == []
    code, out, _ = cli("status", DAY.isoformat())
    assert "has not been sent" in out


def test_without_approval_sends_and_records_who_and_why(cli, project: Path) -> None:  # type: ignore[no-untyped-def]
    cli("subscribers", "add", "lea@example.org")
    code, _, err = cli("send", DAY.isoformat(), "--without-approval", "  ")
    assert code == 2 and "give the reason" in err
    code, out, _ = cli("send", DAY.isoformat(), "--without-approval", "Camille est absente ; relu au téléphone",
                       "--by", "Dominique Roux")
    assert code == 0 and "Sending without approval" in out and "1 sent" in out
    assert len(outbox(project)) == 1
    code, out, _ = cli("status", DAY.isoformat())
    assert "Sent without approval by Dominique Roux on " in out
    assert out.rstrip().endswith("Camille est absente ; relu au téléphone") or \
        "Camille est absente ; relu au téléphone" in out
    code, out, _ = cli("status", DAY.isoformat(), "--json")
    record = json.loads(out)["without_approval"]
    assert record["by"] == "Dominique Roux" and record["reason"] == "Camille est absente ; relu au téléphone"
    code, out, _ = cli("history")
    assert "(without approval)" in out


def test_without_approval_defaults_to_the_login_name(cli, project: Path,  # type: ignore[no-untyped-def]
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOGNAME", "operateur")
    monkeypatch.setenv("USER", "operateur")
    cli("subscribers", "add", "lea@example.org")
    assert cli("send", DAY.isoformat(), "--without-approval", "urgence")[0] == 0
    out = json.loads(cli("status", DAY.isoformat(), "--json")[1])
    assert out["without_approval"]["by"] == "operateur"


def test_dry_run_says_the_send_will_be_refused(cli) -> None:  # type: ignore[no-untyped-def]
    cli("subscribers", "add", "lea@example.org")
    code, out, _ = cli("send", DAY.isoformat(), "--dry-run")
    assert code == 0
    assert "Approval: not approved yet — `newsletter send` will refuse it until it is approved" in out


def test_send_at_refuses_an_issue_already_sent(cli, project: Path) -> None:  # type: ignore[no-untyped-def]
    cli("subscribers", "add", "lea@example.org")
    cli("approve", DAY.isoformat(), "--by", "Camille Martin")
    assert cli("send", DAY.isoformat())[0] == 0
    code, _, err = cli("send", DAY.isoformat(), "--at", "2099-01-01 07:00")
    assert code == 1 and "issue 2026-11-24 was already sent; it is not scheduled again" in err


# -- plain answers -------------------------------------------------------------------------


def test_dry_run_shows_headers_and_the_text_as_read(cli) -> None:  # type: ignore[no-untyped-def]
    cli("subscribers", "add", "helene@example.org", "--first-name", "Hélène")
    cli("approve", DAY.isoformat(), "--by", "Camille Martin")
    code, out, _ = cli("send", DAY.isoformat(), "--dry-run")
    assert code == 0
    assert "To: Hélène <helene@example.org>" in out or "To: helene@example.org" in out
    assert "List-Unsubscribe-Post: List-Unsubscribe=One-Click" in out
    assert "Bonjour Hélène" in out  # decoded, not quoted-printable
    assert "=C3=A9" not in out and "Content-Transfer-Encoding" not in out.split("--- text part")[1]


def test_dry_run_says_when_nobody_would_receive_it(cli) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = cli("send", DAY.isoformat(), "--dry-run")
    assert code == 0 and "0 would receive it now" in out
    assert "0 recipients: nobody would receive it now" in out


def test_status_shows_the_schedule_of_a_missing_day(cli) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = cli("status", "2026-11-23", "--json")  # a Monday, past its 07:00 due time
    state = json.loads(out)["schedule"]
    assert code == 1
    assert state["gate"] == "missing" and state["due"] == "2026-11-23T07:00:00+01:00"
    assert "was not sent" in state["attention"]
    code, out, _ = cli("status", FUTURE, "--json")
    assert code == 0 and json.loads(out)["schedule"]["gate"] == "missing"
    assert json.loads(out)["schedule"]["attention"] is None


def test_status_shows_when_the_send_ran_and_history_lists_it(cli, project: Path) -> None:  # type: ignore[no-untyped-def]
    from newsletter.store.database import open_store
    from newsletter.store.subscribers import unsubscribe
    from datetime import datetime, timezone

    clock = ticking(datetime(2026, 11, 24, 6, 0, tzinfo=timezone.utc))
    for name in ("lea", "paul", "zoe"):
        cli("subscribers", "add", f"{name}@example.org", clock=clock)
    cli("approve", DAY.isoformat(), "--by", "Camille Martin", clock=clock)
    assert cli("send", DAY.isoformat(), clock=clock)[0] == 0
    store = open_store("sqlite:///state/newsletter.db", project)
    unsubscribe(store, "paul@example.org", now=datetime(2099, 1, 1, tzinfo=timezone.utc))
    store.close()
    code, out, _ = cli("status", DAY.isoformat(), "--json")
    data = json.loads(out)
    assert code == 0 and data["started_at"] and data["finished_at"] and data["schedule"]["gate"] == "sent"
    assert data["started_at"] <= data["finished_at"]
    code, out, _ = cli("status", DAY.isoformat())
    assert "3 sent (started 2026-11-24 07:00" in out and ", finished 2026-11-24 07:0" in out
    code, out, _ = cli("history", "--json")
    assert json.loads(out) == [{
        "date": DAY.isoformat(), "issue": DAY.isoformat(), "subject": json.loads(out)[0]["subject"], "recipients": 3, "sent": 3, "failed": 0,
        "bounced": 0, "unsubscribed_since": 1, "complained": 0, "complaint_rate": 0.0,
        "complaint_rate_above_gmail_line": False, "paused": False, "started_at": data["started_at"],
        "finished_at": data["finished_at"], "without_approval_by": None, "uncertain": 0, "resent": 0,
        "bounce_reasons": [], "unique_clickers": 0, "corrections": 0}]
    code, out, _ = cli("history")
    assert code == 0 and out.splitlines()[1].startswith("2026-11-24           3        3       0       0       1")


def test_subscribers_list_says_what_it_leaves_out_and_searches(cli, project: Path) -> None:  # type: ignore[no-untyped-def]
    from datetime import datetime, timezone

    from newsletter.store.database import open_store
    from newsletter.store.subscribers import add_subscriber

    store = open_store("sqlite:///state/newsletter.db", project)
    now = datetime(2026, 11, 1, tzinfo=timezone.utc)
    for i in range(60):
        add_subscriber(store, f"lecteur{i:02d}@example.org", now=now)
    add_subscriber(store, "helene.martin@example.org", now=now)
    add_subscriber(store, "h_x@example.org", now=now)
    store.close()
    code, out, _ = cli("subscribers", "list")
    assert code == 0 and len(out.splitlines()) == 52 and "50 of 62 shown; --limit N or --all for more." in out
    assert "62 of 62" not in cli("subscribers", "list", "--all")[1]
    assert len(cli("subscribers", "list", "--all")[1].splitlines()) == 63
    code, out, _ = cli("subscribers", "list", "--search", "MARTIN")
    assert out.splitlines()[0].startswith("helene.martin@example.org") and len(out.splitlines()) == 2
    code, out, _ = cli("subscribers", "list", "--search", "_")  # literal, not a wildcard
    assert out.splitlines()[0].startswith("h_x@example.org") and len(out.splitlines()) == 2
    code, out, _ = cli("subscribers", "list", "--search", "lecteur", "--limit", "5")
    assert "5 of 60 shown" in out


@pytest.mark.parametrize(("value", "message"), [
    ("Jean\r\nBcc: x@example.org", "--first-name contains a control character ('\\r' at position 5)"),
    ("Jean\nPierre", "--first-name contains a control character ('\\n' at position 5)"),
    ("x" * 100_000, "--first-name is 100,000 characters long; a name has at most 200"),
])
def test_add_refuses_names_that_would_break_a_header(cli, value: str, message: str) -> None:  # type: ignore[no-untyped-def]
    code, _, err = cli("subscribers", "add", "jean@example.org", "--first-name", value)
    assert code == 2 and message in err
    assert "No subscribers yet." in cli("subscribers", "list")[1]


def test_add_drops_a_formula_trigger_like_the_import(cli) -> None:  # type: ignore[no-untyped-def]
    assert cli("subscribers", "add", "jean@example.org", "--first-name", "=HYPERLINK(1)")[0] == 0
    assert "jean@example.org                         active        HYPERLINK(1)" in cli("subscribers", "list")[1]


def test_an_unclosed_quote_imports_nothing_and_names_the_line(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    source = tmp_path / "crm.csv"
    rows = ["email,first_name", "r0@example.org,Anne", "r1@example.org,\"O'Brien"]
    source.write_text("\n".join(rows + [f"r{i}@example.org,Nom{i}" for i in range(2, 2000)]) + "\n", encoding="utf-8")
    code, out, err = cli("subscribers", "import", str(source))
    assert code == 1 and f"{source}:3: a quote" in err and "nothing was imported" in err
    assert "No subscribers yet." in cli("subscribers", "list")[1]


@pytest.mark.parametrize("options", [[], ["--excel-fr"]], ids=["csv", "excel-fr"])
def test_restoring_an_export_keeps_people_who_left_out(cli, project: Path, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                       options: list[str]) -> None:
    for address in ("reste@example.org", "parti@example.org", "+g3@example.org"):
        cli("subscribers", "add", address, "--first-name", "Léa")
    cli("subscribers", "remove", "parti@example.org")
    before = cli("subscribers", "list")[1]
    backup = tmp_path / "sauvegarde.csv"
    assert cli("subscribers", "export", str(backup), *options)[0] == 0
    if options:
        assert backup.read_bytes().decode("utf-8-sig").splitlines()[0].startswith("email;first_name;")
    (project / "state" / "newsletter.db").unlink()  # a new store
    code, out, _ = cli("subscribers", "import", str(backup))
    assert code == 0 and "2 added" in out and "1 recorded as unsubscribed/bounced/complained" in out
    assert cli("subscribers", "list")[1] == before
    assert "'+g3" not in before and "+g3@example.org" in before


# -- internationalized addresses ------------------------------------------------------------


def test_internationalized_addresses_are_served_and_one_form_per_mailbox(  # type: ignore[no-untyped-def]
        cli, project: Path, tmp_path: Path) -> None:
    for address in ("jose@exämple.org", "paul.lefèvre@example.fr", "ascii@example.org", "andré@example.fr"):
        assert cli("subscribers", "add", address)[0] == 0
    source = tmp_path / "bob.csv"
    source.write_text("email,first_name\nbob@xn--bcher-kva.example,Bob\nBob@Bücher.example,Bob\n", encoding="utf-8")
    assert cli("subscribers", "import", str(source))[0] == 0
    code, out, _ = cli("subscribers", "list")
    assert "5 active" in out and out.count("bob@") == 1  # the A-label and U-label spellings are one subscriber
    cli("approve", DAY.isoformat(), "--by", "Camille Martin")
    code, out, err = cli("send", DAY.isoformat(), "--dry-run")
    assert code == 0 and "5 would receive it now" in out and "To: andré@example.fr" in out, out + err
    code, out, err = cli("send", DAY.isoformat())
    assert code == 0 and "5 sent, 0 failed, 0 pending" in out, out + err
    box = mailbox.Maildir(project / "out" / "outbox", create=False)
    to = sorted(email.message_from_string(box.get_bytes(k).decode(), policy=email.policy.default)["To"].addresses[0]
                .addr_spec for k in box.keys())
    assert to == ["andré@example.fr", "ascii@example.org", "bob@xn--bcher-kva.example", "jose@xn--exmple-cua.org",
                  "paul.lefèvre@example.fr"]


def test_a_relay_without_smtputf8_fails_that_recipient_alone_and_prints_no_message(  # type: ignore[no-untyped-def]
        cli, project: Path) -> None:
    from tests.sink import Sink
    from tests.helpers.sending import smtp_config

    for address in ("paul.lefèvre@example.fr", "jose@exämple.org", "ascii@example.org"):
        cli("subscribers", "add", address)
    cli("approve", DAY.isoformat(), "--by", "Camille Martin")
    with Sink(smtputf8=False) as relay:
        smtp_config(project, relay.port)
        code, out, err = cli("send", DAY.isoformat())
    assert code == 1 and "2 sent, 1 failed, 0 pending" in out, out + err
    assert sorted(rcpt for _, (rcpt,), _ in relay.recorder.envelopes) == ["ascii@example.org",
                                                                          "jose@xn--exmple-cua.org"]
    assert "SMTPUTF8" in out + err
    assert "/u/" not in out + err and "List-Unsubscribe" not in out + err and len(out + err) < 3000


# -- the summary and concurrent runs ------------------------------------------------------------


def test_the_summary_names_every_state_so_that_it_adds_up() -> None:
    from newsletter.frontends.cli import _status_line
    from newsletter.delivery.engine import SendReport

    report = SendReport(DAY, counts={"sent": 963, "sending": 1, "queued": 2, "pending": 34})
    line = _status_line(report)
    assert "963 sent, 0 failed, 36 pending, 1 in flight, 0 uncertain, 0 skipped, 1000 in all" in line
    assert not report.complete


class _Announced(logging.Handler):
    """Sets an event when the run says that it waits for another run (what the operator reads)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.waiting = threading.Event()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if "other run(s); waiting until" in record.getMessage():
            self.lines.append(record.getMessage())
            self.waiting.set()


def test_a_send_that_ends_while_another_live_run_holds_rows_waits_for_it_and_exits_0(
        cli, project: Path) -> None:  # type: ignore[no-untyped-def]
    """The other run is alive (its lease is valid): its rows are its own; the issue ends complete,
    and the run says once, as a warning, what it waits for."""
    from datetime import datetime, timedelta, timezone

    from newsletter.store import leases, ledger
    from newsletter.store.database import open_store
    from newsletter.store.models import DeliveryStatus
    from newsletter.store.subscribers import add_subscriber

    store = open_store("sqlite:///state/newsletter.db", project)
    now = datetime.now(timezone.utc)
    for i in range(6):
        add_subscriber(store, f"lecteur{i}@example.org", now=now)
    send_id = ledger.get_or_create_send(store, DAY, "Objet", now)
    ledger.enqueue(store, send_id, now)
    other = ledger.new_run_id()
    leases.acquire(store, other, now, timedelta(hours=1))  # never renewed: valid however slow the machine is
    held = [c.delivery_id for c in ledger.claim(store, send_id, other, 2, now)]
    announced = _Announced()

    def other_run_finishes_once_the_send_waits_for_it() -> None:
        announced.waiting.wait(timeout=120)
        at = datetime.now(timezone.utc)
        mark_sending(store, held, at)
        ledger.record(store, [ledger.Outcome(i, DeliveryStatus.SENT) for i in held], at)

    cli("approve", DAY.isoformat(), "--by", "Camille Martin")
    logging.getLogger("newsletter.delivery.engine").addHandler(announced)
    thread = threading.Thread(target=other_run_finishes_once_the_send_waits_for_it)
    thread.start()
    try:
        code, out, err = cli("send", DAY.isoformat())
    finally:
        logging.getLogger("newsletter.delivery.engine").removeHandler(announced)
        thread.join(timeout=60)
    assert code == 0, out + err
    assert "6 sent, 0 failed, 0 pending, 0 in flight, 0 uncertain, 0 skipped, 6 in all" in out
    assert "this run: 4 sent" in out
    assert len(announced.lines) == 1 and "2 recipients are held by 1 other run(s)" in announced.lines[0]
    store.close()


@pytest.mark.parametrize("people", [(), ("parti@example.org",)], ids=["empty list", "everyone left"])
def test_a_send_to_nobody_is_refused_and_leaves_no_trace(cli, people: tuple[str, ...]) -> None:  # type: ignore[no-untyped-def]
    for address in people:
        cli("subscribers", "add", address)
        cli("subscribers", "remove", address)
    cli("approve", DAY.isoformat(), "--by", "Camille Martin")
    code, out, err = cli("send", DAY.isoformat())
    assert code == 1 and "no active subscriber" in err and "newsletter subscribers import" in err, (out, err)
    assert "sent" not in out
    code, out, _ = cli("history")
    assert "No issue has been sent yet" in out
    cli("subscribers", "add", "arrivee@example.org")  # once there is someone, the same command sends
    code, out, _ = cli("send", DAY.isoformat())
    assert code == 0 and "1 sent, 0 failed" in out


def test_a_test_address_given_twice_gets_one_copy(cli, project: Path) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = cli("send", DAY.isoformat(), "--test", "Relecture@Example.org", "--test", "relecture@example.org ",
                       "--test", "bob@xn--bcher-kva.example", "--test", "bob@bücher.example")
    assert code == 0 and out.splitlines() == ["[TEST] relecture@example.org: sent", "[TEST] bob@bücher.example: sent"]
    assert len(list((project / "out" / "outbox" / "new").iterdir())) == 2


def test_rows_left_by_limit_say_they_are_not_sent_yet(cli) -> None:  # type: ignore[no-untyped-def]
    for address in ("a@example.org", "b@example.org", "c@example.org"):
        cli("subscribers", "add", address)
    cli("approve", DAY.isoformat(), "--by", "Camille Martin")
    code, out, err = cli("send", DAY.isoformat(), "--limit", "1")
    assert code == 1 and "2 pending: not sent yet" in out, out
    code, out, _ = cli("status", DAY.isoformat())
    assert "2 pending: not sent yet" in out and "no reason recorded" not in out, out
    assert not [line for line in out.splitlines() if line.rstrip().endswith(":")]


def test_an_internationalized_base_url_is_sent_as_ascii(cli, project: Path) -> None:  # type: ignore[no-untyped-def]
    toml = project / "newsletter.toml"
    text = toml.read_text(encoding="utf-8")
    toml.write_text(re.sub(r'(?m)^base_url = .*$', 'base_url = "https://lettre.rédaction.example/été"', text),
                    encoding="utf-8")
    code, out, err = cli("send", DAY.isoformat(), "--test", "relecture@example.org")
    assert code == 0 and "sent" in out, err
    (path,) = (project / "out" / "outbox" / "new").iterdir()
    message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert "<https://lettre.xn--rdaction-b1a.example/%C3%A9t%C3%A9/u/" in str(message["List-Unsubscribe"])


@pytest.mark.parametrize("args", [["status", FUTURE], ["status", FUTURE, "--json"], ["history"],
                                  ["subscribers", "list"], ["schedule", "show"], ["send", DAY.isoformat(), "--dry-run"]])
def test_commands_that_only_read_create_no_database(cli, project: Path, args: list[str]) -> None:  # type: ignore[no-untyped-def]
    code, _, err = cli(*args)
    assert code == 0, err
    assert not (project / "state").exists()


def test_status_and_history_show_what_came_back_and_flag_complaints(cli, project: Path) -> None:  # type: ignore[no-untyped-def]
    from datetime import datetime, timezone

    from newsletter.store.database import open_store
    from newsletter.store.feedback import Feedback, FeedbackKind, record_feedback

    for name in ("lea", "paul", "zoe", "noe"):
        cli("subscribers", "add", f"{name}@example.org")
    cli("approve", DAY.isoformat(), "--by", "Camille Martin")
    assert cli("send", DAY.isoformat())[0] == 0
    at = datetime(2099, 1, 1, tzinfo=timezone.utc)
    store = open_store("sqlite:///state/newsletter.db", project)
    for kind, who in ((FeedbackKind.COMPLAINT, "paul"), (FeedbackKind.HARD_BOUNCE, "zoe"),
                      (FeedbackKind.UNSUBSCRIBE, "noe")):
        record_feedback(store, Feedback(kind, "postmark", f"{kind.value}-1", at, email=f"{who}@example.org",
                                        issue=DAY), now=at)
    store.close()
    code, out, _ = cli("status", DAY.isoformat())
    assert "Feedback: 1 bounced, 1 complained (25.00% of those sent), 1 unsubscribed — complaint rate above " \
           "Gmail's 0.3 % line" in out
    code, out, _ = cli("status", DAY.isoformat(), "--json")
    assert json.loads(out)["feedback"] == {"bounced": 1, "complained": 1, "unsubscribed": 1, "complaint_rate": 0.25,
                                           "complaint_rate_above_gmail_line": True,
                                           "bounce_reasons": [{"kind": "hard", "reason": "", "rows": 1}]}
    code, out, _ = cli("history")
    assert "1 25.00%!" in out.splitlines()[1]


def test_check_warns_that_the_issue_was_sent_and_keeps_its_exit_code(cli, project: Path) -> None:  # type: ignore[no-untyped-def]
    assert cli("subscribers", "add", "paul@example.org")[0] == 0
    assert cli("approve", DAY.isoformat(), "--by", "Camille Martin")[0] == 0
    assert cli("send", DAY.isoformat(), "--test", "relecture@example.org")[0] == 0  # a test copy is no send
    code, out, _ = cli("check", DAY.isoformat())
    assert code == 0 and "was sent" not in out
    assert cli("send", DAY.isoformat())[0] == 0
    code, out, _ = cli("check", DAY.isoformat())
    warning = f"issues/{DAY.isoformat()}: warning: this issue was sent on "
    assert code == 0 and warning in out and "ready" in out, out
    assert re.search(re.escape(warning) + r"\d{4}-\d\d-\d\d \d\d:\d\d \S+; an edit changes neither what its readers "
                     r"got nor its page in the public archive", out), out
    item = project / "issues" / DAY.isoformat() / "02-mobile.md"
    item.write_text('---\ntitle: ""\nsource: "x"\n---\nTexte.\n', encoding="utf-8")
    code, out, _ = cli("check", DAY.isoformat())
    assert code == 1 and warning in out  # a warning: the failing check's exit code is its own


def test_a_search_ends_with_the_matches_totals(cli) -> None:  # type: ignore[no-untyped-def]
    for address in ("martin@example.org", "martine@example.org", "paul@example.org", "lea@example.org"):
        cli("subscribers", "add", address)
    cli("subscribers", "remove", "martine@example.org")
    code, out, _ = cli("subscribers", "list", "--search", "martin")
    assert code == 0 and out.splitlines()[-1] == "Matching: 1 active, 1 unsubscribed (of 4 subscribers)."
    code, out, _ = cli("subscribers", "list", "--search", "martin", "--status", "active")
    assert out.splitlines()[-1] == "Matching: 1 active (of 4 subscribers)."
    code, out, _ = cli("subscribers", "list", "--search", "nobody")
    assert out.splitlines()[-2:] == ["No subscriber matches.", "Matching: none (of 4 subscribers)."]
    assert cli("subscribers", "list")[1].splitlines()[-1] == "3 active, 1 unsubscribed"


def test_sending_tomorrows_issue_today_says_it_waits_for_its_date_in_public(cli) -> None:  # type: ignore[no-untyped-def]
    the_day_before = lambda: datetime(2026, 11, 23, 17, 0, tzinfo=timezone.utc)  # noqa: E731
    cli("subscribers", "add", "lea@example.org", clock=the_day_before)
    cli("approve", DAY.isoformat(), "--by", "Camille Martin", clock=the_day_before)
    code, out, err = cli("send", DAY.isoformat(), "--dry-run", clock=the_day_before)
    assert code == 0 and "Issue 2026-11-24 is dated tomorrow: sent now, it reaches its readers now, and the public " \
        "archive and the feed list it from its date on." in err
    code, out, err = cli("send", DAY.isoformat(), clock=the_day_before)
    assert code == 0 and "1 sent" in out
    assert "`newsletter send 2026-11-24 --at HH:MM`" in err
    on_the_day = lambda: datetime(2026, 11, 24, 6, 0, tzinfo=timezone.utc)  # noqa: E731
    assert "is dated" not in cli("send", DAY.isoformat(), clock=on_the_day)[2]
