"""Every command a French editor or operator runs answers in French, click's own words included (usage errors,
``--help``'s headings), and in English under ``LANG=C``: the whole round of commands, twice."""

from __future__ import annotations

import inspect
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Callable

import click
import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg

from newsletter.core.i18n import words
from newsletter.frontends.cli import cli, main
from tests.conftest import DAY, REPO, SECRET
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
        "list": say("subscribers", "list"),
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
    assert f"Erreur{NBSP}: Option inconnue «{NBSP}--bogus{NBSP}»" in said["unknown option"][1], said["unknown option"][1]
    assert f"Essayez «{NBSP}newsletter --help{NBSP}» pour obtenir de l’aide" in said["unknown option"][1]
    assert "Argument manquant 'EMAIL'" in said["missing argument"][1]
    assert f"1 abonné exporté vers TMP/abonnes.csv." in said["export"][1], said["export"][1]
    assert re.search(r"camille@example\.org +actif", said["list"][1]), said["list"][1]  # the row's status too
    assert "0 rebond définitif" in said["bounces"][1] and "rebonds" not in said["bounces"][1], said["bounces"][1]
    assert f"clé inconnue «{NBSP}prot{NBSP}»" in said["config"][1] and said["config"][0] == 2, said["config"][1]
    assert NNBSP + "?" in said["config"][1]  # "vouliez-vous dire 'port' ?"
    assert f"rate{NBSP}" not in said["report"][1] and "clics" in said["report"][1], said["report"][1]
    assert "absent" in said["schedule"][1] or "envoyé" in said["schedule"][1], said["schedule"][1]
    assert f"une clé d’API nommée «{NBSP}cms{NBSP}» existe déjà" in said["api-keys twice"][1]
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
    assert re.search(r"camille@example\.org +active", said["list"][1]), said["list"][1]
    assert "0 hard bounces" in said["bounces"][1]
    assert "has an unknown key 'prot'; did you mean 'port'?" in said["config"][1]


# -- --help: every command's text and every option's, said when shown -----------------------------------


def _tree(command: click.Command | None = None, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...],
                                                                                          click.Command]]:
    """Every command and subcommand of ``newsletter`` with its path (the group itself first, path ``()``)."""
    command = command or cli
    found = [(path, command)]
    for name, sub in getattr(command, "commands", {}).items():
        found += _tree(sub, (*path, name))
    return found


def _texts(command: click.Command) -> list[str]:
    """The English texts of a command's ``--help``: its docstring (as click cleans it) and its parameters' ``help=``."""
    texts = [inspect.cleandoc(command.help)] if command.help else []
    return texts + [param.help for param in command.params if getattr(param, "help", None)]


def _flat(text: str) -> str:
    """``text`` as words, whatever the lines click wrapped it into (it may break after a hyphen), without
    click's ``\\b`` (keep the next lines as they are) markers."""
    return re.sub(r"-\s+", "-", " ".join(text.replace("\b", "").split()))


def test_every_help_text_is_extracted_by_make_messages() -> None:
    with (REPO / "babel.cfg").open(encoding="utf-8") as handle:
        method_map, options_map = parse_mapping_cfg(handle)
    extracted = {message for file, _line, message, _comments, _context in
                 extract_from_dir(REPO, method_map, options_map,
                                  directory_filter=lambda path: Path(path) in (REPO, REPO / "newsletter",
                                                                               REPO / "newsletter" / "frontends"))
                 if file == "newsletter/frontends/cli.py"}
    texts = {text for _path, command in _tree() for text in _texts(command)}
    assert len(texts) > 100 and texts - extracted == set()


def test_every_command_help_is_french_under_a_french_locale(say: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LANG", "fr_FR.UTF-8")
    french = words("fr_FR").translations
    untranslated, unseen = [], []
    for path, command in _tree():
        code, out = say(*path, "--help")
        assert code == 0, out
        shown = _flat(out)
        for text in _texts(command):
            said = french.gettext(text)
            if said == text or _flat(text) in shown:
                untranslated.append((" ".join(path), text))
            elif _flat(said) not in shown:
                unseen.append((" ".join(path), said))
        listed = out.split("Commandes\u00a0:")[1].splitlines()[1:] if isinstance(command, click.Group) else []
        for name, short in (line.split(None, 1) for line in listed if line.strip()):  # the group's list, in French
            if short.startswith(_flat(inspect.cleandoc(command.commands[name].help or ""))[:20]):
                untranslated.append((f"{' '.join(path)} (list)", short))
        assert "Affiche ce message et quitte." in out and "Show this message" not in out, out
    assert unseen == [], unseen
    assert untranslated == [], untranslated


def test_every_command_help_stays_english_under_c(say: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    french = words("fr_FR").translations
    for locale in ("fr_FR.UTF-8", "C"):  # French first: nothing of it stays behind in the process
        monkeypatch.setenv("LANG", locale)
        outs = {path: say(*path, "--help") for path, _command in _tree()}
    for path, command in _tree():
        code, out = outs[path]
        shown = _flat(out)
        assert code == 0 and "Show this message and exit." in out and "Options:" in out, out
        for text in _texts(command):
            assert _flat(text) in shown and _flat(french.gettext(text)) not in shown, (path, text)
    assert "Show the version and exit." in outs[()][1]


@pytest.mark.parametrize("locale", ["C", "fr_FR.UTF-8"])
def test_two_example_commands_never_share_a_line_of_help(say: Run, locale: str,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """click rewraps a docstring's paragraphs: two example commands ran together on one line ("newsletter new
    2026-11-25     newsletter new 2026-12-07 --edition speciale") until a ``\\b`` kept them apart."""
    monkeypatch.setenv("LANG", locale)
    joined = [(path, line.strip()) for path, _command in _tree() for line in say(*path, "--help")[1].splitlines()
              if re.match(r"\s+newsletter \S.*\s{2,}newsletter ", line)]
    assert joined == []
