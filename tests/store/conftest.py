"""A PostgreSQL server on 127.0.0.1 shared by the store's PostgreSQL tests (started once, when first asked)."""

from __future__ import annotations

from typing import Iterator

import pytest

from tests.pg import PostgreSQL, binaries


@pytest.fixture(scope="session")
def server_url() -> Iterator[str]:
    if binaries() is None:
        pytest.skip("PostgreSQL server binaries not installed (`make test` installs them)")
    server = PostgreSQL()
    try:
        yield server.start()
    finally:
        server.stop()
