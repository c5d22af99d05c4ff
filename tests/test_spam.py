"""A sent message scores ≤ 0 with SpamAssassin (Debian's, network tests off).

The full report is saved as spamassassin.txt in the test's tmp_path (or the folder of ``--artifacts DIR``).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from datetime import datetime, timezone
from pathlib import Path

import pytest

from newsletter.config import Settings
from newsletter.content.load import load_issue
from newsletter.render.mime import Recipient, build_message
from newsletter.render.pipeline import render_issue
from tests.conftest import DAY, SECRET

SPAMASSASSIN = shutil.which("spamassassin")


@pytest.mark.skipif(SPAMASSASSIN is None, reason="Debian's spamassassin is not installed (`make test` installs it)")
def test_sample_message_scores_at_most_zero(settings: Settings, tmp_path: Path, artifacts: Path) -> None:
    rendered = render_issue(load_issue(settings.issues_dir, DAY, 5).issue, settings)
    raw = build_message(rendered, settings, Recipient("camille.martin@example.org", "Camille", "Martin"),
                        secret_key=SECRET, date=datetime(2026, 11, 24, 6, tzinfo=timezone.utc))
    result = subprocess.run(
        [str(SPAMASSASSIN), "-L", "-t"], input=raw, capture_output=True, timeout=120,
        env={**os.environ, "HOME": str(tmp_path)},
    )
    report = result.stdout.decode("utf-8", "replace")
    details = report[report.find("Content analysis details"):]
    (artifacts / "spamassassin.txt").write_text(details, encoding="utf-8")
    score = float(re.search(r"Content analysis details:\s+\((-?[\d.]+) points", details).group(1))  # type: ignore[union-attr]
    assert score <= 0, details
