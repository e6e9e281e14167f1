"""Email outreach: exactly-once runs, consent evidence, double opt-in, bounces, signing key.

- `campaign_runs.repeat`: a slot's run is repeat 0; a deliberate
  `run-now --again` is repeat 1, 2, … (named by the instant it was asked for,
  so (campaign, scheduled_for) stays the unique key).
- `consent_events.evidence`: how a consent was given, in detail (JSON).
- `opt_in_requests`: double opt-in confirmations sent and confirmed.
- `mail_reports`, `identities.soft_bounces`, `deliveries.bounced_at`:
  bounces, complaints and auto-replies, which never become customers.
- `app_secrets`: the generated link-signing key when none is configured.
- Campaigns without a subject get their name as subject (the new default).

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-25 06:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("campaign_runs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("repeat", sa.Integer(), server_default="0", nullable=False))
    with op.batch_alter_table("consent_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("evidence", sa.Text(), nullable=True))
    with op.batch_alter_table("identities", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("soft_bounces", sa.Integer(), server_default="0", nullable=False)
        )
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("bounced_at", sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE campaigns SET subject = substr(name, 1, 200) WHERE subject IS NULL")

    op.create_table(
        "opt_in_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("requested_by", sa.String(length=200), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("request_meta", sa.Text(), nullable=True),
        sa.Column("message_key", sa.String(length=300), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("confirmed_via", sa.String(length=20), nullable=True),
        sa.Column("customer_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_opt_in_requests_customer_id_customers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_opt_in_requests")),
    )
    with op.batch_alter_table("opt_in_requests", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_opt_in_requests_email"), ["email"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_opt_in_requests_message_key"), ["message_key"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_opt_in_requests_customer_id"), ["customer_id"], unique=False
        )

    op.create_table(
        "mail_reports",
        sa.Column("id", BigId, nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("message_key", sa.String(length=300), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recipient", sa.String(length=320), nullable=True),
        sa.Column("action", sa.String(length=20), nullable=True),
        sa.Column("status", sa.String(length=12), nullable=True),
        sa.Column("customer_id", sa.Integer(), nullable=True),
        sa.Column("delivery_id", BigId, nullable=True),
        sa.Column("outcome", sa.String(length=60), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_mail_reports_customer_id_customers")
        ),
        sa.ForeignKeyConstraint(
            ["delivery_id"], ["deliveries.id"], name=op.f("fk_mail_reports_delivery_id_deliveries")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mail_reports")),
        sa.UniqueConstraint("message_key", name=op.f("uq_mail_reports_message_key")),
    )
    with op.batch_alter_table("mail_reports", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_mail_reports_received_at"), ["received_at"])
        batch_op.create_index(batch_op.f("ix_mail_reports_customer_id"), ["customer_id"])
        batch_op.create_index(batch_op.f("ix_mail_reports_delivery_id"), ["delivery_id"])

    op.create_table(
        "app_secrets",
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("value", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_app_secrets")),
    )


def _drop_column(table: str, column: str) -> None:
    """In place on SQLite too (3.35+): a batch copy of a table others point to fails there
    with data in it."""
    if op.get_bind().dialect.name == "sqlite":
        op.execute(f'ALTER TABLE "{table}" DROP COLUMN "{column}"')
    else:
        op.drop_column(table, column)


def downgrade() -> None:
    op.drop_table("app_secrets")
    op.drop_table("mail_reports")
    op.drop_table("opt_in_requests")
    _drop_column("deliveries", "bounced_at")
    _drop_column("identities", "soft_bounces")
    _drop_column("consent_events", "evidence")
    _drop_column("campaign_runs", "repeat")
