"""The inbox's two reads in index order: unresolved conversations, a conversation's latest.

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

And a conversation's messages in time order: (conversation_id, sent_at, id)
replaces the index on conversation_id alone. The inbox finds each listed
conversation's latest message by reading one index entry (it sorted all of
their messages in a window function: 2.1 → 0.1 ms for a page of 50), and a
thread's last 100 messages come in order.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-02 15:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
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
    with op.batch_alter_table("interactions", schema=None) as batch_op:
        batch_op.drop_index("ix_interactions_conversation_id")
        batch_op.create_index(
            "ix_interactions_conversation_sent", ["conversation_id", "sent_at", "id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("interactions", schema=None) as batch_op:
        batch_op.drop_index("ix_interactions_conversation_sent")
        batch_op.create_index("ix_interactions_conversation_id", ["conversation_id"])
    op.drop_index("ix_conversations_unresolved", table_name="conversations")
