"""How demo data is kept apart from real data (no schema change needed).

The database carries a marker: an audit event with action `demo.marker`.
`fill_demo` refuses any database that holds customers, segments, campaigns,
staff or orders without that marker, so it never mixes into a real one; a
demo-marked database is emptied and refilled. Every demo customer carries the
tag `demo`.
"""

from __future__ import annotations

from sqlalchemy import delete, select

from rapport.crm.database import Database
from rapport.crm.errors import Conflict
from rapport.crm.models import AuditEvent, Base, Campaign, Customer, Order, Segment, StaffMember

DEMO_MARKER = "demo.marker"
DEMO_TAG = "demo"


def is_demo(db: Database) -> bool:
    """Does the database carry the demo marker?"""
    with db.session() as session:
        found = session.scalar(
            select(AuditEvent.id).where(AuditEvent.action == DEMO_MARKER).limit(1)
        )
    return found is not None


def holds_data(db: Database) -> bool:
    """Anything a business would have put there: customers, segments, campaigns, staff, orders."""
    with db.session() as session:
        return any(
            session.scalar(select(model.id).limit(1)) is not None
            for model in (Customer, Segment, Campaign, StaffMember, Order)
        )


def check_target(db: Database) -> bool:
    """Raise Conflict for a database with real data; True when it holds demo data to replace."""
    demo = is_demo(db)
    if holds_data(db) and not demo:
        raise Conflict(
            "that database holds data that is not demo data; demo data goes only into an "
            "empty or demo database (default sqlite:///rapport-demo.db)"
        )
    return demo


def wipe(db: Database) -> None:
    """Empty every table of a demo database (children first)."""
    with db.transaction() as session:
        for table in reversed(Base.metadata.sorted_tables):
            session.execute(delete(table))
