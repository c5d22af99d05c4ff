"""Shared fixtures: a real project folder on disk, built from the files in tests/fixtures/."""

from __future__ import annotations

import shutil
import subprocess
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Callable, Iterator

import pytest

from newsletter.config import Settings, load_settings
from newsletter.store.database import Store, open_store
from tests.helpers.clock import shift_clock
from tests.sink import Sink
from tests.pg import PostgreSQL, binaries

REPO = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).resolve().parent / "fixtures"
DAY = date(2026, 11, 24)
SECRET = "test-key-5Qm2vXr8Lk0pWz7Hn3Tb6Yc1Jd9Fg4Se"  # strong enough for the checks; tests only


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--regen-golden", action="store_true", help="rewrite tests/golden/ from the sample issue")
    parser.addoption("--artifacts", metavar="DIR", default=None,
                     help="keep the screenshots and reports tests make in DIR (by default they stay in tmp_path)")
    parser.addoption("--clock-shift", metavar="DAYS", type=float, default=None,
                     help="run under the real clock moved by DAYS (negative: back); no test may depend on the date")


def pytest_configure(config: pytest.Config) -> None:
    days = config.getoption("--clock-shift")
    if days:
        shift_clock(days)


def pytest_report_header(config: pytest.Config) -> str | None:
    days = config.getoption("--clock-shift")
    return f"clock shifted by {days:g} days: {datetime.now(timezone.utc).isoformat(timespec='seconds')}" if days else None


#: What running the tests may leave in the repository: Python's and the tools' caches.
_CACHES = ("__pycache__", ".pytest_cache", ".mypy_cache", ".hypothesis")


def untracked_files(repo: Path) -> set[str]:
    """Files in ``repo`` that git does not track (ignored ones included), caches left out."""
    found: set[str] = set()
    for ignored in ([], ["--ignored"]):  # git lists the untracked files and the ignored ones separately
        listed = subprocess.run(["git", "-C", str(repo), "ls-files", "--others", *ignored, "--exclude-standard"],
                                capture_output=True, text=True, timeout=60, check=True).stdout
        found.update(line for line in listed.splitlines() if not any(part in _CACHES for part in line.split("/")))
    return found


@pytest.fixture(scope="session", autouse=True)
def repository_untouched(request: pytest.FixtureRequest) -> Iterator[None]:
    """Tests write in their tmp_path, never into the repository: a file the run leaves there fails it."""
    if not (REPO / ".git").exists() or request.config.getoption("--regen-golden") \
            or request.config.getoption("--artifacts"):
        yield
        return
    before = untracked_files(REPO)
    yield
    left = sorted(untracked_files(REPO) - before)
    assert not left, f"tests wrote into the repository (use tmp_path or the artifacts fixture): {left[:10]}"


@pytest.fixture(autouse=True)
def english_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """The command line speaks the terminal's language: tests run in English whatever the machine's locale
    (a test wanting French sets LANG, LC_MESSAGES or LC_ALL itself)."""
    for name in ("LC_ALL", "LC_MESSAGES"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LANG", "C.UTF-8")


@pytest.fixture
def artifacts(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    """Where a test puts what a person may want to look at; never the repository unless asked."""
    kept = request.config.getoption("--artifacts")
    folder = Path(kept).resolve() if kept else tmp_path / "artifacts"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def regen_golden(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--regen-golden"))


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project folder: the repository's newsletter.toml and the fixture issue as issues/2026-11-24."""
    monkeypatch.delenv("NEWSLETTER_SECRET_KEY", raising=False)
    root = tmp_path / "project"
    root.mkdir()
    shutil.copyfile(REPO / "newsletter.toml", root / "newsletter.toml")
    shutil.copytree(FIXTURES / "issue", root / "issues" / DAY.isoformat())
    # The fixture's links name hosts on the internet: a scheduler must not look them up before it sends
    # (tests/test_scheduler_links.py turns the check back on, against pages on 127.0.0.1).
    from tests.helpers.config import set_options  # it reads this module's REPO

    set_options(root, "schedule", check_links=False)
    return root


@pytest.fixture
def store(project: Path) -> Iterator[Store]:
    """The project's SQLite store, migrated."""
    store = open_store("sqlite:///state/newsletter.db", project)
    yield store
    store.close()


@pytest.fixture(scope="session")
def server_url() -> Iterator[str]:
    """A PostgreSQL server on 127.0.0.1 shared by the suite's PostgreSQL tests (started once, when first asked)."""
    if binaries() is None:
        pytest.skip("PostgreSQL server binaries not installed (`make test` installs them)")
    server = PostgreSQL()
    try:
        yield server.start()
    finally:
        server.stop()


@pytest.fixture
def sink() -> Iterator[Sink]:
    """A recording SMTP server on 127.0.0.1."""
    with Sink() as running:
        yield running


@pytest.fixture
def cli(project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):  # type: ignore[no-untyped-def]
    """Run ``newsletter --project PROJECT ARGS…`` in this process: (exit code, stdout, stderr)."""
    from newsletter.frontends.cli import main

    monkeypatch.setenv("NEWSLETTER_SECRET_KEY", SECRET)

    def run(*args: str, clock: Callable[[], datetime] | None = None) -> tuple[int, str, str]:
        code = main(["--project", str(project), *args], clock=clock)
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


@pytest.fixture
def settings(project: Path) -> Settings:
    return load_settings(project)


@pytest.fixture
def issue_dir(project: Path) -> Path:
    return project / "issues" / DAY.isoformat()


def add_brand(root: Path) -> Path:
    """Give the project at ``root`` the [brand] of tests/fixtures/brand/ (appended to its newsletter.toml) and
    the logo it names (``brand/logo.png``)."""
    config = root / "newsletter.toml"
    config.write_text(config.read_text(encoding="utf-8") + (FIXTURES / "brand" / "brand.toml").read_text(
        encoding="utf-8"), encoding="utf-8")
    (root / "brand").mkdir(exist_ok=True)
    shutil.copyfile(FIXTURES / "brand" / "logo.png", root / "brand" / "logo.png")
    return root


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def item_text(title: str = "Un titre", source: str = "Une source", body: str = "Un texte court.", **extra: str) -> str:
    """An item file's text; ``extra`` adds front-matter keys."""
    lines = ["---", f'title: "{title}"', f'source: "{source}"']
    lines += [f'{key}: "{value}"' for key, value in extra.items()]
    return "\n".join(lines + ["---", body, ""])
