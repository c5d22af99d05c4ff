"""The version of newsletter that runs, read once from the installed distribution's metadata.

Modules below the package root read it here: importing ``newsletter`` itself for ``__version__``
would load the whole library (the root imports :class:`~newsletter.Newsletter`) and tie them into
an import circle."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version


def _installed() -> str:
    try:
        return version("newsletter")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "0+unknown"


VERSION = _installed()
