"""The health of `rapport run`'s long-running tasks, as the supervisor last saw them.

Written by rapport.channels.supervision on every change of state (started,
failed and restarting, given up, stopped) and, while a task runs, every
`HEARTBEAT` (its `updated_at` is its last beat); read by `rapport health` and
the console's health page. A row per task name; the process that runs the
task owns it. A row that says "running" but has not beaten for `STALE_AFTER`
belongs to a process that is gone (killed, the machine off): not live.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update

from rapport.crm.database import Database
from rapport.crm.models import TaskHealth

RUNNING = "running"
RESTARTING = "restarting"
FAILED = "failed"
STOPPED = "stopped"

HEARTBEAT = timedelta(seconds=30)
"""How often a running task's row is touched."""
STALE_AFTER = 3 * HEARTBEAT
"""A running row older than this is a process that no longer beats."""


@dataclass(frozen=True, slots=True)
class TaskView:
    name: str
    state: str
    restarts: int
    last_error: str | None
    last_error_at: datetime | None
    last_ok: datetime | None
    updated_at: datetime
    """The last change of state or heartbeat."""

    def live(self, now: datetime) -> bool:
        return self.state == RUNNING and now - self.updated_at <= STALE_AFTER

    def why_not(self, now: datetime) -> str:
        """Why the task is not live, in a few words ("" when it is)."""
        if self.live(now):
            return ""
        if self.state == RUNNING:
            return "no heartbeat: its process is gone"
        if self.state == FAILED:
            return f"given up: {self.last_error or 'no error noted'}"
        if self.state == RESTARTING:
            return f"restarting after: {self.last_error or 'no error noted'}"
        return "stopped with its process"


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


def beat(db: Database, names: Collection[str], *, now: datetime) -> None:
    """The heartbeat: touch the rows of these running tasks."""
    if not names:
        return
    with db.transaction() as session:
        session.execute(
            update(TaskHealth)
            .where(TaskHealth.name.in_(list(names)), TaskHealth.state == RUNNING)
            .values(updated_at=now),
            execution_options={"synchronize_session": False},
        )
