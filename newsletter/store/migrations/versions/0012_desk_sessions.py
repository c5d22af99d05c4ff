"""A desk account's session generation: signing out (and a password change, a removal) raises it,
and a session cookie made under an earlier generation opens nothing, even a copy kept elsewhere.

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("desk_users", sa.Column("session_generation", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("desk_users") as table:
        table.drop_column("session_generation")
