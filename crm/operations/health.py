"""The health of `rapport run`'s long-running tasks, as the supervisor last saw them.

Written by rapport.channels.supervision on every change of state (started,
failed and restarting, given up, stopped), read by `rapport health` (and the
console later). A row per task name; the process that runs the task owns it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from rapport.crm.database import Database
from rapport.crm.models import TaskHealth

RUNNING = "running"
RESTARTING = "restarting"
FAILED = "failed"
STOPPED = "stopped"


@dataclass(frozen=True, slots=True)
class TaskView:
    name: str
    state: str
    restarts: int
    last_error: str | None
    last_error_at: datetime | None
    last_ok: datetime | None
    updated_at: datetime


def record_task(
    db: Database,
    name: str,
    state: str,
    *,
    now: datetime,
    error: str | None = None,
    restarted: bool = False,
    fresh: bool = False,
) -> None:
    """Note a task's new state; `fresh` starts its count of restarts again (a new process)."""
    with db.transaction() as session:
        row = session.get(TaskHealth, name)
        if row is None:
            row = TaskHealth(name=name, restarts=0)
            session.add(row)
        if fresh:
            row.restarts = 0
        row.state = state
        row.updated_at = now
        if restarted:
            row.restarts += 1
        if error is not None:
            row.last_error, row.last_error_at = error[:500], now
        if state == RUNNING:
            row.last_ok = now


def task_states(db: Database) -> list[TaskView]:
    with db.session() as session:
        rows = session.scalars(select(TaskHealth).order_by(TaskHealth.name)).all()
        return [
            TaskView(
                r.name, r.state, r.restarts, r.last_error, r.last_error_at, r.last_ok, r.updated_at
            )
            for r in rows
        ]
