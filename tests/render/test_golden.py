"""The sample issue renders to exactly the bytes in tests/golden/ (regenerate: `make golden`): as the
repository's project has it, and with the branded sample of tests/fixtures/brand/."""

from __future__ import annotations

from pathlib import Path

import shutil

import pytest

from newsletter.services.build import SAMPLE_RECIPIENT, SAMPLE_SECRET
from newsletter.config import load_settings
from newsletter.services.check import check_issue
from newsletter.render.mime import recipient_values
from tests.conftest import DAY, REPO, add_brand

GOLDEN = Path(__file__).resolve().parents[1] / "golden"


def branded_project(folder: Path) -> Path:
    """The repository's project with the [brand] of tests/fixtures/brand/ and its logo, in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(REPO / "newsletter.toml", folder / "newsletter.toml")
    shutil.copytree(REPO / "issues" / DAY.isoformat(), folder / "issues" / DAY.isoformat())
    return add_brand(folder)


@pytest.mark.parametrize("variant", ["plain", "branded"])
def test_sample_issue_matches_the_golden_files(regen_golden: bool, variant: str, tmp_path: Path) -> None:
    root = REPO if variant == "plain" else branded_project(tmp_path / "project")
    golden = GOLDEN / (DAY.isoformat() if variant == "plain" else f"branded-{DAY.isoformat()}")
    settings = load_settings(root)
    report = check_issue(settings, DAY)
    assert report.ok and report.rendered is not None, [p.format(root) for p in report.problems]
    html, text = report.rendered.personalize(recipient_values(settings, SAMPLE_RECIPIENT, SAMPLE_SECRET))
    outputs = {"email.html": html, "email.txt": text}
    if regen_golden:
        golden.mkdir(parents=True, exist_ok=True)
        for name, content in outputs.items():
            (golden / name).write_text(content, encoding="utf-8", newline="")
        pytest.skip("golden files rewritten; review `git diff tests/golden`")
    for name, content in outputs.items():
        expected = (golden / name).read_text(encoding="utf-8")
        assert content == expected, f"{name} differs from tests/golden; if intended, run `make golden`"


@pytest.mark.parametrize("folder", sorted((REPO / "issues").iterdir()), ids=lambda p: p.name)
def test_every_sample_issue_passes_the_check(folder: Path) -> None:
    from datetime import date

    report = check_issue(load_settings(REPO), date.fromisoformat(folder.name))
    assert report.problems == [], [p.format(REPO) for p in report.problems]
    assert len(report.issue.items) == 5 and all(item.source for item in report.issue.items)
