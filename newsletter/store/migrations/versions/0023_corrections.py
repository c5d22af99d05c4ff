"""Corrections of sent issues: each corrected version (its note, what changed, its page and images) and
the correction mail's own ledger (one row per reader who received the issue).

Revision ID: 0023
Revises: 0022
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from newsletter.store.models import UTCDateTime

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "corrections",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("send_id", sa.Integer, sa.ForeignKey("sends.id", ondelete="CASCADE"), nullable=False),
        sa.Column("number", sa.Integer, nullable=False),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("changes", sa.Text, nullable=False),
        sa.Column("subject", sa.Text, nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("layout", sa.Text, nullable=False),
        sa.Column("author", sa.String(200), nullable=False, server_default=""),
        sa.Column("mail", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("send_id", "number", name="uq_correction_number"),
    )
    op.create_table(
        "correction_images",
        sa.Column("correction_id", sa.Integer, sa.ForeignKey("corrections.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("relative", sa.String(500), primary_key=True),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("data", sa.LargeBinary, nullable=False),
    )
    op.create_index("ix_correction_images_name", "correction_images", ["name"])
    op.create_table(
        "correction_mails",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("correction_id", sa.Integer, sa.ForeignKey("corrections.id", ondelete="CASCADE"), nullable=False),
        sa.Column("subscriber_id", sa.Integer, sa.ForeignKey("subscribers.id", ondelete="SET NULL")),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("run_id", sa.String(64), nullable=False, server_default=""),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("error", sa.Text, nullable=False, server_default=""),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("correction_id", "subscriber_id", name="uq_correction_mail_once"),
    )
    op.create_index("ix_correction_mails_status", "correction_mails", ["correction_id", "status", "id"])


def downgrade() -> None:
    op.drop_index("ix_correction_mails_status", table_name="correction_mails")
    op.drop_table("correction_mails")
    op.drop_index("ix_correction_images_name", table_name="correction_images")
    op.drop_table("correction_images")
    op.drop_table("corrections")
