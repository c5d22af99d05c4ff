"""Each feedback event keeps the reason of a bounce, in the words of the reasons table
(``feedback_events.reason``: "user unknown", "mailbox full", "expired", "blocked"…), for ``status``
and ``history``. Events recorded before this revision have none.

Revision ID: 0016
Revises: 0015
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("feedback_events") as batch:
        batch.add_column(sa.Column("reason", sa.String(40), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("feedback_events") as batch:
        batch.drop_column("reason")
