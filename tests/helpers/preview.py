"""The live preview (`newsletter preview`) on a real socket of 127.0.0.1, for the tests that talk to it."""

from __future__ import annotations

import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from newsletter.frontends.web.preview import make_server
from tests.conftest import DAY


@contextmanager
def preview_server(project: Path) -> Iterator[str]:
    """The preview of the sample day's issue of ``project``, served until the block ends; yields its URL."""
    server = make_server(project, DAY, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
