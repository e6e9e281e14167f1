"""Announcement messages: which message announced a conversation in which agent's chat.

When one agent takes a conversation, the copies announced to the other
agents are edited to say "taken by <name>"; that needs their message ids.
Conversations announced before the upgrade have none and are not edited.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-24 02:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "announcement_messages",
        sa.Column("conversation_id", sa.Integer(), nullable=False),
        sa.Column("chat_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("message_id", sa.BigInteger(), nullable=False),
        sa.Column("noted_staff_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["conversation_id"], ["conversations.id"]),
        sa.ForeignKeyConstraint(["noted_staff_id"], ["staff_members.id"]),
        sa.PrimaryKeyConstraint("conversation_id", "chat_id"),
    )


def downgrade() -> None:
    op.drop_table("announcement_messages")
