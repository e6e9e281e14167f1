"""Customer value: orders, derived customer values, points earned on orders.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 23:59:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "orders",
        sa.Column("id", BigId, nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("order_key", sa.String(length=120), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("ordered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(length=40), nullable=False),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_orders_customer_id_customers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_orders")),
        sa.UniqueConstraint("order_key", name=op.f("uq_orders_order_key")),
    )
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.create_index(
            "ix_orders_customer_ordered", ["customer_id", "ordered_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_orders_ordered_at"), ["ordered_at"], unique=False)

    op.create_table(
        "customer_values",
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("orders", sa.Integer(), nullable=False),
        sa.Column("first_order_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_order_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("historical_value", sa.Float(), nullable=False),
        sa.Column("predicted_value", sa.Float(), nullable=False),
        sa.Column("recency_score", sa.Integer(), nullable=False),
        sa.Column("frequency_score", sa.Integer(), nullable=False),
        sa.Column("monetary_score", sa.Integer(), nullable=False),
        sa.Column("rfm_score", sa.Integer(), nullable=False),
        sa.Column("value_tier", sa.String(length=10), nullable=False),
        sa.Column("interval_days", sa.Float(), nullable=True),
        sa.Column("churn_risk", sa.Float(), nullable=True),
        sa.Column("engagement", sa.Float(), nullable=False),
        sa.Column("loyalty_tier", sa.String(length=20), nullable=False),
        sa.Column("previous_tier", sa.String(length=20), nullable=True),
        sa.Column("tier_change", sa.String(length=4), nullable=True),
        sa.Column("tier_changed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_customer_values_customer_id_customers"),
        ),
        sa.PrimaryKeyConstraint("customer_id", name=op.f("pk_customer_values")),
    )
    with op.batch_alter_table("customer_values", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_customer_values_value_tier"), ["value_tier"], unique=False
        )

    with op.batch_alter_table("points_entries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("order_id", BigId, nullable=True))
        batch_op.create_unique_constraint(batch_op.f("uq_points_entries_order_id"), ["order_id"])
        batch_op.create_foreign_key(
            batch_op.f("fk_points_entries_order_id_orders"), "orders", ["order_id"], ["id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("points_entries", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_points_entries_order_id_orders"), type_="foreignkey"
        )
        batch_op.drop_constraint(batch_op.f("uq_points_entries_order_id"), type_="unique")
        batch_op.drop_column("order_id")
    with op.batch_alter_table("customer_values", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_customer_values_value_tier"))
    op.drop_table("customer_values")
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_orders_ordered_at"))
        batch_op.drop_index("ix_orders_customer_ordered")
    op.drop_table("orders")
