"""Workers: what a run's lease says about it (send, messages, rate), the render each send was started
with (so that workers on other hosts build the same messages), and each send's shared pace.

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from newsletter.store.models import UTCDateTime

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("leases") as batch:
        batch.add_column(sa.Column("send_id", sa.Integer, nullable=True))
        batch.add_column(sa.Column("messages", sa.Integer, nullable=False, server_default="0"))
        batch.add_column(sa.Column("rate", sa.Float, nullable=False, server_default="0"))
    op.create_table(
        "send_snapshots",
        sa.Column("send_id", sa.Integer, sa.ForeignKey("sends.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("layout", sa.Text, nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "send_pacing",
        sa.Column("send_id", sa.Integer, sa.ForeignKey("sends.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("next_at", UTCDateTime(), nullable=False),
        sa.Column("reserved", sa.BigInteger, nullable=False, server_default="0"),
    )


def downgrade() -> None:
    op.drop_table("send_pacing")
    op.drop_table("send_snapshots")
    with op.batch_alter_table("leases") as batch:
        batch.drop_column("rate")
        batch.drop_column("messages")
        batch.drop_column("send_id")
