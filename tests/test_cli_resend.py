"""``newsletter send DATE --resend-uncertain`` end to end through the outbox, and what ``status`` and
``history`` say about uncertain rows and resends. The SMTP case, after a real ``kill -9``, is in
tests/test_crash.py."""

from __future__ import annotations

import email
import email.policy
import json
import os
import pty
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from newsletter.config import load_settings
from newsletter.store import leases, ledger
from newsletter.store.database import Store
from newsletter.store.day_claims import claim_day
from tests.conftest import DAY, SECRET
from tests.helpers.uncertain import LeftUncertain, leave_uncertain

KEY = DAY.isoformat()


def left(project: Path, store: Store, *, sent: int = 3, uncertain: int = 2) -> LeftUncertain:
    """The send as a killed run left it; ``now`` is the real clock's, which the command reads too."""
    return leave_uncertain(load_settings(project), store, sent=sent, uncertain=uncertain,
                           now=datetime.now(timezone.utc))


def outbox_config(project: Path, path: str) -> None:
    config = project / "newsletter.toml"
    config.write_text(config.read_text(encoding="utf-8") + f'\n[delivery.outbox]\npath = "{path}"\n', encoding="utf-8")


def delivered(folder: Path) -> dict[str, str]:
    """The outbox's messages: {recipient: Message-ID}."""
    found = {}
    for path in folder.iterdir():
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        found[message["To"].addresses[0].addr_spec] = message["Message-ID"]
    return found


def test_status_lists_the_uncertain_addresses_with_what_the_ledger_knows(cli, project: Path,  # type: ignore[no-untyped-def]
                                                                         store: Store) -> None:
    state = left(project, store)
    code, out, _ = cli("status", KEY)
    assert code == 0
    for address in state.uncertain:
        assert f"           {address}\n" in out, out
    assert not any(address in out for address in state.sent)
    assert "2 uncertain: its run stopped after marking it sending and before recording a reply: it may have " \
           "reached the server, or not" in out
    assert "held this message" not in out  # the ledger does not know that the server had it
    assert f"`newsletter send {KEY} --resend-uncertain` sends them again" in out
    code, out, _ = cli("status", KEY, "--json")
    listed = json.loads(out)["uncertain"]
    assert [row["email"] for row in listed] == state.uncertain
    assert all("may have reached the server, or not" in row["reason"] and row["since"] for row in listed)


def test_status_shows_the_first_uncertain_addresses_and_json_lists_them_all(cli, project: Path,  # type: ignore[no-untyped-def]
                                                                            store: Store) -> None:
    from newsletter.library import UNCERTAIN_SHOWN

    state = left(project, store, sent=1, uncertain=UNCERTAIN_SHOWN + 5)
    code, out, _ = cli("status", KEY)
    shown = [address for address in state.uncertain if f" {address}\n" in out]
    assert shown == state.uncertain[:UNCERTAIN_SHOWN]
    assert f"({UNCERTAIN_SHOWN} of the {UNCERTAIN_SHOWN + 5} uncertain addresses shown; `newsletter status {KEY} " \
           "--json` lists them all)" in out
    code, out, _ = cli("status", KEY, "--json")
    assert [row["email"] for row in json.loads(out)["uncertain"]] == state.uncertain


def test_resend_through_the_outbox_sends_only_the_uncertain_rows_once_and_records_it(  # type: ignore[no-untyped-def]
        cli, project: Path, store: Store) -> None:
    outbox_config(project, "elsewhere/box")
    state = left(project, store)
    code, out, err = cli("send", KEY, "--resend-uncertain", "--yes", "--by", "Camille Martin")
    assert code == 0, out + err
    assert "2 recipients of 2026-11-24 are uncertain" in out and "some of them may have it already" in out
    assert "same Message-ID" in out
    assert "Resent 2 uncertain recipients" in out and "5 sent, 0 failed, 0 pending" in out
    folder = project / "elsewhere" / "box" / "new"
    assert f"Messages are in {folder} (one .eml file each)." in out
    assert not (project / "out" / "outbox").exists()  # (out/ holds the render the approval checked)
    messages = delivered(folder)
    assert sorted(messages) == state.uncertain  # the rows recorded sent are not sent again
    settings = load_settings(project)
    from newsletter.render.mime import message_id

    assert messages == {a: message_id(settings, KEY, a) for a in state.uncertain}  # the first attempt's id
    assert ledger.counts(store, state.send_id) == {"sent": 5}
    code, out, err = cli("send", KEY, "--resend-uncertain", "--yes")  # exactly once from then on
    assert code == 0 and "no recipient is uncertain; nothing to resend" in out, out + err
    assert len(list(folder.iterdir())) == 2

    code, out, _ = cli("status", KEY)
    assert "Resent 2 uncertain recipients on " in out and ", asked by Camille Martin." in out
    resends = json.loads(cli("status", KEY, "--json")[1])["resends"]
    assert len(resends) == 1 and resends[0]["by"] == "Camille Martin" and resends[0]["rows"] == 2
    assert resends[0]["at"]
    code, out, _ = cli("history")
    assert "(2 resent)" in out
    (row,) = json.loads(cli("history", "--json")[1])
    assert row["resent"] == 2 and row["uncertain"] == 0


def test_history_marks_an_issue_with_uncertain_rows(cli, project: Path, store: Store) -> None:  # type: ignore[no-untyped-def]
    left(project, store)
    assert "(2 uncertain)" in cli("history")[1]
    (row,) = json.loads(cli("history", "--json")[1])
    assert row["uncertain"] == 2 and row["resent"] == 0


def test_resend_without_a_terminal_needs_yes(cli, project: Path, store: Store) -> None:  # type: ignore[no-untyped-def]
    state = left(project, store)
    code, out, err = cli("send", KEY, "--resend-uncertain")
    assert code == 2 and "add --yes" in err, out + err
    assert "2 recipients of 2026-11-24 are uncertain" in out  # said before refusing to ask
    assert ledger.counts(store, state.send_id) == {"sent": 3, "uncertain": 2}


def _on_a_terminal(project: Path, answer: bytes) -> tuple[int, str]:
    """Run ``send --resend-uncertain`` in a pseudo-terminal and answer its question: (exit code, what it showed)."""
    leader, follower = pty.openpty()
    env = {**os.environ, "NEWSLETTER_SECRET_KEY": SECRET, "COLUMNS": "200"}
    process = subprocess.Popen([sys.executable, "-m", "newsletter", "-C", str(project), "send", KEY,
                                "--resend-uncertain"], stdin=follower, stdout=follower, stderr=follower, env=env)
    os.close(follower)
    shown = b""
    deadline = time.monotonic() + 120
    answered = False
    while time.monotonic() < deadline:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # the process ended and closed the terminal
            break
        if not chunk:
            break
        shown += chunk
        if not answered and b"[y/N]" in shown:
            os.write(leader, answer)
            answered = True
    os.close(leader)
    return process.wait(timeout=120), shown.decode("utf-8", "replace")


@pytest.mark.parametrize("answer", [b"y\n", b"n\n"], ids=["yes", "no"])
def test_resend_on_a_terminal_asks_first(project: Path, store: Store, answer: bytes) -> None:
    state = left(project, store)
    code, shown = _on_a_terminal(project, answer)
    assert "Resend the issue to these 2 recipients? [y/N]" in shown, shown
    if answer == b"y\n":
        assert code == 0 and "Resent 2 uncertain recipients" in shown, shown
        assert ledger.counts(store, state.send_id) == {"sent": 5}
    else:
        assert code == 1 and "Aborted" in shown, shown
        assert ledger.counts(store, state.send_id) == {"sent": 3, "uncertain": 2}


def test_resend_is_refused_while_another_run_holds_the_send(cli, project: Path, store: Store) -> None:  # type: ignore[no-untyped-def]
    state = left(project, store)
    now = datetime.now(timezone.utc)
    other = ledger.new_run_id()
    leases.acquire(store, other, now, timedelta(hours=1), send_id=state.send_id)  # a live worker on the send
    code, out, err = cli("send", KEY, "--resend-uncertain", "--yes")
    assert code == 1, out + err
    assert "the send of 2026-11-24 is held by another run: 1 run(s) work on it now" in err
    assert "nothing was resent" in err and "--resend-uncertain` again" in err
    assert ledger.counts(store, state.send_id) == {"sent": 3, "uncertain": 2}
    leases.end(store, other, now)
    assert cli("send", KEY, "--resend-uncertain", "--yes")[0] == 0  # once it ends, the same command works


def test_resend_is_refused_while_the_scheduler_holds_the_day(cli, project: Path, store: Store) -> None:  # type: ignore[no-untyped-def]
    state = left(project, store)
    now = datetime.now(timezone.utc)
    scheduler = ledger.new_run_id()
    leases.acquire(store, scheduler, now, timedelta(hours=1))
    assert claim_day(store, DAY, scheduler, now)
    code, _, err = cli("send", KEY, "--resend-uncertain", "--yes")
    assert code == 1 and "the scheduler has claimed the day" in err, err
    assert ledger.counts(store, state.send_id) == {"sent": 3, "uncertain": 2}


def test_resend_waits_for_the_send_to_be_finished(cli, project: Path, store: Store) -> None:  # type: ignore[no-untyped-def]
    from newsletter.store.subscribers import add_subscriber

    state = left(project, store)
    add_subscriber(store, "arrivee@example.org", now=datetime.now(timezone.utc))
    ledger.enqueue(store, state.send_id, datetime.now(timezone.utc))  # a row no run has served yet
    code, _, err = cli("send", KEY, "--resend-uncertain", "--yes")
    assert code == 1 and "is not finished: 1 recipients have no outcome yet" in err, err
    assert f"finish it first with `newsletter send {KEY}`" in err
    assert ledger.counts(store, state.send_id) == {"sent": 3, "uncertain": 2, "pending": 1}


def test_resend_of_an_issue_never_sent(cli) -> None:  # type: ignore[no-untyped-def]
    code, _, err = cli("send", KEY, "--resend-uncertain", "--yes")
    assert code == 1 and "has not been sent: there is nothing to resend" in err, err


@pytest.mark.parametrize("args", [["--limit", "1"], ["--dry-run"], ["--workers", "2"], ["--test", "a@example.org"],
                                  ["--without-approval", "urgent"]])
def test_resend_goes_alone(cli, args: list[str]) -> None:  # type: ignore[no-untyped-def]
    code, _, err = cli("send", KEY, "--resend-uncertain", "--yes", *args)
    assert code == 2 and "--resend-uncertain goes alone" in err, err


def test_yes_without_resend_is_a_usage_error(cli) -> None:  # type: ignore[no-untyped-def]
    code, _, err = cli("send", KEY, "--yes")
    assert code == 2 and "--yes goes with --resend-uncertain" in err


def test_send_says_where_the_configured_outbox_is(cli, project: Path) -> None:  # type: ignore[no-untyped-def]
    outbox_config(project, "courrier")
    cli("subscribers", "add", "lea@example.org")
    cli("approve", KEY, "--by", "Camille Martin")
    code, out, _ = cli("send", KEY)
    folder = project / "courrier" / "new"
    assert code == 0 and f"Messages are in {folder} (one .eml file each)." in out, out
    assert "out/outbox" not in out and len(list(folder.iterdir())) == 1
