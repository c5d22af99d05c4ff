"""Each ledger row names the adapter of the run that claimed it (``deliveries.transport``).

A row left in doubt (``sending`` after a crash, or ``uncertain``) is looked up at the provider that
may hold it (:meth:`newsletter.delivery.base.Adapter.settle`). Its absence there proves something
only if that provider is the one the message was handed to: an operator may change
``[delivery] adapter`` between two runs, and a message handed to the old provider is absent from
the new one's records. Rows from before this migration have no transport and are never proved absent.

Revision ID: 0014
Revises: 0013
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("deliveries") as batch:
        batch.add_column(sa.Column("transport", sa.String(40), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_column("transport")
