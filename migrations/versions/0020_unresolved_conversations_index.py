"""The inbox's order over unresolved conversations only: (last_message_at, id), partial.

The inbox pages unresolved conversations longest waiting first (`ORDER BY
last_message_at, id LIMIT 50`). Without an index in that order both
databases sorted every unresolved conversation for each page (20,000: 4–5 ms
on SQLite before the first row); the "breaching" filter's scan had to sort
them all before it could stop at a full page. Partial (`status IN ('open',
'waiting')`), so resolved conversations, most of the table, cost it nothing,
and a conversation leaves it when resolved. A full index on (status,
last_message_at, id) was tried before and made SQLite's plan worse (two
IN values cannot be read in one order). The queries write the two statuses
into the SQL (rapport.crm.desk.inbox), which is how the planners see that
the index's condition holds.

Revision ID: 0020
Revises: 0017
Create Date: 2026-12-02 15:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_WHERE = "status IN ('open', 'waiting')"


def upgrade() -> None:
    op.create_index(
        "ix_conversations_unresolved",
        "conversations",
        ["last_message_at", "id"],
        sqlite_where=sa.text(_WHERE),
        postgresql_where=sa.text(_WHERE),
    )


def downgrade() -> None:
    op.drop_index("ix_conversations_unresolved", table_name="conversations")
