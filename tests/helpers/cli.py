"""The command line run in this process, as a person types it (stdin included)."""

from __future__ import annotations

import contextlib
import io
import sys
from pathlib import Path

from newsletter.frontends.cli import main


def run(project: Path, *args: str, stdin: str = "") -> tuple[int, str]:
    """``newsletter --project PROJECT ARGS…`` with ``stdin`` as its input: (exit code, what it printed)."""
    printed = io.StringIO()
    old = sys.stdin
    sys.stdin = io.StringIO(stdin)
    try:
        with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(printed):
            code = main(["--project", str(project), *args])
    finally:
        sys.stdin = old
    return code, printed.getvalue()
