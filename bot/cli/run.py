"""`rapport run` and `rapport worker`: the long-running processes."""

from __future__ import annotations

from typing import Annotated

import typer

from rapport.bot.cli.common import configured_settings


def run(
    workers: Annotated[
        int,
        typer.Option(
            "--workers", min=0, help="Also start and supervise N `rapport worker`s (PostgreSQL)."
        ),
    ] = 0,
) -> None:
    """Start Rapport: database, scheduler and every configured channel.

    Example: rapport run --workers 4   (PostgreSQL; plain `rapport run` on SQLite)
    """
    import asyncio

    from rapport.bot.runner import run as run_app

    asyncio.run(run_app(configured_settings(chatter=True), workers=workers))


def worker(
    parent_fd: Annotated[int | None, typer.Option("--parent-fd", hidden=True)] = None,
    no_telegram: Annotated[
        bool,
        typer.Option(
            "--no-telegram",
            help="Send no Telegram messages (leave them to `rapport run`, one pace per chat).",
        ),
    ] = False,
    senders: Annotated[int, typer.Option("--senders", hidden=True, min=1)] = 1,
) -> None:
    """Run a dispatcher only: sends queued campaign messages (several may share PostgreSQL).

    Example: rapport worker   (several, sharing one PostgreSQL database)
    """
    import asyncio

    from rapport.bot.app import quota_share
    from rapport.bot.runner import run as run_app

    # One of `senders` processes `rapport run --workers` started: the mail quota is shared.
    settings = quota_share(configured_settings(chatter=True), senders)
    if no_telegram:  # claims email deliveries only (a worker claims what it can send)
        settings = settings.model_copy(update={"telegram_token": None})
    asyncio.run(run_app(settings, worker=True, parent_fd=parent_fd))
