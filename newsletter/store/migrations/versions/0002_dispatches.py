"""The scheduler's record and claim of each day's dispatch; the address a web consent came from.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from newsletter.store.models import UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dispatches",
        sa.Column("issue_date", sa.Date, primary_key=True),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("run_id", sa.String(64), nullable=False, server_default=""),
        sa.Column("reason", sa.Text, nullable=False, server_default=""),
        sa.Column("alerted", sa.Text, nullable=False, server_default=""),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    op.add_column("subscribers", sa.Column("consent_ip", sa.String(64), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("subscribers") as batch:
        batch.drop_column("consent_ip")
    op.drop_table("dispatches")
