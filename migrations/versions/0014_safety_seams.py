"""Safety at the seams: the sender's claimed date of a mail we did not believe.

- `interactions.claimed_sent_at`: the raw `Date:` of a mail whose date fell
  outside the sane window around its receipt (`sent_at` is then the receipt
  time); kept for staff, never used for activity or retention.

Revision ID: 0014
Revises: 0012
Create Date: 2026-12-02 13:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("interactions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("claimed_sent_at", sa.String(length=100), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("interactions", schema=None) as batch_op:
        batch_op.drop_column("claimed_sent_at")
