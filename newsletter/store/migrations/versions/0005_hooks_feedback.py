"""Bounces, complaints and unsubscribes reported after a send (webhooks, DSNs, ARF, mailto).

Revision ID: 0005_hooks
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from newsletter.store.models import UTCDateTime

revision = "0005_hooks"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "feedback_events",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("source", sa.String(20), nullable=False),
        sa.Column("event_id", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("occurred_at", UTCDateTime(), nullable=False),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.Column("email", sa.String(320), nullable=False, server_default=""),
        sa.Column("subscriber_id", sa.Integer, sa.ForeignKey("subscribers.id", ondelete="SET NULL"), nullable=True),
        sa.Column("issue_date", sa.Date, nullable=True),
        sa.Column("provider_message_id", sa.String(200), nullable=False, server_default=""),
        sa.Column("delivery_id", sa.Integer, sa.ForeignKey("deliveries.id", ondelete="SET NULL"), nullable=True),
        sa.Column("detail", sa.Text, nullable=False, server_default=""),
        sa.Column("status_change", sa.String(40), nullable=False, server_default=""),
        sa.UniqueConstraint("source", "event_id", name="uq_feedback_once"),
    )
    op.create_index("ix_feedback_subscriber_kind", "feedback_events", ["subscriber_id", "kind", "occurred_at"])
    op.create_index("ix_feedback_delivery", "feedback_events", ["delivery_id"])
    # Events name their message by the provider's id: finding its ledger row must not scan the ledger.
    op.create_index("ix_deliveries_provider_id", "deliveries", ["provider_id"])


def downgrade() -> None:
    op.drop_index("ix_deliveries_provider_id", table_name="deliveries")
    op.drop_table("feedback_events")
