"""Privacy: consent per customer and channel with its history; used unsubscribe links.

The single `customers.marketing_consent` flag becomes one row per channel the
customer has an identity on, with the same time and source, and one history
event each, so nobody who had agreed loses it and nobody who had refused
gains it. The flag stays, kept as a summary (granted on any channel).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 23:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

_EXPRESSED_CHOICES = """
    SELECT DISTINCT c.id, i.channel, 'marketing', c.marketing_consent,
           COALESCE(c.consent_source, 'before-0003'),
           COALESCE(c.consent_updated_at, c.created_at)
    FROM customers c JOIN identities i ON i.customer_id = c.id
    WHERE c.marketing_consent OR c.consent_updated_at IS NOT NULL
"""


def upgrade() -> None:
    op.create_table(
        "consents",
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("purpose", sa.String(length=20), nullable=False),
        sa.Column("granted", sa.Boolean(), nullable=False),
        sa.Column("source", sa.String(length=40), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_consents_customer_id_customers")
        ),
        sa.PrimaryKeyConstraint("customer_id", "channel", "purpose", name=op.f("pk_consents")),
    )
    op.create_table(
        "consent_events",
        sa.Column("id", BigId, nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("purpose", sa.String(length=20), nullable=False),
        sa.Column("granted", sa.Boolean(), nullable=False),
        sa.Column("source", sa.String(length=40), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_consent_events_customer_id_customers"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consent_events")),
    )
    with op.batch_alter_table("consent_events", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_consent_events_customer_id"), ["customer_id"], unique=False
        )
    op.create_table(
        "unsubscribe_uses",
        sa.Column("delivery_id", BigId, nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["delivery_id"],
            ["deliveries.id"],
            name=op.f("fk_unsubscribe_uses_delivery_id_deliveries"),
        ),
        sa.PrimaryKeyConstraint("delivery_id", name=op.f("pk_unsubscribe_uses")),
    )
    op.execute(
        "INSERT INTO consents (customer_id, channel, purpose, granted, source, updated_at) "
        + _EXPRESSED_CHOICES
    )
    op.execute(
        "INSERT INTO consent_events (customer_id, channel, purpose, granted, source, at) "
        + _EXPRESSED_CHOICES
    )


def downgrade() -> None:
    op.drop_table("unsubscribe_uses")
    with op.batch_alter_table("consent_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_consent_events_customer_id"))
    op.drop_table("consent_events")
    op.drop_table("consents")
