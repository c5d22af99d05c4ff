"""Every command a French editor or operator runs answers in French, click's own words included (usage errors,
``--help``'s headings), and in English under ``LANG=C``: the whole round of commands, twice."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Callable

import pytest

from newsletter.frontends.cli import main
from tests.conftest import DAY, SECRET
from tests.helpers.bounces import configure
from tests.helpers.clock import NOW
from tests.helpers.config import set_options
from tests.helpers.french import NBSP, NNBSP, english

Run = Callable[..., tuple[int, str]]


@pytest.fixture
def say(project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> Run:
    """Run a command: (exit code, all it printed, the temporary folder's path written TMP)."""
    monkeypatch.setenv("NEWSLETTER_SECRET_KEY", SECRET)
    monkeypatch.delenv("LANGUAGE", raising=False)

    def run(*args: str) -> tuple[int, str]:
        code = main(["--project", str(project), *args], clock=lambda: NOW)
        captured = capsys.readouterr()
        return code, (captured.out + captured.err).replace(str(tmp_path), "TMP")

    return run


def _round(say: Run, project: Path, tmp_path: Path) -> dict[str, tuple[int, str]]:
    """What each of the everyday commands prints, by command."""
    configure(project)  # a [bounces] Maildir, empty
    said = {
        "unknown option": say("--bogus"),
        "missing argument": say("subscribers", "add"),
        "bad choice": say("subscribers", "list", "--status", "gone"),
        "both or neither": say("draft", DAY.isoformat()),
        "add": say("subscribers", "add", "camille@example.org"),
        "send": say("send", DAY.isoformat(), "--without-approval", "essai"),
        "history": say("history"),
        "export": say("subscribers", "export", str(tmp_path / "abonnes.csv")),
        "erase": say("subscribers", "erase", "camille@example.org", "--yes"),
        "bounces": say("bounces", "process"),
        "hooks": say("hooks", "list"),
        "retry": say("hooks", "retry"),
        "api-keys add": say("api-keys", "add", "cms", "--scope", "subscribers:read"),
        "api-keys twice": say("api-keys", "add", "cms", "--scope", "subscribers:read"),
        "api-keys list": say("api-keys", "list"),
        "api-keys revoke": say("api-keys", "revoke", "cms"),
        "report": say("report", DAY.isoformat()),
        "status": say("status", DAY.isoformat()),
        "schedule": say("schedule", "show", "--count", "1"),
        "erase again": say("subscribers", "erase", "camille@example.org", "--yes"),
        "bad selector": say("dkim", "keygen", "nl 2026", "--domain", "example.org"),
    }
    code, out = say("dkim", "keygen", "nl2026", "--domain", "example.org", "--out", str(tmp_path / "nl.pem"))
    said["dkim"] = code, "\n".join(line for line in out.splitlines()  # the record and the table are DNS and TOML
                                   if "._domainkey." not in line and "=" not in line and line != "[dkim]")
    set_options(project, "web", prot=8080)
    said["config"] = say("status")
    return said


def test_every_command_speaks_french_under_a_french_locale(say: Run, project: Path, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LANG", "fr_FR.UTF-8")
    said = _round(say, project, tmp_path)
    left = {name: found for name, (_code, out) in said.items() for found in [english(out)] if found}
    assert left == {}, {name: said[name][1] for name in left}
    assert said["unknown option"][0] == 2 and "Utilisation" in said["unknown option"][1]
    assert f"Erreur{NBSP}: Option inconnue '--bogus'" in said["unknown option"][1], said["unknown option"][1]
    assert f"Essayez «{NBSP}newsletter --help{NBSP}» pour obtenir de l’aide" in said["unknown option"][1]
    assert "Argument manquant 'EMAIL'" in said["missing argument"][1]
    assert f"1 abonné exporté vers TMP/abonnes.csv." in said["export"][1], said["export"][1]
    assert "0 rebond définitif" in said["bounces"][1] and "rebonds" not in said["bounces"][1], said["bounces"][1]
    assert f"clé inconnue «{NBSP}prot{NBSP}»" in said["config"][1] and said["config"][0] == 2, said["config"][1]
    assert NNBSP + "?" in said["config"][1]  # "vouliez-vous dire 'port' ?"
    assert f"rate{NBSP}" not in said["report"][1] and "clics" in said["report"][1], said["report"][1]
    assert "absent" in said["schedule"][1] or "envoyé" in said["schedule"][1], said["schedule"][1]
    assert f"une clé d’API nommée 'cms' existe déjà" in said["api-keys twice"][1]
    assert f"(déjà effacé{NNBSP}?)" in said["erase again"][1] and said["erase again"][0] == 1


def _help(**environ: str) -> str:
    """``newsletter --help`` in a process of its own: click makes its help option once per process."""
    env = {k: v for k, v in os.environ.items() if k not in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG")}
    done = subprocess.run([sys.executable, "-m", "newsletter", "--help"], env={**env, **environ},
                          capture_output=True, text=True, timeout=120, check=True)
    return done.stdout


def test_help_has_french_headings() -> None:
    out = _help(LC_MESSAGES="fr_FR.UTF-8")
    assert f"Utilisation{NBSP}: newsletter" in out and f"Options{NBSP}:" in out
    assert f"Commandes{NBSP}:" in out and "Affiche ce message et quitte." in out, out
    assert "Usage:" not in out and "Commands:" not in out and "Show this message" not in out
    out = _help(LANG="C")
    assert "Usage: newsletter" in out and "Commands:" in out and "Show this message and exit." in out, out


def test_the_same_round_stays_english_under_c(say: Run, project: Path, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LANG", "C")
    said = _round(say, project, tmp_path)
    assert "Error: No such option '--bogus'" in said["unknown option"][1]
    assert "Try 'newsletter --help' for help." in said["unknown option"][1]
    assert "Exported 1 subscriber to TMP/abonnes.csv." in said["export"][1]
    assert "0 hard bounces" in said["bounces"][1]
    assert "has an unknown key 'prot'; did you mean 'port'?" in said["config"][1]
