"""`rapport health`: the state of each long-running task, and what the bot could not handle."""

from __future__ import annotations

from rich.table import Table

from rapport.bot.cli.common import configured_settings, open_db, out, when


def health() -> None:
    """Each task of `rapport run` (polling, retries, dispatcher, desk): state, restarts, last error.

    Example: rapport health
    """
    from rapport.crm.operations.dead_letters import DEAD, RETRYING, count_by_state
    from rapport.crm.operations.health import task_states

    settings = configured_settings()
    with open_db(settings.database_url) as db:
        tasks = task_states(db)
        letters = count_by_state(db)
    if not tasks:
        out.print("No task has run yet (start Rapport with `rapport run`).")
    else:
        table = Table("task", "state", "restarts", "last ok", "last error", "when")
        for t in tasks:
            table.add_row(
                t.name,
                t.state,
                str(t.restarts),
                when(t.last_ok, settings.zone),
                t.last_error or "—",
                when(t.last_error_at, settings.zone),
            )
        out.print(table)
    dead, retrying = letters.get(DEAD, 0), letters.get(RETRYING, 0)
    out.print(
        f"Failed updates: {dead} dead, {retrying} being retried"
        + (" (see `rapport telegram failed`)" if dead or retrying else "")
    )
