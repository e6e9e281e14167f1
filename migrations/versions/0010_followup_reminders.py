"""Follow-up reminders: when the desk round told staff a complaint's follow-up fell due.

Follow-ups that exist already stay unreminded (NULL): an open one that is
past due is reminded by the next desk round after the upgrade, once.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-24 02:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("follow_ups", schema=None) as batch_op:
        batch_op.add_column(sa.Column("reminded_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("follow_ups", schema=None) as batch_op:
        batch_op.drop_column("reminded_at")
