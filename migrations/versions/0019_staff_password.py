"""Staff passwords for the console: an optional argon2 hash per member.

Signing in by link stays the default; `rapport staff password NAME` sets a
password (argon2id, salted, parameters inside the hash string) so staff can
also sign in with their name or address and the password.

Revision ID: 0019
Revises: 0017
Create Date: 2026-12-02 15:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("staff_members", schema=None) as batch_op:
        batch_op.add_column(sa.Column("password_hash", sa.String(length=200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("staff_members", schema=None) as batch_op:
        batch_op.drop_column("password_hash")
