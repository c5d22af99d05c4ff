"""A webhook receiver on 127.0.0.1 for the tests of ``[[hooks]]`` (signed and chat hooks alike)."""

from __future__ import annotations

import base64
import threading
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import time_machine
from standardwebhooks.webhooks import Webhook

HOOK_SECRET = "whsec_" + base64.b64encode(b"a test key of thirty-two bytes!!").decode()


class Receiver:
    """A webhook receiver on 127.0.0.1: records each request; answers with the statuses queued (then 204)."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, str], bytes]] = []
        self.answers: list[tuple[int, dict[str, str]]] = []
        received = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                received.requests.append((self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                status, headers = received.answers.pop(0) if received.answers else (204, {})
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "Receiver":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def verified(self, at: datetime) -> list[dict[str, Any]]:
        """Every body received, each signature checked by standardwebhooks as at the time of the attempt."""
        with time_machine.travel(at, tick=False):  # the verifier compares the timestamp with its own clock
            return [Webhook(HOOK_SECRET).verify(body, headers) for _, headers, body in self.requests]
