"""`rapport health`: the state of each long-running task, and what the bot could not handle."""

from __future__ import annotations

from rapport.bot.cli.common import configured_settings, open_db, out, style
from rapport.bot.cli.render import FormatOption, OutputFormat, WideOption, show


def health(fmt: FormatOption = OutputFormat.TABLE, wide: WideOption = False) -> None:
    """Each task of `rapport run` (polling, retries, dispatcher, desk): live or not and why.

    A task is live when it runs and its process beats (every 30 s); the
    console's health page shows the same rows.

    Example: rapport health --format csv
    """
    from rapport.bot.present.health import health_listing
    from rapport.crm.clock import utcnow
    from rapport.crm.operations.dead_letters import DEAD, RETRYING, count_by_state
    from rapport.crm.operations.health import task_states

    settings = configured_settings()
    with open_db(settings.database_url) as db:
        tasks = task_states(db)
        letters = count_by_state(db)
    listing = health_listing(tasks, utcnow(), settings.zone)
    if fmt is not OutputFormat.TABLE:
        show(listing, style(settings), fmt)
        return
    if not tasks:
        out.print("No task has run yet (start Rapport with `rapport run`).")
    else:
        show(listing, style(settings), fmt, wide=wide)
    dead, retrying = letters.get(DEAD, 0), letters.get(RETRYING, 0)
    out.print(
        f"Failed updates: {dead} dead, {retrying} being retried"
        + (" (see `rapport telegram failed`)" if dead or retrying else "")
    )
