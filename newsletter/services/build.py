"""``newsletter build``: write the checked issue to ``out/DATE/`` as subscribers will get it.

The folder receives ``email.html`` and ``email.txt`` personalized for an example recipient,
``sample.eml`` (the complete MIME message for that recipient) and the issue's own image
files. ``sample.eml`` is exactly what that subscriber gets (content-hashed image URLs, the
public web version); ``email.html`` is for proofreading from disk: its images are the copies
beside it and its "view online" link carries the proofreading key, so both work before the
issue is sent. It is written beside the old one and swapped in at the end, so a failed build never
leaves half a folder behind.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path

from newsletter.config import SECRET_KEY_ENV, Settings
from newsletter.services.check import CheckReport, check_issue
from newsletter.content.markdown import is_safe_url
from newsletter.content.problems import errors
from newsletter.core.i18n import Count
from newsletter.errors import N_, ContentError
from newsletter.content.publication import proof_url, read_image
from newsletter.render.pipeline import LOGO_FOLDER, render_issue
from newsletter.render.mime import build_message, recipient_values
from newsletter.render.sample import SAMPLE_RECIPIENT, SAMPLE_SECRET

log = logging.getLogger(__name__)

SAMPLE_HOUR = time(7, 0)


@dataclass
class BuildResult:
    folder: Path
    files: list[Path]
    report: CheckReport


def build_issue(settings: Settings, day: date, *, secret_key: str | None = None) -> BuildResult:
    """Check, render and write the issue of ``day``.

    :param secret_key: signs the sample's unsubscribe link; defaults to ``NEWSLETTER_SECRET_KEY``
        and then to a sample-only key.
    :raises ContentError: listing every problem when the check fails; nothing is written then.
    """
    report = check_issue(settings, day)
    blocking = errors(report.problems)
    if blocking or report.rendered is None:
        raise ContentError(
            N_("issue %(day)s has %(problems)s; nothing was built"),
            report.problems,
            hint=N_("fix them, then run `newsletter check %(day)s` again"),
            values={"day": day.isoformat(), "problems": Count("%(num)d problem", "%(num)d problems", len(blocking))},
        )
    rendered = report.rendered
    key = secret_key or os.environ.get(SECRET_KEY_ENV) or SAMPLE_SECRET
    values = recipient_values(settings, SAMPLE_RECIPIENT, key)
    values["web_url"] = proof_url(settings.newsletter.base_url, key, day)
    html, _ = render_issue(report.issue, settings, asset_base="").personalize(values)
    text = rendered.text_template.render(values)
    sent_at = datetime.combine(day, SAMPLE_HOUR, settings.tz)
    eml = build_message(rendered, settings, SAMPLE_RECIPIENT, secret_key=key, date=sent_at)

    target = settings.out_dir / day.isoformat()
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{day.isoformat()}.", dir=target.parent))
    try:
        (staging / "email.html").write_text(html, encoding="utf-8", newline="")
        (staging / "email.txt").write_text(text, encoding="utf-8", newline="")
        (staging / "sample.eml").write_bytes(eml)
        for item in report.issue.items:
            if item.image and not is_safe_url(item.image):
                image = read_image(report.issue.folder, item.image)  # never a link, never a non-image
                copy = staging / image.relative
                copy.parent.mkdir(parents=True, exist_ok=True)
                copy.write_bytes(image.data)
        if settings.brand and settings.brand.logo:  # the logo beside the email, under its content-hashed name
            logo = read_image(settings.root, settings.brand.logo)
            (staging / LOGO_FOLDER).mkdir(exist_ok=True)
            (staging / LOGO_FOLDER / logo.name).write_bytes(logo.data)
        _swap_in(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    files = sorted(p for p in target.rglob("*") if p.is_file())
    log.info("built issue %s into %s (%d files)", day.isoformat(), target, len(files))
    return BuildResult(target, files, report)


def _swap_in(staging: Path, target: Path) -> None:
    """Replace ``target`` by ``staging`` with renames only."""
    os.chmod(staging, 0o755)
    if target.exists():
        old = target.with_name(f".{target.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        target.rename(old)
        staging.rename(target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        staging.rename(target)
