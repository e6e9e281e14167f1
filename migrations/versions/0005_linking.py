"""Linking a chat to a customer known by email: one-time codes, and a record of merges.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24 01:20:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "link_codes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("target_customer_id", sa.Integer(), nullable=True),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("salt", sa.String(length=32), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("consumed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_link_codes_customer_id_customers")
        ),
        sa.ForeignKeyConstraint(
            ["target_customer_id"],
            ["customers.id"],
            name=op.f("fk_link_codes_target_customer_id_customers"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_link_codes")),
    )
    with op.batch_alter_table("link_codes", schema=None) as batch_op:
        batch_op.create_index(
            "ix_link_codes_customer_created", ["customer_id", "created_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_link_codes_target_customer_id"), ["target_customer_id"], unique=False
        )
    op.create_table(
        "customer_merges",
        sa.Column("absorbed_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("kept_id", sa.Integer(), nullable=False),
        sa.Column("merged_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["kept_id"], ["customers.id"], name=op.f("fk_customer_merges_kept_id_customers")
        ),
        sa.PrimaryKeyConstraint("absorbed_id", name=op.f("pk_customer_merges")),
    )
    with op.batch_alter_table("customer_merges", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_customer_merges_kept_id"), ["kept_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("customer_merges", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_customer_merges_kept_id"))
    op.drop_table("customer_merges")
    with op.batch_alter_table("link_codes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_link_codes_target_customer_id"))
        batch_op.drop_index("ix_link_codes_customer_created")
    op.drop_table("link_codes")
