"""The desk's waitress server on 127.0.0.1 against slow clients (issue 21): real sockets, bounded waits."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Iterator

import pytest
import requests

from newsletter import Newsletter
from newsletter.desk.server import create_server
from tests.conftest import SECRET
from tests.desk.conftest import desk_config
from tests.helpers.slow_clients import HEAD, Tricklers, connect, trickle_until_closed, wait_until


class Desk:
    """The desk's server on a free port, in a thread."""

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


@pytest.fixture
def desk(project: Path) -> Iterator[Desk]:
    with Newsletter.open(project, environ={"NEWSLETTER_SECRET_KEY": SECRET}) as nl, Desk(nl) as running:
        yield running


def test_a_client_trickling_its_head_is_closed_at_the_desks_head_deadline(project: Path) -> None:
    desk_config(project, "[desk]\nheader_timeout = 1\n")
    with Newsletter.open(project, environ={"NEWSLETTER_SECRET_KEY": SECRET}) as nl, Desk(nl) as desk:
        with connect(desk.port) as sock:
            assert trickle_until_closed(sock, first=HEAD.replace(b"/healthz", b"/login"), deadline=40) > 0
        assert requests.get(f"{desk.url}/login", timeout=10).status_code == 200


def test_with_every_connection_held_by_trickling_clients_editors_still_get_the_desk(desk: Desk) -> None:
    sources = [f"127.0.0.{i}" for i in range(2, 8)]  # 6 addresses x 20: more than the desk's 100 connections
    with Tricklers(desk.port, sources, 20):
        assert wait_until(lambda: len(desk.server._map) >= 100)  # every connection is held
        for _ in range(2):
            assert requests.get(f"{desk.url}/login", timeout=20).status_code == 200  # head deadline 10 s + margin
