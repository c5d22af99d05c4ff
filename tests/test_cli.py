"""The command line: every command documented, outputs and exit codes as the README says."""

from __future__ import annotations

import email
import email.policy
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from newsletter.cli import cli, main
from tests.conftest import DAY, item_text, write


def run(project: Path, *args: str) -> tuple[int, str]:
    runner = CliRunner()
    result = runner.invoke(cli, ["--project", str(project), *args], standalone_mode=False)
    if result.exception is None:
        return 0, result.output
    # Route errors through main() to get the real exit code and message.
    code = main(["--project", str(project), *args])
    return code, result.output


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


def test_check_passes_on_a_good_issue(project: Path) -> None:
    code, out = run(project, "check", DAY.isoformat())
    assert code == 0
    assert "issues/2026-11-24: ready (5 items" in out


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
    code, _ = run(project, "build", DAY.isoformat())
    assert code == 1
    assert (project / "out" / DAY.isoformat() / "email.html").read_bytes() == before
    assert [p.name for p in (project / "out").iterdir()] == [DAY.isoformat()]


def test_build_twice_gives_the_same_bytes(project: Path) -> None:
    run(project, "build", DAY.isoformat())
    folder = project / "out" / DAY.isoformat()
    first = {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}
    run(project, "build", DAY.isoformat())
    assert first == {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}


def test_new_creates_stubs_that_check_flags(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(project, "new", "2026-12-01")
    assert code == 0 and "Created 6 files" in out
    folder = project / "issues" / "2026-12-01"
    assert sorted(p.name for p in folder.iterdir())[:2] == ["01-info-1.md", "02-info-2.md"]
    assert main(["--project", str(project), "check", "2026-12-01"]) == 1
    assert "'title' is required" in capsys.readouterr().out
    assert main(["--project", str(project), "new", "2026-12-01"]) == 1  # never overwrites


def test_init_scaffolds_a_project_that_builds(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "ma-lettre"
    assert main(["init", str(target)]) == 0
    for name in ("newsletter.toml", "subscribers.example.csv", "templates/email.mjml.j2", "templates/email.txt.j2",
                 ".gitignore"):
        assert (target / name).is_file(), name
    sample = next((target / "issues").iterdir()).name
    assert main(["--project", str(target), "build", sample]) == 0
    assert main(["init", str(target)]) == 1  # refuses to overwrite
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
