"""`newsletter bounces process` end to end: real messages sent by the outbox, real returned mail in a Maildir,
a real SQLite store; each message changes the right subscriber, or nothing."""

from __future__ import annotations

import shutil
from datetime import date
from email.message import Message
from pathlib import Path
from typing import Callable

import pytest
from sqlalchemy import select, text

from newsletter.core import verp
from newsletter.frontends.cli import main
from newsletter.store.database import Store
from newsletter.store.models import Subscriber
from tests.bounces import mails
from tests.conftest import DAY, SECRET
from tests.helpers.bounces import BOUNCES, PEOPLE, READ, configure, drop, return_path, run, sent, statuses


def mailto(msg: Message) -> str:
    return str(msg["List-Unsubscribe"]).split("<mailto:")[1].split("?")[0]


def forged(address: str) -> str:
    local, _, domain = address.partition("@")
    head, _, token = local.partition("+")
    return f"{head}+{token[:5]}{'b' if token[5] != 'b' else 'c'}{token[6:]}@{domain}"


def test_each_returned_message_changes_the_right_subscriber(project: Path, store: Store,
                                                             run: Callable[..., tuple[int, str, str]]) -> None:
    box = configure(project)
    msgs = sent(project, store)
    person = {name: f"{name}@destinataire.example" for name in PEOPLE}
    drop(box, "1.dsn", mails.dsn(return_path(msgs["dsn"]), person["dsn"]))
    drop(box, "2.qmail", mails.qmail(return_path(msgs["qmail"]), person["qmail"]))
    drop(box, "3.delayed", mails.dsn(return_path(msgs["delayed"]), person["delayed"], status="4.4.7",
                                     action="delayed", message_id="<dsn.2@mx.destinataire.example>"))
    drop(box, "4.yahoo", mails.arf_yahoo(BOUNCES, return_path(msgs["yahoo"]), person["yahoo"]))
    headers = str(msgs["microsoft"]).split("\n\n", 1)[0].replace("Return-Path", "X-Was-Return-Path")
    drop(box, "5.microsoft", mails.arf_microsoft(BOUNCES, headers))  # attributed by its List-Unsubscribe mailto
    drop(box, "6.mailto", mails.mailto_unsubscribe(mailto(msgs["mailto"]), person["mailto"]))
    # Left for a human: an auto-reply, a bounce with a forged token naming "innocent", a forged unsubscribe.
    drop(box, "7.oof", mails.out_of_office(return_path(msgs["innocent"])))
    drop(box, "8.forged", mails.dsn(forged(return_path(msgs["innocent"])), person["innocent"],
                                    message_id="<dsn.3@mx.destinataire.example>"))
    drop(box, "9.forged", mails.mailto_unsubscribe(forged(mailto(msgs["innocent"])), person["innocent"]))

    code, out, _ = run()

    assert code == 1  # some are left for a human
    assert out.strip() == ("2 hard bounces, 1 soft bounce, 2 complaints, 1 unsubscribe, 0 duplicates, "
                           "3 left for a human")
    assert statuses(store) == {"dsn": "bounced", "qmail": "bounced", "delayed": "active", "yahoo": "complained",
                               "microsoft": "complained", "mailto": "unsubscribed", "innocent": "active"}
    assert sorted(p.name for p in (box / "new").iterdir()) == ["7.oof", "8.forged", "9.forged"]
    assert sorted(p.name for p in (box / ".Processed" / "cur").iterdir()) == [
        "1.dsn:2,S", "2.qmail:2,S", "3.delayed:2,S", "4.yahoo:2,S", "5.microsoft:2,S", "6.mailto:2,S"]

    shutil.copyfile(box / ".Processed" / "cur" / "1.dsn:2,S", box / "cur" / "1.dsn:2,S")  # read again
    code, out, _ = run()
    assert code == 1 and "2 hard bounces" not in out and "1 duplicate, 3 left for a human" in out


def test_a_message_on_stdin_is_recorded_and_exits_0(project: Path, store: Store,
                                                     run: Callable[..., tuple[int, str, str]]) -> None:
    configure(project, maildir=False)
    msgs = sent(project, store)
    code, out, _ = run("--stdin", stdin=mails.dsn(return_path(msgs["dsn"]), "dsn@destinataire.example"))
    assert code == 0 and out.startswith("1 hard bounce,")
    assert statuses(store)["dsn"] == "bounced"


def test_a_piped_message_not_understood_goes_into_the_maildir(project: Path, store: Store,
                                                               run: Callable[..., tuple[int, str, str]]) -> None:
    box = configure(project)
    msgs = sent(project, store)
    code, out, _ = run("--stdin", stdin=mails.out_of_office(return_path(msgs["innocent"])))
    assert code == 0 and "1 left for a human (in the Maildir)" in out
    [kept] = list((box / "new").iterdir())
    assert b"Absence du bureau" in kept.read_bytes()


def test_a_piped_message_not_understood_without_maildir_exits_1(project: Path, store: Store,
                                                                run: Callable[..., tuple[int, str, str]]) -> None:
    configure(project, maildir=False)
    code, out, _ = run("--stdin", stdin=mails.out_of_office(f"bounces+{'a' * 36}@bounce.example.org"))
    assert code == 1 and "1 left for a human" in out


def test_without_bounces_table_it_is_a_config_error_but_stdin_asks_to_retry(
        project: Path, run: Callable[..., tuple[int, str, str]]) -> None:
    code, _, err = run()
    assert code == 2 and "no [bounces] table" in err and "Traceback" not in err
    code, _, err = run("--stdin", stdin=b"Subject: x\n\n")
    assert code == 75 and "no [bounces] table" in err


def test_a_store_that_cannot_record_leaves_every_message_in_place(project: Path, store: Store,
                                                                  run: Callable[..., tuple[int, str, str]]) -> None:
    box = configure(project)
    msgs = sent(project, store)
    bounce = mails.dsn(return_path(msgs["dsn"]), "dsn@destinataire.example")
    drop(box, "1.dsn", bounce)
    with store.session() as session:  # a real failure of the database: the events table is gone
        session.execute(text("DROP TABLE feedback_events"))
    code, _, err = run()
    assert code == 1 and "database refused" in err and "Traceback" not in err
    assert [p.name for p in (box / "new").iterdir()] == ["1.dsn"] and not (box / ".Processed").exists()
    code, _, _ = run("--stdin", stdin=bounce)
    assert code == 75  # Postfix keeps the message and tries again later
    assert statuses(store)["dsn"] == "active"


def test_soft_bounces_of_three_issues_make_a_subscriber_bounced(project: Path, store: Store,
                                                                run: Callable[..., tuple[int, str, str]]) -> None:
    box = configure(project)
    sent(project, store)
    with store.session() as session:
        subscriber_id = session.execute(select(Subscriber.id).where(Subscriber.email == "delayed@destinataire.example")
                                        ).scalar_one()
    for n, day in enumerate((date(2026, 11, 23), date(2026, 11, 24), date(2026, 11, 25))):
        token = verp.make_token(SECRET, verp.BOUNCE, verp.Tag(subscriber_id, day))
        assert token is not None
        drop(box, f"{n}.delayed", mails.dsn(verp.tagged(BOUNCES, token), "delayed@destinataire.example",
                                            status="4.2.2", diagnostic="smtp; 452 4.2.2 Mailbox full",
                                            message_id=f"<full.{n}@mx.destinataire.example>"))
        code, out, _ = run()
        assert code == 0 and out.startswith("0 hard bounces, 1 soft bounce,")
        assert statuses(store)["delayed"] == ("bounced" if n == 2 else "active")


def test_a_complaint_without_our_token_is_left_for_a_human(project: Path, store: Store,
                                                           run: Callable[..., tuple[int, str, str]]) -> None:
    box = configure(project)
    msgs = sent(project, store)
    drop(box, "1.arf", mails.arf_yahoo(BOUNCES, forged(return_path(msgs["yahoo"])), "yahoo@destinataire.example"))
    code, out, _ = run()
    assert code == 1 and "0 complaints" in out and "1 left for a human" in out
    assert statuses(store)["yahoo"] == "active"


def test_bounces_without_a_mailbox_needs_stdin(project: Path, run: Callable[..., tuple[int, str, str]]) -> None:
    configure(project, maildir=False)
    code, _, err = run()
    assert code == 2 and "names no mailbox to read" in err


def test_status_and_history_show_the_bounces_reasons(project: Path, store: Store,
                                                     run: Callable[..., tuple[int, str, str]],
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    """Returned mail of three servers' formats, processed for real: `status` and `history` name each reason."""
    import json

    corpus = Path(__file__).parent / "corpus"
    box = configure(project)
    msgs = sent(project, store)
    for person, name in (("dsn", "exim-user-unknown"), ("qmail", "postfix-host-not-found"),
                         ("delayed", "gmail-out-of-storage"), ("yahoo", "exchange-expired-547")):
        text = (corpus / f"{name}.eml").read_text(encoding="utf-8").replace("@@VERP@@", return_path(msgs[person]))
        drop(box, name, text.encode("utf-8"))
    assert run()[0] == 0
    capsys.readouterr()

    def cli(*args: str) -> str:
        assert main(["--project", str(project), *args], clock=lambda: READ) in (0, 1)
        return capsys.readouterr().out

    assert "Bounces by reason: hard: 1 host unknown, 1 user unknown; soft: 1 expired, 1 mailbox full." in \
        cli("status", DAY.isoformat())
    reasons = json.loads(cli("status", DAY.isoformat(), "--json"))["feedback"]["bounce_reasons"]
    assert reasons == [{"kind": "hard", "reason": "host unknown", "rows": 1},
                       {"kind": "hard", "reason": "user unknown", "rows": 1},
                       {"kind": "soft", "reason": "expired", "rows": 1},
                       {"kind": "soft", "reason": "mailbox full", "rows": 1}]
    lines = cli("history").splitlines()
    assert lines[2].split() == ["bounces:", "hard:", "1", "host", "unknown,", "1", "user", "unknown;", "soft:", "1",
                                "expired,", "1", "mailbox", "full"]
    assert json.loads(cli("history", "--json"))[0]["bounce_reasons"] == reasons


def test_a_bounce_of_an_edition_is_the_editions_not_the_days_issues(project: Path, store: Store,
                                                                     run: Callable[..., tuple[int, str, str]]) -> None:
    """The daily issue and a special edition of the same day went to the same reader; the edition's message
    bounces: the event names the edition and is linked to the edition's ledger row, the day's issue has none."""
    import email
    import shutil

    from newsletter.config import load_settings
    from newsletter.core.issue_id import IssueId
    from newsletter.delivery.engine import Policy, send_issue
    from newsletter.store.feedback import FeedbackEvent
    from newsletter.store.models import Delivery, Send
    from newsletter.store.subscribers import add_subscriber
    from tests.helpers.clock import NOW

    box = configure(project)
    edition = IssueId(DAY, slug="speciale")
    shutil.copytree(project / "issues" / DAY.isoformat(), project / "issues" / edition.isoformat())
    add_subscriber(store, "ana@destinataire.example", now=NOW)
    for issue in (DAY, edition):
        send_issue(load_settings(project), store, issue, secret_key=SECRET, policy=Policy(max_attempts=1),
                   clock=lambda: NOW)
    messages = [email.message_from_bytes(p.read_bytes()) for p in (project / "out" / "outbox" / "new").iterdir()]
    [of_edition] = [m for m in messages if str(m["Message-ID"]).startswith(f"<{edition.isoformat()}.")]
    [of_day] = [m for m in messages if m is not of_edition]
    assert return_path(of_edition) != return_path(of_day)
    drop(box, "1.dsn", mails.dsn(return_path(of_edition), "ana@destinataire.example"))
    code, out, err = run()
    assert code == 0 and out.startswith("1 hard bounce,"), out + err
    with store.session() as session:
        [event] = session.execute(select(FeedbackEvent)).scalars()
        row = session.execute(select(Delivery.id, Send.edition).join(Send, Send.id == Delivery.send_id)
                              .where(Delivery.id == event.delivery_id)).one()
    assert (event.issue_date, event.edition) == (DAY, "speciale")
    assert row.edition == "speciale"
    assert statuses(store)["ana"] == "bounced"


def test_a_bounce_of_the_correction_mail_marks_its_reader_bounced(project: Path, store: Store,
                                                                  run: Callable[..., tuple[int, str, str]]) -> None:
    """``correct --mail``'s message carries the reader's VERP address as the issue's does: its DSN counts the
    same (a hard bounce: ``bounced``)."""
    import email
    from datetime import timedelta

    from newsletter.config import load_settings
    from newsletter.library import Newsletter
    from tests.helpers.clock import NOW

    box = configure(project)
    sent(project, store)
    outbox = project / "out" / "outbox" / "new"
    issue = {file.name for file in outbox.iterdir()}
    item = project / "issues" / DAY.isoformat() / "01-bots.md"
    item.write_text(item.read_text(encoding="utf-8").replace("Près d'un Français sur deux", "Près de 46 % des "
                                                                 "Français"), encoding="utf-8")
    nl = Newsletter(load_settings(project), store=store, secret_key=SECRET, clock=lambda: NOW + timedelta(hours=2))
    outcome = nl.corrections.publish(DAY, "Le chiffre de l’info 1 était faux.", mail=True)
    assert outcome.mail is not None and outcome.mail.complete
    told = {str(m["To"]).split("@")[0]: m for m in (email.message_from_bytes(f.read_bytes())
                                                     for f in outbox.iterdir() if f.name not in issue)}
    assert str(told["dsn"]["Message-ID"]).startswith(f"<{DAY.isoformat()}.correction1.")
    drop(box, "1.dsn", mails.dsn(return_path(told["dsn"]), "dsn@destinataire.example"))
    code, out, err = run()
    assert code == 0 and out.startswith("1 hard bounce,"), out + err
    assert statuses(store)["dsn"] == "bounced" and statuses(store)["innocent"] == "active"
