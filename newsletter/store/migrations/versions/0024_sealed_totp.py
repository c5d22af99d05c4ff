"""The desk's TOTP secrets are kept encrypted (``sealed:…``, 72 characters for a 32-character secret): a wider column.

The secrets already stored stay readable as they are and are encrypted when next used; this
migration cannot do it, it runs without ``NEWSLETTER_SECRET_KEY``.

Revision ID: 0024
Revises: 0023
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("desk_users") as batch:
        batch.alter_column("totp_secret", existing_type=sa.String(64), type_=sa.String(255), existing_nullable=True)


def downgrade() -> None:
    with op.batch_alter_table("desk_users") as batch:
        batch.alter_column("totp_secret", existing_type=sa.String(255), type_=sa.String(64), existing_nullable=True)
