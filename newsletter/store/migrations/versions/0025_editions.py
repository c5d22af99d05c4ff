"""Special editions (issue 27): an issue is ``(issue_date, edition)``, ``edition`` being ``""`` for the
daily issue and the slug of ``issues/DATE-SLUG/`` for an edition. ``sends`` is unique on the pair
(an edition has its own send, ledger, archive page and feed entry); the scheduler's ``day_claims``
and the ``alerts`` already sent are keyed by it; ``feedback_events`` name the edition they are about.

Existing rows are the daily issues' (``edition = ""``); nothing else changes. On SQLite ``sends``
is rebuilt to drop its unnamed ``UNIQUE (issue_date)``; the store runs migrations with foreign keys
off there (:func:`newsletter.store.database.migrate`), so the rebuild leaves the ledger's rows alone.

Revision ID: 0025
Revises: 0024
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

from newsletter.store import dialect
from newsletter.store.models import UTCDateTime

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None

_UNNAMED = {"uq": "uq_%(table_name)s_%(column_0_name)s"}


def _edition() -> sa.Column[Any]:
    return sa.Column("edition", sa.String(40), nullable=False, server_default="")


def _rebuild(table: str, columns: list[sa.Column[Any]], key: list[str], copied: str, values: str) -> None:
    """Replace ``table`` by one whose primary key is ``key`` (no table references these two)."""
    op.create_table(f"{table}_next", *columns, sa.PrimaryKeyConstraint(*key))
    op.execute(f"INSERT INTO {table}_next ({copied}) SELECT {values} FROM {table}")
    op.drop_table(table)
    op.rename_table(f"{table}_next", table)
    if dialect.is_postgresql(op.get_bind()):
        op.execute(f"ALTER TABLE {table} RENAME CONSTRAINT {table}_next_pkey TO {table}_pkey")


def _sends_unique(old: str, new: str, columns: list[str]) -> None:
    """Swap the unique constraint of ``sends`` (PostgreSQL named the original one itself)."""
    if old == "uq_sends_issue_date" and dialect.is_postgresql(op.get_bind()):
        old = "sends_issue_date_key"
    with op.batch_alter_table("sends", naming_convention=_UNNAMED) as batch:
        batch.drop_constraint(old, type_="unique")
        batch.create_unique_constraint(new, columns)


def upgrade() -> None:
    with op.batch_alter_table("sends") as batch:
        batch.add_column(_edition())
    _sends_unique("uq_sends_issue_date", "uq_sends_issue", ["issue_date", "edition"])
    with op.batch_alter_table("feedback_events") as batch:
        batch.add_column(_edition())
    _rebuild("day_claims", [
        sa.Column("issue_date", sa.Date, nullable=False), _edition(),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("run_id", sa.String(64), nullable=False, server_default=""),
        sa.Column("reason", sa.Text, nullable=False, server_default=""),
        sa.Column("alerted", sa.Text, nullable=False, server_default=""),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    ], ["issue_date", "edition"], "issue_date, edition, state, run_id, reason, alerted, updated_at",
        "issue_date, '', state, run_id, reason, alerted, updated_at")
    _rebuild("alerts", [
        sa.Column("issue_date", sa.Date, nullable=False), _edition(),
        sa.Column("reason", sa.String(200), nullable=False),
        sa.Column("sent_at", UTCDateTime(), nullable=False),
    ], ["issue_date", "edition", "reason"], "issue_date, edition, reason, sent_at", "issue_date, '', reason, sent_at")


def downgrade() -> None:
    op.execute("DELETE FROM alerts WHERE edition <> ''")
    _rebuild("alerts", [
        sa.Column("issue_date", sa.Date, nullable=False),
        sa.Column("reason", sa.String(200), nullable=False),
        sa.Column("sent_at", UTCDateTime(), nullable=False),
    ], ["issue_date", "reason"], "issue_date, reason, sent_at", "issue_date, reason, sent_at")
    op.execute("DELETE FROM day_claims WHERE edition <> ''")
    _rebuild("day_claims", [
        sa.Column("issue_date", sa.Date, nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("run_id", sa.String(64), nullable=False, server_default=""),
        sa.Column("reason", sa.Text, nullable=False, server_default=""),
        sa.Column("alerted", sa.Text, nullable=False, server_default=""),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    ], ["issue_date"], "issue_date, state, run_id, reason, alerted, updated_at",
        "issue_date, state, run_id, reason, alerted, updated_at")
    with op.batch_alter_table("feedback_events") as batch:
        batch.drop_column("edition")
    op.execute("DELETE FROM sends WHERE edition <> ''")
    _sends_unique("uq_sends_issue", "uq_sends_issue_date", ["issue_date"])
    with op.batch_alter_table("sends") as batch:
        batch.drop_column("edition")
