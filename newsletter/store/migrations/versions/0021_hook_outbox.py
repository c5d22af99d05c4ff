"""The outgoing webhooks' outbox: one row per event and receiver, written in the transaction of the
change that causes the event, then delivered (and retried) by a background worker.

Revision ID: 0021
Revises: 0020
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from newsletter.store.models import UTCDateTime

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "hook_outbox",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("event_id", sa.String(40), nullable=False),
        sa.Column("hook", sa.String(2000), nullable=False),
        sa.Column("type", sa.String(40), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("last_error", sa.Text(), nullable=False, server_default=""),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("next_attempt_at", UTCDateTime(), nullable=True),
        sa.Column("delivered_at", UTCDateTime(), nullable=True),
        sa.UniqueConstraint("event_id", "hook", name="uq_hook_event_once"),
    )
    op.create_index("ix_hook_outbox_state_next", "hook_outbox", ["state", "next_attempt_at"])


def downgrade() -> None:
    op.drop_index("ix_hook_outbox_state_next", "hook_outbox")
    op.drop_table("hook_outbox")
