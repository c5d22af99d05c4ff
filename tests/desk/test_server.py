"""The desk's waitress server on 127.0.0.1 against slow clients (issue 21): real sockets, bounded waits."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest
import requests

from newsletter import Newsletter
from tests.conftest import SECRET
from tests.helpers.desk_server import Desk
from tests.helpers.desk import desk_config
from tests.helpers.slow_clients import HEAD, Tricklers, connect, trickle_until_closed, wait_until


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
