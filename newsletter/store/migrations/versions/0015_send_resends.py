"""Resends of a send's uncertain rows: who asked, when, how many rows (``send --resend-uncertain``);
and the reason of the rows a stopped run left in doubt, which said that the server held each of
them although the ledger knows only that it was marked sending and that no reply was recorded.

Revision ID: 0015
Revises: 0014
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from newsletter.store.models import UTCDateTime

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

#: The reason settle_in_doubt wrote before this revision, and the one it writes since (copied here:
#: a migration says what it did that day, whatever the code says later).
_OLD_REASON = "the run stopped while the server held this message; not resent to avoid a double send"
_NEW_REASON = ("its run stopped after marking it sending and before recording a reply: it may have reached the "
               "server, or not; not resent, to avoid a double send")


def upgrade() -> None:
    op.create_table(
        "send_resends",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("send_id", sa.Integer, sa.ForeignKey("sends.id", ondelete="CASCADE"), nullable=False),
        sa.Column("resent_at", UTCDateTime(), nullable=False),
        sa.Column("resent_by", sa.String(200), nullable=False, server_default=""),
        sa.Column("rows", sa.Integer, nullable=False, server_default="0"),
    )
    op.create_index("ix_send_resends_send", "send_resends", ["send_id"])
    deliveries = sa.table("deliveries", sa.column("status", sa.String), sa.column("last_error", sa.Text))
    op.execute(deliveries.update().where(deliveries.c.status == "uncertain", deliveries.c.last_error == _OLD_REASON)
               .values(last_error=_NEW_REASON))


def downgrade() -> None:
    deliveries = sa.table("deliveries", sa.column("status", sa.String), sa.column("last_error", sa.Text))
    op.execute(deliveries.update().where(deliveries.c.status == "uncertain", deliveries.c.last_error == _NEW_REASON)
               .values(last_error=_OLD_REASON))
    op.drop_index("ix_send_resends_send", table_name="send_resends")
    op.drop_table("send_resends")
