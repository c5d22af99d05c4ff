"""Sends that paused themselves on too many hard bounces, and when an operator resumed them;
an index for the hard bounces a running send looks for.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from newsletter.store.models import UTCDateTime

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "send_pauses",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("send_id", sa.Integer, sa.ForeignKey("sends.id", ondelete="CASCADE"), nullable=False),
        sa.Column("paused_at", UTCDateTime(), nullable=False),
        sa.Column("reason", sa.Text, nullable=False, server_default=""),
        sa.Column("bounces", sa.Integer, nullable=False, server_default="0"),
        sa.Column("messages", sa.Integer, nullable=False, server_default="0"),
        sa.Column("resumed_at", UTCDateTime(), nullable=True),
    )
    op.create_index("ix_send_pauses_send", "send_pauses", ["send_id"])
    # A running send looks every hundred messages for the hard bounces reported since it started.
    op.create_index("ix_feedback_kind_received", "feedback_events", ["kind", "received_at"])


def downgrade() -> None:
    op.drop_index("ix_feedback_kind_received", table_name="feedback_events")
    op.drop_table("send_pauses")
