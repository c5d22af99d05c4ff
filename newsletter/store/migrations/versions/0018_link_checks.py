"""What ``check --links`` found for each address (``link_checks``), kept a day.

Revision ID: 0018
Revises: 0016
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from newsletter.store.models import UTCDateTime

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "link_checks",
        sa.Column("url", sa.String(2000), primary_key=True),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("final_url", sa.String(2000), nullable=False, server_default=""),
        sa.Column("error", sa.Text(), nullable=False, server_default=""),
        sa.Column("checked_at", UTCDateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("link_checks")
