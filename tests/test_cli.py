"""The command line: every command documented, outputs and exit codes as the README says."""

from __future__ import annotations

import contextlib
import email
import email.policy
import io
import os
from pathlib import Path
from typing import Callable

import click
import pytest
from click.testing import CliRunner

from newsletter.frontends.cli import cli, main
from tests.conftest import DAY, SECRET, item_text, write
from tests.helpers.config import set_options


def run(project: Path, *args: str) -> tuple[int, str]:
    """Run the command once, as the console script does: its exit code and what it printed (stdout and stderr)."""
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(printed):
        code = main(["--project", str(project), *args])
    return code, printed.getvalue()


def _commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = []
    for name, command in group.commands.items():
        found.append((*prefix, name))
        if isinstance(command, click.Group):
            found.extend(_commands(command, (*prefix, name)))
    return sorted(found)


@pytest.mark.parametrize("path", _commands(cli), ids=" ".join)
def test_every_command_is_documented_with_an_example(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(cli, [*path, "--help"])
    assert result.exit_code == 0 and "Example:" in result.output, path


def test_check_lists_problems_as_file_line_and_exits_1(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(project / "issues" / DAY.isoformat() / "02-mobile.md", item_text(title="", body="[x](javascript:x)"))
    assert main(["--project", str(project), "check", DAY.isoformat()]) == 1
    captured = capsys.readouterr()
    assert "issues/2026-11-24/02-mobile.md:2: 'title' is required" in captured.out
    assert "issues/2026-11-24/02-mobile.md:5: link 'javascript:x' is not allowed" in captured.out
    assert "2 errors" in captured.err and "Traceback" not in captured.err


def test_missing_issue_exits_1_with_a_hint(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--project", str(project), "check", "2030-01-01"]) == 1
    err = capsys.readouterr().err
    assert "no issue for 2030-01-01" in err and "newsletter new 2030-01-01" in err


def test_bad_date_is_a_usage_error(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--project", str(project), "check", "24/11/2026"]) == 2
    assert "write it as YYYY-MM-DD" in capsys.readouterr().err


def test_no_project_is_a_config_error(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["check"]) == 2
    assert "newsletter init" in capsys.readouterr().err


def test_build_writes_the_three_files(project: Path) -> None:
    code, out = run(project, "build", DAY.isoformat())
    assert code == 0, out
    folder = project / "out" / DAY.isoformat()
    assert {p.name for p in folder.iterdir()} == {"email.html", "email.txt", "sample.eml", "images"}
    assert (folder / "images" / "barres.png").is_file()
    html = (folder / "email.html").read_text(encoding="utf-8")
    assert "Bonjour Camille," in html and "NLMRG" not in html
    msg = email.message_from_bytes((folder / "sample.eml").read_bytes(), policy=email.policy.default)
    assert msg.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in msg.iter_parts()] == ["text/plain", "text/html"]


def test_failed_build_writes_nothing_and_keeps_the_previous_one(project: Path) -> None:
    assert run(project, "build", DAY.isoformat())[0] == 0
    before = (project / "out" / DAY.isoformat() / "email.html").read_bytes()
    write(project / "issues" / DAY.isoformat() / "02-mobile.md", item_text(source=""))
    code, out = run(project, "build", DAY.isoformat())
    reported = [line for line in out.splitlines() if "02-mobile.md" in line]
    assert code == 1 and reported and len(reported) == len(set(reported)), out  # by one run, each problem once
    assert (project / "out" / DAY.isoformat() / "email.html").read_bytes() == before
    assert [p.name for p in (project / "out").iterdir()] == [DAY.isoformat()]


def test_build_twice_gives_the_same_bytes(project: Path) -> None:
    assert run(project, "build", DAY.isoformat())[0] == 0
    folder = project / "out" / DAY.isoformat()
    first = {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}
    assert run(project, "build", DAY.isoformat())[0] == 0
    assert first == {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}


def test_new_creates_stubs_that_check_flags(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(project, "new", "2026-12-01")
    assert code == 0 and "Created 6 files" in out
    folder = project / "issues" / "2026-12-01"
    assert sorted(p.name for p in folder.iterdir())[:2] == ["01-info-1.md", "02-info-2.md"]
    assert main(["--project", str(project), "check", "2026-12-01"]) == 1
    assert "'title' is required" in capsys.readouterr().out
    assert main(["--project", str(project), "new", "2026-12-01"]) == 2  # never overwrites


def test_init_scaffolds_a_project_that_builds(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "ma-lettre"
    assert main(["init", str(target)]) == 0
    for name in ("newsletter.toml", "subscribers.example.csv", "templates/email.mjml.j2", "templates/email.txt.j2",
                 "dictionary.txt", ".gitignore"):
        assert (target / name).is_file(), name
    sample = next((target / "issues").iterdir()).name
    assert main(["--project", str(target), "build", sample]) == 0
    assert main(["init", str(target)]) == 2  # refuses to overwrite
    assert "nothing was written" in capsys.readouterr().err


def _drop_default(project: Path) -> None:
    meta = project / "issues" / DAY.isoformat() / "issue.yaml"
    meta.write_text(meta.read_text(encoding="utf-8").replace('{{ first_name | default("à toutes et à tous") }}',
                                                             "{{ first_name }}"), encoding="utf-8")


def test_check_counts_subscribers_without_a_first_name_but_never_creates_a_database(project: Path) -> None:
    _drop_default(project)
    code, out = run(project, "check", DAY.isoformat())
    assert code == 0 and "subscribers without a first name would read it" in out
    assert not (project / "state").exists()  # no store: no figure, and no database made for it
    assert run(project, "subscribers", "add", "zoe@example.org")[0] == 0
    assert run(project, "subscribers", "add", "max@example.org", "--first-name", "Max")[0] == 0
    code, out = run(project, "check", DAY.isoformat())
    assert code == 0 and "1 active subscriber without a first name" in out


# -- exit codes: 1 content or delivery problems, 2 usage or configuration errors ---------------


def _broken_template(project: Path) -> None:
    import shutil

    from tests.conftest import REPO

    shutil.copytree(REPO / "templates", project / "templates")
    text = project / "templates" / "email.txt.j2"
    text.write_text(text.read_text(encoding="utf-8") + "\n{% if %}\n", encoding="utf-8")


def _no_email_column(project: Path) -> None:
    write(project / "contacts.csv", "nom;prénom\nDupont;Jean\n")


def _unclosed_quote(project: Path) -> None:
    write(project / "contacts.csv", "email,first_name\nr1@example.org,\"O'Brien\nr2@example.org,Jean\n")


def _bad_cron(project: Path) -> None:
    set_options(project, "schedule", cron="0 25 * * *")


def _bad_toml(project: Path) -> None:
    (project / "newsletter.toml").write_text("[newsletter\nname = 1\n", encoding="utf-8")


def _bad_item(project: Path) -> None:
    write(project / "issues" / DAY.isoformat() / "02-mobile.md", item_text(title=""))


def _nothing(project: Path) -> None:
    pass


def _no_key(project: Path) -> None:
    del os.environ["NEWSLETTER_SECRET_KEY"]  # set by the test through monkeypatch, which puts it back


D = DAY.isoformat()
ERROR_PATHS = [
    # usage: a bad argument, option or file named on the command line
    ("unknown command", _nothing, ["envoyer"], 2, "No such command"),
    ("unknown option", _nothing, ["check", "--vite"], 2, "No such option"),
    ("bad date", _nothing, ["check", "24/11/2026"], 2, "write it as YYYY-MM-DD"),
    ("bad status date", _nothing, ["status", "hier"], 2, "write it as YYYY-MM-DD"),
    ("test address", _nothing, ["send", D, "--test", "pas-une-adresse"], 2, "--test 'pas-une-adresse' is not a valid"),
    ("--at not a time", _nothing, ["send", D, "--at", "demain 7h"], 2, "is not a time"),
    ("--at in the past", _nothing, ["send", D, "--at", "2020-01-01 07:00"], 2, "is in the past"),
    ("empty override", _nothing, ["send", D, "--without-approval", ""], 2, "give the reason"),
    ("endless override", _nothing, ["send", D, "--without-approval", "x" * 501], 2, "500 characters at most"),
    ("import missing file", _nothing, ["subscribers", "import", "/nonexistent.csv"], 2, "no such file"),
    ("import a folder", _nothing, ["subscribers", "import", "issues"], 2, "is a directory"),
    ("export to no folder", _nothing, ["subscribers", "export", "/nonexistent/x.csv"], 2, "cannot write"),
    ("add bad address", _nothing, ["subscribers", "add", "a@b"], 2, "is not a valid address"),
    ("add name with CR", _nothing, ["subscribers", "add", "a@example.org", "--first-name", "A\rB"], 2,
     "control character"),
    ("remove bad address", _nothing, ["subscribers", "remove", "pas-une-adresse"], 2, "is not a valid address"),
    ("list bad status", _nothing, ["subscribers", "list", "--status", "parti"], 2, "Invalid value"),
    ("history limit", _nothing, ["history", "--limit", "0"], 2, "Invalid value"),
    ("approve without name", _nothing, ["approve", D, "--by", " "], 2, "needs the approver's name"),
    ("new over an issue", _nothing, ["new", D], 2, "nothing was written"),
    ("init over a project", _nothing, ["init", "."], 2, "nothing was written"),
    # configuration: newsletter.toml, templates, the environment
    ("no secret key", _no_key, ["send", D, "--without-approval", "test"], 2, "NEWSLETTER_SECRET_KEY is not set"),
    ("broken toml", _bad_toml, ["check", D], 2, "newsletter.toml"),
    ("bad cron", _bad_cron, ["schedule", "show"], 2, "[schedule] cron '0 25 * * *' is not valid"),
    ("template syntax: check", _broken_template, ["check", D], 2, "template syntax error"),
    ("template syntax: build", _broken_template, ["build", D], 2, "template syntax error"),
    ("template syntax: approve", _broken_template, ["approve", D, "--by", "C"], 2, "template syntax error"),
    # content and data: what the files or the list say
    ("missing issue", _nothing, ["check", "2030-01-01"], 1, "no issue for 2030-01-01"),
    ("bad item", _bad_item, ["check", D], 1, "1 error"),
    ("bad item: build", _bad_item, ["build", D], 1, "nothing was built"),
    ("unapproved send", _nothing, ["send", D], 1, "is not approved"),
    ("remove unknown", _nothing, ["subscribers", "remove", "inconnu@example.org"], 1, "is not in the subscriber list"),
    ("import without email column", _no_email_column, ["subscribers", "import", "contacts.csv"], 1, "no email column"),
    ("import unclosed quote", _unclosed_quote, ["subscribers", "import", "contacts.csv"], 1, "contacts.csv:2: a quote"),
    ("status past due", _nothing, ["status", "2026-11-23"], 1, ""),
]


@pytest.mark.parametrize(("setup", "args", "code", "message"), [p[1:] for p in ERROR_PATHS],
                         ids=[p[0] for p in ERROR_PATHS])
def test_every_error_path_exits_as_the_readme_says(project: Path, monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str], setup: Callable[[Path], None],
                                                   args: list[str], code: int, message: str) -> None:
    monkeypatch.setenv("NEWSLETTER_SECRET_KEY", SECRET)
    setup(project)
    monkeypatch.chdir(project)
    assert main(["--project", str(project), *args]) == code
    captured = capsys.readouterr()
    assert message in captured.err + captured.out
    assert "Traceback" not in captured.err


@pytest.mark.parametrize(("approval", "verdict"), [
    ("not required", "issues/2026-11-24: ready (5 items"),
    ("missing", "issues/2026-11-24: ready to approve (5 items"),
    ("current", "issues/2026-11-24: ready (5 items"),
    ("stale", "issues/2026-11-24: approval stale (02-mobile.md changed since); ready to approve again (5 items"),
])
def test_check_says_where_the_approval_stands(project: Path, approval: str, verdict: str) -> None:
    if approval == "not required":
        set_options(project, "schedule", require_approval=False)
    if approval in ("current", "stale"):
        assert run(project, "approve", DAY.isoformat(), "--by", "Camille Martin")[0] == 0
    if approval == "stale":
        item = project / "issues" / DAY.isoformat() / "02-mobile.md"
        item.write_text(item.read_text(encoding="utf-8") + "\nUne phrase de plus.\n", encoding="utf-8")
    code, out = run(project, "check", DAY.isoformat())
    assert code == 0 and verdict in out


def test_the_command_line_calls_the_library_object_and_nothing_below_it() -> None:
    """cli.py presents; every operation goes through newsletter.library (errors are the shared vocabulary);
    it launches the other front ends through their entry modules only."""
    import ast

    from tests.conftest import REPO
    from tests.helpers.layers import LAUNCHERS

    tree = ast.parse((REPO / "newsletter" / "frontends" / "cli.py").read_text(encoding="utf-8"))
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
    imported |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    ours = {name for name in imported if name == "newsletter" or name.startswith("newsletter.")}
    assert ours <= {"newsletter", "newsletter.errors", "newsletter.library", *LAUNCHERS}, sorted(ours)


def test_a_build_refused_for_its_problems_says_so_in_the_terminals_language(
        project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LANG", "fr_FR.UTF-8")
    _bad_item(project)
    code, out = run(project, "build", DAY.isoformat())
    out = out.replace("\u00a0", " ").replace("\u202f", " ")
    assert code == 1 and f"erreur : le numéro {DAY.isoformat()} a 1 problème ; rien n’a été construit" in out, out
    assert f"piste : corrigez-les, puis relancez `newsletter check {DAY.isoformat()}`" in out, out
