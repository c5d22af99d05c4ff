"""The page each send published, with the bytes of its images, so that the public archive shows what
was sent whatever happens to the issue's files afterwards.

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from newsletter.store.models import UTCDateTime

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "archive_pages",
        sa.Column("send_id", sa.Integer, sa.ForeignKey("sends.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("subject", sa.Text, nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("layout", sa.Text, nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "archive_images",
        sa.Column("send_id", sa.Integer, sa.ForeignKey("sends.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("relative", sa.String(500), primary_key=True),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("data", sa.LargeBinary, nullable=False),
    )
    op.create_index("ix_archive_images_name", "archive_images", ["name"])


def downgrade() -> None:
    op.drop_index("ix_archive_images_name", table_name="archive_images")
    op.drop_table("archive_images")
    op.drop_table("archive_pages")
