"""The preview's rebuilds (``newsletter preview``): the check's problems and the email as a sample
reader gets it, read from the project's files at each change. They need no open project: each
rebuild reads the configuration anew, and never raises.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from newsletter.errors import NewsletterError

if TYPE_CHECKING:
    from newsletter.content.publication import Image

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PreviewProblem:
    severity: str  # "error" or "warning"
    text: str  # where and what, paths relative to the project


@dataclass(frozen=True)
class PreviewBuild:
    """One rebuild of the preview: the check's problems and the email as a sample reader gets it."""

    locale: str | None  # the configuration's language; None when the configuration did not load
    problems: list[PreviewProblem] = field(default_factory=list)
    error: str = ""  # why nothing could be checked (the configuration's error, with its hint)
    crash: str = ""  # an unexpected error's repr (logged with its traceback)
    rendered: bool = False  # False: the email could not be rendered (see the problems)
    html: str = ""
    text: str = ""
    logo: str = ""  # [brand] logo, relative to the project (the preview serves it and watches it)


def preview_build(root: Path, day: date, *, asset_base: str) -> PreviewBuild:
    """Check and render the issue of ``day`` of the project at ``root``, reading its configuration now.

    Never raises: whatever an edit breaks is in the result, so that the preview keeps working.
    """
    from newsletter.services.check import check_issue
    from newsletter.config import load_settings
    from newsletter.core.i18n import words
    from newsletter.render.sample import sample_values

    locale: str | None = None
    try:
        settings = load_settings(root)
        locale = settings.newsletter.locale
        report = check_issue(settings, day, asset_base=asset_base)
    except NewsletterError as err:
        return PreviewBuild(locale, error=f"{err}" + (f" ({err.hint})" if err.hint else ""))
    except Exception as err:  # the page must keep working whatever an edit breaks
        log.exception("preview of %s failed", day.isoformat())
        return PreviewBuild(locale, crash=repr(err))
    spoken = words(settings.newsletter.locale)  # the page's language: the problems are said in it too
    said = spoken.translations.gettext
    problems = [PreviewProblem(p.severity, spoken.gettext("%(where)s: warning: %(what)s", where=p.location(settings.root),
                                                          what=p.text(said)) if p.severity == "warning" else
                               spoken.gettext("%(where)s: %(what)s", where=p.location(settings.root), what=p.text(said)))
                for p in report.problems]
    logo = settings.brand.logo if settings.brand else ""
    if report.rendered is None:
        return PreviewBuild(locale, problems, logo=logo)
    html, text = report.rendered.personalize(sample_values(settings))
    return PreviewBuild(locale, problems, rendered=True, html=html, text=text, logo=logo)


def preview_image(root: Path, day: date, relative: str, *, logo: str = "") -> Image | None:
    """An image file of the issue folder, or the brand's ``logo`` under its content-hashed name:
    never a link, never anything else."""
    from newsletter.content.load import issue_folder
    from newsletter.content.publication import UnsafeFileError, read_image
    from newsletter.render.pipeline import LOGO_FOLDER

    if logo and relative.startswith(LOGO_FOLDER):
        try:
            found = read_image(root, logo)
        except UnsafeFileError:
            return None
        return found if relative == LOGO_FOLDER + found.name else None
    try:
        return read_image(issue_folder(root / "issues", day), relative)
    except UnsafeFileError:
        return None
