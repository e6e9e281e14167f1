"""The one registry of outbound channels: whoever sends, sends through these.

`rapport run`, `rapport worker`, the CLI (`campaigns run-now`, `conversations
reply`) and the bot's handlers all take their outbound channels from an
`OutboundChannels` built from the same settings, so a campaign reaches the
same customers whoever starts it: email when SMTP is configured, Telegram when
a bot token is set. A process builds it once; it owns the connections and
closes them (`async with`, or `open`/`close`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from types import TracebackType

from telegram import Bot

from rapport.channels.email.outbound import EmailSender
from rapport.channels.telegram.client import build_bot
from rapport.channels.telegram.outbound import TelegramChannel
from rapport.crm.channel import Channel
from rapport.crm.customers.identity import EMAIL, TELEGRAM
from rapport.crm.settings import Settings


class OutboundChannels(Mapping[str, Channel]):
    """The channels this process can send through, by name (`"email"`, `"telegram"`)."""

    def __init__(
        self, *, email: EmailSender | None = None, telegram: TelegramChannel | None = None
    ) -> None:
        self.email = email
        self.telegram = telegram
        self._by_name: dict[str, Channel] = {}
        if email is not None:
            self._by_name[EMAIL] = email
        if telegram is not None:
            self._by_name[TELEGRAM] = telegram

    @classmethod
    def from_settings(cls, settings: Settings) -> OutboundChannels:
        """Every channel these settings configure; nothing is connected until used."""
        email = None
        if settings.smtp_host and settings.mail_from:
            email = EmailSender.from_settings(settings)
        telegram = None
        if settings.telegram_token is not None:
            telegram = TelegramChannel(build_bot(settings))
        return cls(email=email, telegram=telegram)

    # -- what callers read ----------------------------------------------------------

    @property
    def names(self) -> tuple[str, ...]:
        """The channels a campaign run may choose for its deliveries."""
        return tuple(self._by_name)

    @property
    def telegram_bot(self) -> Bot | None:
        """The bot the Telegram channel sends with, for the service that receives with it."""
        return self.telegram.bot if self.telegram is not None else None

    def for_campaigns(self) -> dict[str, Channel]:
        """The dispatcher's view: on Telegram, campaign sends give way to replies.

        The bot's replies and the campaigns share one rate limit; a reply waits
        for the update it answers, so bulk sends let it go first.
        """
        found = dict(self._by_name)
        if self.telegram is not None:
            found[TELEGRAM] = self.telegram.for_campaigns()
        return found

    def __repr__(self) -> str:
        return f"OutboundChannels({', '.join(self.names) or 'nothing'})"

    def __getitem__(self, name: str) -> Channel:
        return self._by_name[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_name)

    def __len__(self) -> int:
        return len(self._by_name)

    # -- lifetime -----------------------------------------------------------------------

    async def open(self) -> None:
        """Make the channels ready to send (the bot checks its token; mail connects lazily)."""
        if self.telegram is not None:
            await self.telegram.bot.initialize()

    async def close(self) -> None:
        """Say goodbye on open connections; safe to call twice and after a failed `open`."""
        if self.email is not None:
            await self.email.close()
        if self.telegram is not None:
            await self.telegram.bot.shutdown()

    async def __aenter__(self) -> OutboundChannels:
        try:
            await self.open()
        except BaseException:
            await self.close()
            raise
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        await self.close()
