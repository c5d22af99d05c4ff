"""Who sent an issue without the required approval, when and why.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from newsletter.store.models import UTCDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sends") as batch:
        batch.add_column(sa.Column("override_by", sa.String(200), nullable=False, server_default=""))
        batch.add_column(sa.Column("override_reason", sa.Text, nullable=False, server_default=""))
        batch.add_column(sa.Column("override_at", UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sends") as batch:
        batch.drop_column("override_at")
        batch.drop_column("override_reason")
        batch.drop_column("override_by")
