"""Faster reports: deliveries remember when the customer wrote back; a sentiment index.

Reports counted engagement by searching each customer's messages for every
delivery; ingest now records it on the delivery (crm/interactions/engagement.py). The
column is filled here for existing deliveries from the stored messages, with
the same definition: the first inbound, not automated message in
[sent_at, sent_at + 7 days). A partial index on interactions (sent_at,
polarity) over what customers wrote lets the sentiment-by-day report read a
range of days instead of the whole table.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-24 01:20:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# SQLite keeps UTC timestamps as fixed-width 'YYYY-MM-DD HH:MM:SS.ffffff' text:
# seven days later is the date part moved on, the time part kept.
_WINDOW_END = {
    "sqlite": "date(substr(d.sent_at, 1, 10), '+7 days') || substr(d.sent_at, 11)",
    "postgresql": "d.sent_at + interval '7 days'",
}

# Inbound, not automated, scored: the sentiment report's rows, spelt as each
# database's planner will see them in the report's query.
_SENTIMENT_WHERE = {
    "sqlite": "direction = 'in' AND automated IS 0 AND polarity IS NOT NULL",
    "postgresql": "direction = 'in' AND automated IS false AND polarity IS NOT NULL",
}

_BACKFILL = """
UPDATE deliveries AS d SET wrote_back_at = (
    SELECT min(i.sent_at) FROM interactions AS i
    WHERE i.customer_id = d.customer_id
      AND i.direction = 'in'
      AND i.automated = false
      AND i.sent_at >= d.sent_at
      AND i.sent_at < {window_end}
)
WHERE d.status = 'sent'
"""


def upgrade() -> None:
    op.add_column("deliveries", sa.Column("wrote_back_at", sa.DateTime(timezone=True)))
    dialect = op.get_bind().dialect.name
    op.execute(_BACKFILL.format(window_end=_WINDOW_END[dialect]))
    op.create_index(
        "ix_interactions_sentiment",
        "interactions",
        ["sent_at", "polarity"],
        sqlite_where=sa.text(_SENTIMENT_WHERE["sqlite"]),
        postgresql_where=sa.text(_SENTIMENT_WHERE["postgresql"]),
    )


def downgrade() -> None:
    op.drop_index("ix_interactions_sentiment", table_name="interactions")
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_column("wrote_back_at")
