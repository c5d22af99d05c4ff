"""``serve`` says once, clearly, where it listens and the public address it stands for."""

from __future__ import annotations

import os
import selectors
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import SECRET
from tests.helpers.config import set_options


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _first_line(project: Path, port: int) -> str:
    """The first line ``serve`` prints (then it is stopped as Ctrl+C would)."""
    env = dict(os.environ, NEWSLETTER_SECRET_KEY=SECRET)
    process = subprocess.Popen([sys.executable, "-m", "newsletter", "-C", str(project), "serve", "--port", str(port)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)
    try:
        with selectors.DefaultSelector() as selector:
            selector.register(process.stdout, selectors.EVENT_READ)  # type: ignore[arg-type]
            assert selector.select(timeout=60), "serve printed nothing"
        assert process.stdout is not None
        return process.stdout.readline().strip()
    finally:
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=30)


@pytest.mark.parametrize("published", [False, True])
def test_serve_names_its_address_once(project: Path, published: bool) -> None:
    port = _free_port()
    if not published:  # base_url is the listening address itself (a local try-out)
        set_options(project, "newsletter", base_url=f"http://127.0.0.1:{port}")
    line = _first_line(project, port)
    if published:
        assert line == f"Serving on http://127.0.0.1:{port}/, published as https://news.example.org/ (Ctrl+C to stop)"
    else:
        assert line == f"Serving on http://127.0.0.1:{port}/ (Ctrl+C to stop)"
