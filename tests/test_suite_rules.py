"""Rules the test suite keeps for itself: shared helpers live in ``tests/helpers/`` (never imported from
another test module), and a test changes ``newsletter.toml`` through :mod:`tests.helpers.config`."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.helpers.config import read_config, remove_option, remove_table, set_option, set_options

TESTS = REPO / "tests"
#: What a test module may import from ``tests``: the helpers, the root conftest, and the fixture
#: modules that hold real servers and sample data (kept where they are: other branches edit them).
SHARED = {"tests.helpers", "tests.conftest", "tests.sink", "tests.fakes", "tests.pg", "tests.dkim_keys",
          "tests.dns_server", "tests.provider_events", "tests.bounces.mails", "tests.bounces.imap_server"}


def _allowed(module: str) -> bool:
    return any(module == shared or module.startswith(shared + ".") for shared in SHARED)


def stray_imports(root: Path) -> list[str]:
    """``path:line: module`` for each import of a ``tests`` module that is not a shared one."""
    found = []
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and not node.level:
                modules = [f"{node.module}.{alias.name}" for alias in node.names]  # a name or a module
            elif isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            else:
                continue
            for module in modules:
                if (module == "tests" or module.startswith("tests.")) and not _allowed(module):
                    found.append(f"{path.relative_to(root.parent)}:{node.lineno}: {module}")
    return found


def test_no_test_module_imports_from_another_test_module() -> None:
    assert stray_imports(TESTS) == [], "move what they share into tests/helpers/"


@pytest.mark.parametrize("source", [
    "from tests.test_cli import run\n",
    "from tests.desk.conftest import csrf_token\n",
    "from tests import test_config\n",
    "def f():\n    from tests.web.test_service import Service\n",
    "import tests.store.test_ledger\n",
])
def test_the_import_rule_catches_a_planted_import(tmp_path: Path, source: str) -> None:
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_x.py").write_text(source, encoding="utf-8")
    assert len(stray_imports(tmp_path / "tests")) == 1


def test_the_import_rule_lets_the_helpers_through(tmp_path: Path) -> None:
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_x.py").write_text(
        "from tests.helpers.config import set_options\nfrom tests.conftest import DAY\nfrom tests.sink import Sink\n"
        "from tests import helpers\n", encoding="utf-8")
    assert stray_imports(tmp_path / "tests") == []


# -- tests.helpers.config ------------------------------------------------------------------------

SAMPLE = """# the newsletter
[delivery]
adapter = "outbox"  # where the mail goes
rate_per_second = 20

[delivery.smtp]
host = "smtp.example.org"
username = "newsletter"
"""


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "newsletter.toml"
    path.write_text(SAMPLE, encoding="utf-8")
    return tmp_path


def test_set_options_changes_keys_and_keeps_the_comments(config: Path) -> None:
    set_options(config, "delivery", adapter="smtp", rate_per_second=5000)
    text = (config / "newsletter.toml").read_text(encoding="utf-8")
    assert 'adapter = "smtp"  # where the mail goes' in text and "rate_per_second = 5000" in text
    assert text.startswith("# the newsletter\n")


def test_set_options_creates_a_missing_table_and_key(config: Path) -> None:
    set_options(config, "web", base_url="https://example.org/lettre", port=8080)
    set_option(config, "delivery.smtp", "timeout", 60)
    document = read_config(config)
    assert document["web"] == {"base_url": "https://example.org/lettre", "port": 8080}
    assert document["delivery"]["smtp"]["timeout"] == 60  # type: ignore[index]


def test_remove_option_removes_a_key_and_refuses_a_missing_one(config: Path) -> None:
    remove_option(config, "delivery.smtp", "username")
    assert "username" not in read_config(config)["delivery"]["smtp"]  # type: ignore[index, operator]
    with pytest.raises(KeyError, match="has no key 'username'"):
        remove_option(config, "delivery.smtp", "username")
    with pytest.raises(KeyError, match=r"no \[bounces\] table"):
        remove_option(config, "bounces", "address")
    remove_table(config, "delivery.smtp")
    assert "smtp" not in read_config(config)["delivery"]  # type: ignore[operator]


def test_a_file_that_does_not_parse_raises_naming_it(config: Path) -> None:
    path = config / "newsletter.toml"
    path.write_text("[delivery\nadapter = 1\n", encoding="utf-8")
    with pytest.raises(ValueError, match="newsletter.toml is not valid TOML"):
        set_options(config, "delivery", adapter="smtp")
    assert path.read_text(encoding="utf-8") == "[delivery\nadapter = 1\n"  # nothing written
