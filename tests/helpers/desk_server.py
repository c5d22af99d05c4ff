"""The desk under waitress on a free port of 127.0.0.1, in a thread, for tests that need real sockets."""

from __future__ import annotations

import threading
from typing import Any

from newsletter import Newsletter
from newsletter.frontends.desk.server import create_server


class Desk:
    """``with Desk(nl) as desk:`` serves the desk at ``desk.url`` until the block ends."""

    def __init__(self, nl: Newsletter) -> None:
        self.server: Any = create_server(nl, host="127.0.0.1", port=0)
        self.port = int(self.server.effective_port)
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> "Desk":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        for channel in list(self.server._map.values()):
            channel.will_close = True
        self.server.trigger.pull_trigger()
        self.server.close()
        self.thread.join(timeout=10)
        assert not self.thread.is_alive()
