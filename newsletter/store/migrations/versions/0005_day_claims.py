"""The scheduler's per-day claim gets its own name: table ``dispatches`` becomes ``day_claims``.

"Dispatch" also names the send engine; the table holds one claim per day (who sends that
day's issue, and what became of it). Rows are kept; on PostgreSQL the primary key's
constraint (and its index) is renamed with the table, so names keep saying what they are.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

from alembic import op

from newsletter.store import dialect

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def _rename(old: str, new: str) -> None:
    op.rename_table(old, new)
    if dialect.is_postgresql(op.get_bind()):  # SQLite's primary key has no name of its own
        op.execute(f"ALTER TABLE {new} RENAME CONSTRAINT {old}_pkey TO {new}_pkey")


def upgrade() -> None:
    _rename("dispatches", "day_claims")


def downgrade() -> None:
    _rename("day_claims", "dispatches")
