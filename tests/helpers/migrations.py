"""Databases at an older schema, for the tests of a migration (SQLite in tmp_path, or the suite's PostgreSQL)."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, text

from newsletter.store.database import _alembic_config


def revision_before(migration_file_suffix: str) -> str:
    """The revision just before the migration whose file ends with the suffix (found by its file, so that
    renumbering keeps this true)."""
    script = ScriptDirectory.from_config(_alembic_config())
    [added] = [r for r in script.walk_revisions() if Path(r.path).name.endswith(migration_file_suffix)]
    assert isinstance(added.down_revision, str)
    return added.down_revision


def database_at(request: pytest.FixtureRequest, tmp_path: Path, kind: str, revision: str) -> Engine:
    """A new database of ``kind`` ("sqlite" or "postgresql") migrated up to ``revision``."""
    if kind == "sqlite":
        engine = create_engine(f"sqlite:///{tmp_path / 'old.db'}")
    else:
        server = request.getfixturevalue("server_url")
        name = f"at_{revision}_{uuid.uuid4().hex[:12]}"
        with create_engine(server, isolation_level="AUTOCOMMIT").connect() as admin:
            admin.execute(text(f"CREATE DATABASE {name}"))
        engine = create_engine(server.rsplit("/", 1)[0] + f"/{name}")
    config = _alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
    return engine
