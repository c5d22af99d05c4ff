"""``send``, ``schedule run`` and ``serve`` refuse a secret key that would let anyone forge links."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from newsletter.content.approval import approve
from newsletter.frontends.cli import main
from newsletter.store.database import Store
from newsletter.store.subscribers import add_subscriber
from tests.conftest import DAY, SECRET
from tests.helpers.sending import smtp_config
from tests.helpers.clock import NOW

EXAMPLE_FILE = Path(__file__).resolve().parents[1] / "deploy" / "newsletter.env.example"


def example_key() -> str:
    line = next(x for x in EXAMPLE_FILE.read_text(encoding="utf-8").splitlines() if x.startswith("NEWSLETTER_SECRET_KEY="))
    return line.partition("=")[2]


WEAK_KEYS = ["a", "demo-only-not-secret", "sample-only-not-a-secret", "x" * 64, example_key()]


@pytest.mark.parametrize("key", WEAK_KEYS)
@pytest.mark.parametrize("command", [["send", DAY.isoformat()], ["serve", "--port", "{busy}"]])
def test_a_short_repetitive_or_published_key_is_refused_with_how_to_make_one(
        project: Path, store: Store, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        key: str, command: list[str]) -> None:
    smtp_config(project, 1)  # a real transport: the links would reach people
    add_subscriber(store, "lea@example.org", now=NOW)
    monkeypatch.setenv("NEWSLETTER_SECRET_KEY", key)
    with socket.socket() as busy:  # a serve that accepted the key fails to bind instead of serving forever
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        args = [a.format(busy=busy.getsockname()[1]) for a in command]
        try:
            code = main(["--project", str(project), *args])
        except OSError:
            code = -1
    err = capsys.readouterr().err
    assert code == 2 and "NEWSLETTER_SECRET_KEY" in err
    assert "secrets.token_urlsafe(32)" in err
    assert len(key) < 8 or key not in err  # the key itself is never printed
    assert not (project / "out" / "outbox").exists()


@pytest.mark.parametrize(("locale", "sent", "warned"), [
    ("C", "1 sent", "warning: NEWSLETTER_SECRET_KEY is a published example key: anyone can forge unsubscribe and "
                    "confirmation links with it; accepted only because the outbox adapter delivers nothing"),
    ("fr_FR.UTF-8", "1 envoyé", "avertissement : NEWSLETTER_SECRET_KEY est une clé d’exemple publiée : n’importe "
                                "qui peut fabriquer avec elle des liens de désinscription et de confirmation ; "
                                "acceptée seulement parce que l’adaptateur outbox ne délivre rien"),
])
def test_the_demo_key_still_works_with_the_local_outbox(project: Path, store: Store,
                                                       monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str],
                                                       locale: str, sent: str, warned: str) -> None:
    add_subscriber(store, "lea@example.org", now=NOW)
    approve(project / "issues" / DAY.isoformat(), "Camille Martin", NOW)
    monkeypatch.setenv("NEWSLETTER_SECRET_KEY", "demo-only-not-secret")  # what `make demo` uses
    monkeypatch.setenv("LANG", locale)
    for variable in ("LC_ALL", "LC_MESSAGES", "LANGUAGE"):
        monkeypatch.delenv(variable, raising=False)
    code = main(["--project", str(project), "send", DAY.isoformat()])
    captured = capsys.readouterr()
    assert code == 0 and sent in captured.out
    assert warned in " ".join(captured.err.replace("\u202f", " ").replace("\u00a0", " ").split()), captured.err
    assert len(list((project / "out" / "outbox" / "new").iterdir())) == 1


def test_a_strong_key_sends_through_a_real_transport(project: Path, store: Store, sink, monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    smtp_config(project, sink.port)
    add_subscriber(store, "lea@example.org", now=NOW)
    approve(project / "issues" / DAY.isoformat(), "Camille Martin", NOW)
    monkeypatch.setenv("NEWSLETTER_SECRET_KEY", SECRET)
    assert main(["--project", str(project), "send", DAY.isoformat()]) == 0
    assert len(sink.recorder.messages) == 1


def test_a_weak_key_is_refused_by_a_serve_reachable_from_other_machines(
        project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """The outbox delivers nothing, but a service listening beyond loopback hands out links anyone could forge."""
    monkeypatch.setenv("NEWSLETTER_SECRET_KEY", "demo-only-not-secret")
    try:  # 192.0.2.1 (TEST-NET-1) is not this machine's: a serve that accepted the key fails to bind
        code = main(["--project", str(project), "serve", "--host", "192.0.2.1", "--port", "8080"])
    except OSError:
        code = -1
    assert code == 2 and "published example key" in capsys.readouterr().err
