"""Leases that say how long a run holds its rows; the operator alerts already sent.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from newsletter.store.models import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "leases",
        sa.Column("run_id", sa.String(64), primary_key=True),
        sa.Column("holder", sa.String(200), nullable=False, server_default=""),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("renewed_at", UTCDateTime(), nullable=False),
        sa.Column("taken_by", sa.String(64), nullable=False, server_default=""),
    )
    op.create_table(
        "alerts",
        sa.Column("issue_date", sa.Date, primary_key=True),
        sa.Column("reason", sa.String(200), primary_key=True),
        sa.Column("sent_at", UTCDateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("alerts")
    op.drop_table("leases")
