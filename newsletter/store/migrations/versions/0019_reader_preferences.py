"""Readers choose (issue 28): each subscriber's ``frequency`` (``daily`` or ``weekly``) and
``paused_until`` (no issue before then); the ``welcome_mails`` ledger (one welcome per subscriber,
claimed before the transport takes it, so a crash never sends two); the ``suppressions`` list of
erased addresses, kept only as keyed hashes (HMAC-SHA256 with the secret key, per purpose); and ledger
rows that outlive an erased subscriber (``deliveries.subscriber_id`` may be empty: counts without the person).

Revision ID: 0019
Revises: 0016
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("subscribers") as batch:
        batch.add_column(sa.Column("frequency", sa.String(10), nullable=False, server_default="daily"))
        batch.add_column(sa.Column("paused_until", sa.DateTime(), nullable=True))
    with op.batch_alter_table("deliveries") as batch:
        batch.alter_column("subscriber_id", existing_type=sa.Integer(), nullable=True)
    op.create_table(
        "welcome_mails",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("subscriber_id", sa.Integer, sa.ForeignKey("subscribers.id", ondelete="SET NULL"), nullable=True),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("error", sa.Text, nullable=False, server_default=""),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.UniqueConstraint("subscriber_id", name="uq_welcome_once"),
    )
    op.create_table(
        "suppressions",
        sa.Column("digest", sa.String(64), primary_key=True),
        sa.Column("reason", sa.String(20), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("suppressions")
    op.drop_table("welcome_mails")
    op.execute("DELETE FROM deliveries WHERE subscriber_id IS NULL")
    with op.batch_alter_table("deliveries") as batch:
        batch.alter_column("subscriber_id", existing_type=sa.Integer(), nullable=False)
    with op.batch_alter_table("subscribers") as batch:
        batch.drop_column("paused_until")
        batch.drop_column("frequency")
