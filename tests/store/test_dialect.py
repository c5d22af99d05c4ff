"""The one place PostgreSQL and SQLite differ: each gets its own INSERT … ON CONFLICT, anything else a clear error."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import create_mock_engine
from sqlalchemy.dialects import postgresql, sqlite

from newsletter.errors import ConfigError
from newsletter.store import dialect
from newsletter.store.models import Alert


@pytest.mark.parametrize(("url", "expected"), [("sqlite://", sqlite.Insert), ("postgresql://", postgresql.Insert)])
def test_each_database_gets_the_insert_of_its_dialect(url: str, expected: type) -> None:
    bind: Any = create_mock_engine(url, executor=None)  # type: ignore[arg-type]
    statement = dialect.insert(bind, Alert.__table__).on_conflict_do_nothing()
    assert isinstance(statement, expected)
    assert "ON CONFLICT DO NOTHING" in str(statement.compile(dialect=bind.dialect))


def test_another_database_is_refused_naming_the_setting() -> None:
    bind: Any = create_mock_engine("mysql://", executor=None)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"\[store\] url names a mysql database"):
        dialect.insert(bind, Alert.__table__)
