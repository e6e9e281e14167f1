"""The supervisor on its own: restarts with back-off, gives up, keeps each task's health."""

from __future__ import annotations

import asyncio

from rapport.channels.supervision import GiveUp, Supervisor, describe
from rapport.crm.database import Database
from rapport.crm.operations.health import task_states


async def test_a_failing_task_is_restarted_until_it_works(db: Database) -> None:
    supervisor = Supervisor(db, first_delay=0.01)
    runs: list[int] = []
    done = asyncio.Event()

    async def flaky() -> None:
        runs.append(1)
        if len(runs) < 3:
            raise ValueError("not yet") from KeyError("the cause")
        done.set()
        await asyncio.Event().wait()  # runs on until cancelled

    task = supervisor.spawn("flaky", flaky)
    await asyncio.wait_for(done.wait(), 10)
    [health] = task_states(db)
    assert (health.name, health.state, health.restarts) == ("flaky", "running", 2)
    assert health.last_error == "ValueError: not yet <- caused by KeyError: 'the cause'"
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert task_states(db)[0].state == "stopped"
    assert not supervisor.failed.is_set()


async def test_a_task_that_keeps_failing_or_cannot_go_on_is_given_up(db: Database) -> None:
    supervisor = Supervisor(db, max_failures=3, first_delay=0.01)

    async def broken() -> None:
        raise RuntimeError("always")

    async def refused() -> None:
        raise GiveUp("the token was refused")

    await asyncio.wait_for(supervisor.spawn("broken", broken), 10)
    await asyncio.wait_for(supervisor.spawn("refused", refused), 10)
    assert supervisor.failed.is_set()
    assert supervisor.restarts == {"broken": 2, "refused": 0}
    states = {t.name: t.state for t in task_states(db)}
    assert states == {"broken": "failed", "refused": "failed"}
    assert "broken: RuntimeError: always" in str(supervisor.error())


async def test_a_periodic_job_counts_its_failures_like_a_task(db: Database) -> None:
    supervisor = Supervisor(db, max_failures=2)
    outcomes = [None, OSError("disk full"), OSError("disk full")]

    def job() -> None:
        failure = outcomes.pop(0)
        if failure is not None:
            raise failure

    run = supervisor.periodic("sync", job)
    await asyncio.to_thread(run)
    assert task_states(db)[0].state == "running"
    await asyncio.to_thread(run)
    assert (task_states(db)[0].state, task_states(db)[0].restarts) == ("restarting", 1)
    await asyncio.to_thread(run)
    await asyncio.wait_for(supervisor.failed.wait(), 5)
    assert task_states(db)[0].state == "failed"


def test_database_errors_are_described_without_their_statement() -> None:
    from sqlalchemy.exc import OperationalError

    error = OperationalError("INSERT INTO x VALUES ('secret text')", {}, ConnectionError("gone"))
    assert describe(error) == "OperationalError (ConnectionError)"
