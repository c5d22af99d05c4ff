"""Counted links (``[analytics]``): the links each send counts, the clicks on them, and the reader's
consent to have their own clicks recognised (``subscribers.click_consent_at``, ``per_subscriber``).

A click row holds the issue, the link, the message's random nonce, the time, the method and whether
the agent is a known scanner: nothing that names the reader.

Revision ID: 0017
Revises: 0016
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from newsletter.store.models import UTCDateTime

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "click_links",
        sa.Column("issue", sa.String(60), primary_key=True),
        sa.Column("position", sa.Integer, primary_key=True),
        sa.Column("link", sa.String(3), primary_key=True),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("title", sa.Text, nullable=False, server_default=""),
        sa.Column("tag", sa.String(200), nullable=False, server_default=""),
    )
    op.create_table(
        "clicks",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("issue", sa.String(60), nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("link", sa.String(3), nullable=False),
        sa.Column("nonce", sa.String(12), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("method", sa.String(8), nullable=False, server_default="GET"),
        sa.Column("agent", sa.String(40), nullable=False, server_default=""),
    )
    op.create_index("ix_clicks_issue_nonce", "clicks", ["issue", "nonce"])
    op.create_index("ix_clicks_at", "clicks", ["at"])
    with op.batch_alter_table("subscribers") as batch:
        batch.add_column(sa.Column("click_consent_at", UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("subscribers") as batch:
        batch.drop_column("click_consent_at")
    op.drop_index("ix_clicks_at", "clicks")
    op.drop_index("ix_clicks_issue_nonce", "clicks")
    op.drop_table("clicks")
    op.drop_table("click_links")
