"""``newsletter correct``: refusals with a clear message and exit 2 (never sent, no note), a failing check
with its file:line and exit 1, a published correction, and ``status`` / ``history`` showing it."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from newsletter.config import load_settings
from newsletter.delivery.engine import send_issue
from newsletter.store.database import Store
from newsletter.store.subscribers import add_subscriber
from tests.conftest import DAY, SECRET
from tests.helpers.clock import NOW
from tests.helpers.french import NBSP, english
from tests.helpers.sending import smtp_config
from tests.sink import Sink

KEY = DAY.isoformat()
LATER = NOW + timedelta(hours=3)


def sent(project: Path, store: Store, sink: Sink) -> None:
    smtp_config(project, sink.port)
    add_subscriber(store, "camille.martin@example.org", now=NOW)
    add_subscriber(store, "dominique@example.org", now=NOW)
    send_issue(load_settings(project), store, DAY, secret_key=SECRET)


def test_an_issue_never_sent_is_refused(cli) -> None:  # type: ignore[no-untyped-def]
    code, out, err = cli("correct", KEY, "--note", "Une note.")
    assert code == 2 and f"issue {KEY} was not sent; only a sent issue can be corrected" in err


def test_an_empty_note_is_refused(cli, project: Path, store: Store, sink: Sink) -> None:  # type: ignore[no-untyped-def]
    sent(project, store, sink)
    code, out, err = cli("correct", KEY, "--note", "  ")
    assert code == 2 and "a correction needs a note" in err and "--note" in err


def test_files_failing_the_check_are_named(cli, project: Path, store: Store,  # type: ignore[no-untyped-def]
                                           sink: Sink) -> None:
    sent(project, store, sink)
    item = project / "issues" / KEY / "02-mobile.md"
    item.write_text(item.read_text(encoding="utf-8").replace('title: "Payer avec son mobile ? Non merci"', 'title: ""'),
                    encoding="utf-8")
    code, out, err = cli("correct", KEY, "--note", "Une note.")
    assert code == 1 and "02-mobile.md:2" in out and "does not pass the check" in err


def test_a_correction_is_published_and_shown_by_status_and_history(cli, project: Path, store: Store,  # type: ignore[no-untyped-def]
                                                                   sink: Sink) -> None:
    sent(project, store, sink)
    item = project / "issues" / KEY / "02-mobile.md"
    item.write_text(item.read_text(encoding="utf-8").replace("57 %", "75 %"), encoding="utf-8")
    code, out, err = cli("correct", KEY, "--note", "Le chiffre de l’info 2 était faux.", "--mail", "--by", "Camille",
                         clock=lambda: LATER)
    assert code == 0, err
    assert f"Correction 1 of issue {KEY} published: https://news.example.org/archive/{KEY}/" in out
    assert "  Item 2: the text changed." in out  # in the terminal's language
    assert "Correction mail: 2 sent." in out
    assert len([m for m in sink.recorder.messages if m["Subject"].startswith("Correction")]) == 2
    code, out, _ = cli("status", KEY)
    assert "Correction 1 on 2026-11-24 10:00 CET by Camille: Le chiffre de l’info 2 était faux. — " \
           "Correction mail: 2 sent." in out, out
    code, out, _ = cli("status", KEY, "--json")
    (shown,) = json.loads(out)["corrections"]
    assert shown["note"] == "Le chiffre de l’info 2 était faux." and shown["mail"] == {"sent": 2}
    code, out, _ = cli("history")
    assert "(corrected ×1)" in out
    code, out, err = cli("correct", KEY, "--note", "Encore.", "--mail")
    assert code == 2 and "whose readers were told already" in err
    assert len([m for m in sink.recorder.messages if m["Subject"].startswith("Correction")]) == 2


def test_status_says_the_correction_and_the_counts_in_french(cli, project: Path, store: Store,  # type: ignore[no-untyped-def]
                                                             sink: Sink, monkeypatch) -> None:
    sent(project, store, sink)
    item = project / "issues" / KEY / "02-mobile.md"
    item.write_text(item.read_text(encoding="utf-8").replace("57 %", "75 %"), encoding="utf-8")
    assert cli("correct", KEY, "--note", "Le chiffre de l’info 2 était faux.", "--mail", "--by", "Camille",
               clock=lambda: LATER)[0] == 0
    monkeypatch.setenv("LANG", "fr_FR.UTF-8")
    monkeypatch.delenv("LANGUAGE", raising=False)
    code, out, err = cli("status", KEY)
    assert code == 0, err
    assert "2 envoyés" in out and "2 sent" not in out, out  # the plural forms, not "2 envoyé"
    assert f"Courriel de correction{NBSP}: 2 envoyés." in out, out
    assert english(out.replace("Le chiffre de l’info 2 était faux.", "")) == [], out


def test_the_note_is_set_in_the_newsletters_typography_like_the_issue(cli, project: Path, store: Store,  # type: ignore[no-untyped-def]
                                                                       sink: Sink) -> None:
    sent(project, store, sink)
    item = project / "issues" / KEY / "02-mobile.md"
    item.write_text(item.read_text(encoding="utf-8").replace("57 %", "75 %"), encoding="utf-8")
    code, out, err = cli("correct", KEY, "--note", "Le \"chiffre\" de l'info 2 : 75 %, pas 57...", clock=lambda: LATER)
    assert code == 0, err
    code, out, _ = cli("status", KEY, "--json")
    (shown,) = json.loads(out)["corrections"]
    assert shown["note"] == "Le «\u00a0chiffre\u00a0» de l’info 2\u00a0: 75\u202f%, pas 57…"
