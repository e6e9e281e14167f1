"""The composition root: what `rapport run` and `rapport worker` run, each part built once.

In the spirit of cosmicpython's `bootstrap.py`, `build_app` reads the settings
and builds the database, the outbound channel registry
(rapport.channels.registry), the dispatcher, the customer bot (its handlers
get the shared objects through a typed context, rapport.bot.context), the desk
round, the scheduler and the inbound services, and returns an `App` to start
and stop. The root knows what each part provides because it built it; nothing
is found by looking inside services.

Start order: the outbound channels open (the bot checks its token), then the
inbound services (the web endpoint, mail, Telegram), then the dispatcher that
sends through the channels, the webhook deliverer, the desk round beside the
bot, the scheduler that wakes the dispatcher, and the worker pool. Stop order is the reverse and the
channels close last, so nothing is sent through a channel already closed.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from rapport.bot.context import CONTEXT_TYPES, BotShared
from rapport.bot.dialogs.customer import CustomerDialogs
from rapport.bot.dialogs.updates import QUIET_GROUP, quiet_handlers
from rapport.bot.dispatch_service import DispatchService
from rapport.bot.scheduler import Runtime, SchedulerService
from rapport.bot.staff.desk_round import DeskService
from rapport.bot.staff.registry import StaffCommands
from rapport.bot.web import WebService, web_factory
from rapport.bot.webhook_service import WebhookService
from rapport.bot.workers import WORKER_COMMAND, WorkerPool
from rapport.channels.email import imap_service, inbound_smtp_service
from rapport.channels.lifecycle import Disabled, Service, ServiceFactory
from rapport.channels.registry import OutboundChannels
from rapport.channels.supervision import Supervisor
from rapport.channels.telegram.service import NAME, WEBHOOK_SECRET_MISSING, TelegramService
from rapport.crm.clock import Clock, utcnow
from rapport.crm.customers.identity import EMAIL, TELEGRAM
from rapport.crm.database import Database
from rapport.crm.errors import ConfigurationError
from rapport.crm.settings import Settings
from rapport.migrations.schema import open_database

log = logging.getLogger(__name__)

WEBHOOK_NEEDS_WEB = (
    "RAPPORT_TELEGRAM_WEBHOOK_URL needs the web server, which serves the webhook: "
    "set RAPPORT_WEB_PORT (not 0) or unset the URL for long polling"
)

INBOUND_MAIL: tuple[ServiceFactory, ...] = (inbound_smtp_service, imap_service)
"""The mail adapters' inbound services; each says why it stays off if it does."""


@dataclass
class App:
    """A built application: start it once, stop it once (also after a failed start)."""

    db: Database
    outbound: OutboundChannels
    dispatcher: DispatchService
    services: tuple[Service, ...]
    """Everything with a lifetime, in start order (the dispatcher among them)."""
    telegram: TelegramService | None = None
    role: str = "Rapport"
    supervisor: Supervisor = field(default_factory=Supervisor)
    """Restarts failing tasks; its `failed` event says one was given up (exit non-zero)."""
    started: list[Service] = field(default_factory=list)
    next_steps: tuple[str, ...] = ()
    """What to try now, logged as the last start-up line (`next_steps`)."""

    async def start(self) -> None:
        await self.outbound.open()
        for service in self.services:
            await service.start()
            self.started.append(service)
            log.info("%s: on", service.name)
        log.info("%s is running with %d service(s); Ctrl-C stops it", self.role, len(self.started))
        for step in self.next_steps:
            log.info("next: %s", step)

    async def stop(self) -> None:
        """Stop what started, newest first; then close the channels and the database."""
        while self.started:
            service = self.started.pop()
            try:
                await service.stop()
            except Exception:
                log.exception("%s did not stop cleanly", service.name)
        await self.outbound.close()
        self.db.dispose()
        log.info("stopped")


def quota_share(settings: Settings, senders: int) -> Settings:
    """These settings for one of `senders` processes sending mail side by side.

    The SMTP quota (`smtp_max_per_second`) is the provider's, for all of
    Rapport together, so each sending process paces itself to its share.
    """
    if settings.smtp_max_per_second is None or senders <= 1:
        return settings
    return settings.model_copy(
        update={"smtp_max_per_second": settings.smtp_max_per_second / senders}
    )


def build_app(
    settings: Settings,
    *,
    worker: bool = False,
    workers: int = 0,
    inbound: Sequence[ServiceFactory] = INBOUND_MAIL,
) -> App:
    """Everything these settings configure, built and wired, nothing started yet.

    A worker (`worker`) runs the dispatcher and the outbound channels only: no
    scheduler, nothing inbound. `workers` > 0 makes the app also supervise that
    many worker processes (PostgreSQL only). `inbound` are the mail services to
    host (the web endpoint and the bot are the app's whatever they are).
    """
    if workers and not settings.database_url.startswith("postgresql"):
        raise ConfigurationError(
            "--workers needs PostgreSQL (RAPPORT_DATABASE_URL=postgresql://…): "
            "on SQLite the dispatcher inside `rapport run` is the only one"
        )
    db = open_database(settings.database_url)
    try:
        return _assemble(settings, db, worker=worker, workers=workers, inbound=inbound)
    except BaseException:
        db.dispose()
        raise


def _assemble(
    settings: Settings,
    db: Database,
    *,
    worker: bool,
    workers: int,
    inbound: Sequence[ServiceFactory],
) -> App:
    if workers:
        settings = quota_share(settings, workers + 1)  # the app's dispatcher sends mail too
    outbound = OutboundChannels.from_settings(settings)
    supervisor = Supervisor(db)
    for name in (EMAIL, TELEGRAM):
        if name not in outbound:
            log.info("sending by %s: off (not configured)", name)
    dispatcher = DispatchService(
        settings,
        db,
        outbound.for_campaigns(),
        recover_all_at_start=db.dialect == "sqlite",
        # A worker sends only on the channels it has; the app fails what none can send.
        claim_only=frozenset(outbound.names) if worker else None,
        supervisor=supervisor,
    )
    webhooks = WebhookService(db)  # outgoing webhooks: the outbox is shared like the dispatcher's
    if worker:
        return App(
            db, outbound, dispatcher, (dispatcher, webhooks), role="worker", supervisor=supervisor
        )

    services: list[Service] = []
    health: list[tuple[str, bool, str]] = []  # the console's health page
    web: WebService | None = None
    for factory in (web_factory, *inbound):  # the unsubscribe endpoint is the app's
        service = factory(settings, db)
        if isinstance(service, Disabled):
            log.info("%s: off (%s)", service.name, service.reason)
            health.append((service.name, False, service.reason))
            continue
        if isinstance(service, WebService):  # the subscribe page mails its confirmations
            service.use_channels(outbound.for_campaigns())
            service.use_dispatcher(dispatcher.wake, health)
            service.use_webhooks(webhooks.wake)
            web = service
        services.append(service)
    for name in (EMAIL, TELEGRAM):
        if name not in outbound:
            health.append((f"sending by {name}", False, "not configured"))
    telegram = None
    if outbound.telegram_bot is None:
        log.info("%s: off (RAPPORT_TELEGRAM_TOKEN is not set)", NAME)
        health.append((NAME, False, "RAPPORT_TELEGRAM_TOKEN is not set"))
    else:
        telegram = customer_bot(
            settings, db, BotShared(outbound, dispatcher.wake), supervisor=supervisor
        )
        if telegram.webhook_path is not None:
            if web is None:
                raise ConfigurationError(WEBHOOK_NEEDS_WEB)
            web.use_telegram(telegram)  # one HTTP application: the webhook is a route of it
        services.append(telegram)
    services.append(dispatcher)
    services.append(webhooks)
    if outbound.telegram_bot is not None:
        services.append(
            DeskService(outbound.telegram_bot, db, settings, outbound, supervisor=supervisor)
        )
    runtime = Runtime(
        db=db,
        channels=outbound.names,
        frequency_cap=settings.frequency_cap_per_week,
        wake_dispatcher=dispatcher.wake,
    )
    services.append(SchedulerService(settings, db, runtime, supervisor=supervisor))
    if workers:
        # Telegram's per-chat limit (1/s) is paced inside one process only: a worker's
        # campaign message and the app's reply to the same chat drew 429s (36 in five
        # minutes of soak). With the bot here, the workers send email only and every
        # Telegram message goes through this process's one rate limiter.
        command = (*WORKER_COMMAND, "--senders", str(workers + 1))
        if telegram is not None:
            command += ("--no-telegram",)
        services.append(WorkerPool(workers, command=command))
    health[:0] = [(service.name, True, "running") for service in services]
    if web is None:
        log.debug("no web server: the console is off")
    return App(
        db,
        outbound,
        dispatcher,
        tuple(services),
        telegram=telegram,
        supervisor=supervisor,
        next_steps=next_steps(settings, [s.name for s in services], outbound.names),
    )


def next_steps(
    settings: Settings, services: Sequence[str], sending: Sequence[str]
) -> tuple[str, ...]:
    """What a person who just started Rapport can do next, from what is on and off.

    The default set-up (no token, no SMTP) runs with only the local mail
    server, which is easy to miss: say how to try it, and how to set up the rest.
    """
    steps = []
    if any("inbound-smtp" in name for name in services):
        steps.append(
            f"try it: send a mail to port {settings.inbound_smtp_port} on "
            f"{settings.inbound_smtp_host}, then `rapport customers list` in another terminal"
        )
    if not sending:
        steps.append(
            "nothing can be sent yet: `rapport init` sets up Telegram and outgoing mail "
            "(RAPPORT_TELEGRAM_TOKEN, RAPPORT_SMTP_HOST)"
        )
    elif TELEGRAM not in sending:
        steps.append("Telegram is off: `rapport init` or RAPPORT_TELEGRAM_TOKEN turns it on")
    steps.append("reports: `rapport report programmes`; every command: `rapport --help`")
    return tuple(steps)


def customer_bot(
    settings: Settings,
    db: Database,
    shared: BotShared,
    *,
    clock: Clock = utcnow,
    **options: Any,
) -> TelegramService:
    """The customer dialogs with the staff commands before them, on the shared bot.

    The bot is the outbound registry's, so answers and campaign sends share one
    rate limiter; every handler's context reads `shared` (rapport.bot.context).
    `clock` is the dialogs' time; `options` are the service's own (poll
    timeout, retry delay, the supervisor); failed updates become dead letters
    in `db`.
    """
    if settings.telegram_webhook_url and settings.telegram_webhook_secret is None:
        raise ConfigurationError(WEBHOOK_SECRET_MISSING)
    service = TelegramService(
        settings,
        CustomerDialogs(db, settings, clock=clock).handlers(),
        bot=shared.outbound.telegram_bot,
        context_types=CONTEXT_TYPES,
        bot_data=shared,
        db=db,
        **options,
    )
    StaffCommands(db, settings).register(service.application)  # an earlier handler group
    service.application.add_handlers(quiet_handlers(db, clock=clock), group=QUIET_GROUP)
    return service
