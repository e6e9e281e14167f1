"""Conversations desk: announcement, complaint and reminder marks, follow-ups, service CSAT.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24 01:20:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("announced_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("complaint_reason", sa.String(length=60), nullable=True))
        batch_op.add_column(sa.Column("send_error", sa.String(length=300), nullable=True))
        batch_op.add_column(sa.Column("reminded_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(
            sa.Column("auto_answered_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column(
                "forwarded_through",
                sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                nullable=True,
            )
        )
        batch_op.create_index(
            batch_op.f("ix_conversations_announced_at"), ["announced_at"], unique=False
        )

    op.create_table(
        "follow_ups",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("conversation_id", sa.Integer(), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_follow_ups_conversation_id_conversations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_follow_ups")),
        sa.UniqueConstraint("conversation_id", name=op.f("uq_follow_ups_conversation_id")),
    )

    op.create_table(
        "conversation_surveys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("conversation_id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("message_key", sa.String(length=300), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("score", sa.Integer(), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column(
            "interaction_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_conversation_surveys_conversation_id_conversations"),
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_conversation_surveys_customer_id_customers"),
        ),
        sa.ForeignKeyConstraint(
            ["interaction_id"],
            ["interactions.id"],
            name=op.f("fk_conversation_surveys_interaction_id_interactions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_conversation_surveys")),
        sa.UniqueConstraint(
            "conversation_id", name=op.f("uq_conversation_surveys_conversation_id")
        ),
    )
    with op.batch_alter_table("conversation_surveys", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_conversation_surveys_customer_id"), ["customer_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_conversation_surveys_message_key"), ["message_key"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("conversation_surveys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_conversation_surveys_message_key"))
        batch_op.drop_index(batch_op.f("ix_conversation_surveys_customer_id"))
    op.drop_table("conversation_surveys")
    op.drop_table("follow_ups")
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_conversations_announced_at"))
        batch_op.drop_column("forwarded_through")
        batch_op.drop_column("auto_answered_at")
        batch_op.drop_column("reminded_at")
        batch_op.drop_column("send_error")
        batch_op.drop_column("complaint_reason")
        batch_op.drop_column("announced_at")
