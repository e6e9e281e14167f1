"""The audit trail of staff access to personal data.

Reads are recorded in the same transaction as the read itself, so there is
no way to see a customer's data without leaving a trace.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from rapport.crm.models import AuditEvent


@dataclass(frozen=True, slots=True)
class Actor:
    """Who is asking: a staff member (by id) or an operator at the CLI."""

    label: str
    staff_id: int | None = None


def record(
    session: Session,
    actor: Actor,
    action: str,
    *,
    customer_id: int | None = None,
    detail: str | None = None,
) -> None:
    session.add(
        AuditEvent(
            staff_id=actor.staff_id,
            actor=actor.label,
            action=action,
            customer_id=customer_id,
            detail=detail,
        )
    )
