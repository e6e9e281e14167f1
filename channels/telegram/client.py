"""The one PTB bot of a Rapport process: Rapport's Bot API address, Rapport's rate limits.

Built once from the settings by the outbound registry (rapport.channels.registry).
In `rapport run` the Telegram service receives updates with this same bot, so
the bot's answers and the campaigns' sends share one rate limiter; in the CLI
and in `rapport worker` it only sends (no polling, no webhook).
"""

from __future__ import annotations

from telegram.ext import ExtBot
from telegram.request import HTTPXRequest

from rapport.channels.telegram.ratelimit import PacedRateLimiter
from rapport.crm.errors import ConfigurationError
from rapport.crm.settings import Settings

CONNECTIONS = 64
"""HTTP connections for sends: campaigns to many chats at once, within the rate limits."""
POOL_TIMEOUT = 30.0
"""Seconds a send may wait for a free connection while a campaign holds them all."""


def build_bot(settings: Settings) -> ExtBot[int]:
    """A bot against `telegram_api_url`, paced by our rate limiter; not yet initialised."""
    if settings.telegram_token is None:
        raise ConfigurationError("RAPPORT_TELEGRAM_TOKEN is not set")
    return ExtBot(
        settings.telegram_token.get_secret_value(),
        base_url=settings.telegram_api_url,
        request=HTTPXRequest(connection_pool_size=CONNECTIONS, pool_timeout=POOL_TIMEOUT),
        get_updates_request=HTTPXRequest(connection_pool_size=1),
        rate_limiter=PacedRateLimiter(settings.telegram_overall_rate, settings.telegram_chat_rate),
    )
