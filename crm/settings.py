"""The one settings object, read from `RAPPORT_*` environment variables.

A `.env` file in the working directory is read too (environment wins), so a
shop can keep its configuration next to its database without a shell script.
"""

from __future__ import annotations

import difflib
import logging
import os
import re
from collections.abc import Mapping
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from rapport.crm.errors import ConfigurationError

log = logging.getLogger(__name__)


class SmtpSecurity(StrEnum):
    NONE = "none"
    STARTTLS = "starttls"
    TLS = "tls"


class Settings(BaseSettings):
    """Every setting Rapport reads; docs/configuration.md is generated from it."""

    model_config = SettingsConfigDict(
        env_prefix="RAPPORT_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    database_url: str = Field("sqlite:///rapport.db", description="SQLAlchemy URL of the database.")
    timezone: str = Field("UTC", description="The business's time zone (IANA name).")
    business_name: str = Field("Rapport", description="Shown to customers in greetings.")
    log_level: str = Field("INFO", description="Python logging level.")
    max_message_chars: int = Field(
        100_000, ge=1_000, description="Longest inbound message text accepted, in characters."
    )

    frequency_cap_per_week: int = Field(
        3, ge=1, le=100, description="Most campaign messages one customer gets in 7 days."
    )
    dispatch_batch_size: int = Field(100, ge=1, le=5000, description="Deliveries claimed at once.")
    dispatch_max_attempts: int = Field(
        5, ge=1, le=50, description="Sends tried before a delivery fails for good."
    )
    dispatch_lease_seconds: int = Field(
        300, ge=0, description="A claim older than this is taken to be from a dead worker."
    )
    dispatch_quiet_seconds: float = Field(
        5.0,
        ge=0,
        le=3600,
        description="A campaign message waits this long after the customer's last message, so "
        "it does not land in a live exchange (nor collide with the reply under Telegram's "
        "1 message/s per chat); held at most ten times as long. 0 turns it off.",
    )

    template_time_limit_ms: int = Field(
        100,
        ge=10,
        le=10_000,
        description="Time one campaign message's template may take to render (CPU "
        "milliseconds; the render is stopped after ten times as long in wall time). A "
        "template over it, its memory or its output bound fails that delivery and pauses "
        "its campaign.",
    )

    sentiment_positive_threshold: float = Field(
        0.1,
        ge=-1.0,
        le=1.0,
        description="Polarity at or above which a message counts as positive (docs/sentiment.md).",
    )
    sentiment_negative_threshold: float = Field(
        -0.1,
        ge=-1.0,
        le=1.0,
        description="Polarity at or below which a message counts as negative (docs/sentiment.md).",
    )
    sentiment_strongly_negative_threshold: float = Field(
        -0.5,
        ge=-1.0,
        le=1.0,
        description="Polarity at or below which a message is strongly negative: the complaint "
        "trigger (docs/sentiment.md).",
    )

    currency: str = Field(
        "EUR",
        pattern=r"^[A-Z]{3}$",
        description="The shop's currency (ISO 4217); imported orders must be in it.",
    )
    points_per_currency_unit: float = Field(
        1.0, ge=0, le=10_000, description="Loyalty points earned per unit of currency spent."
    )
    points_expire_months: int = Field(
        24, ge=0, le=600, description="Points expire this many months after earning; 0: never."
    )
    loyalty_tiers: str = Field(
        "silver:500,gold:2000",
        description="Loyalty tiers as name:points pairs, by points earned in the last 12 "
        "months; below the lowest a customer is a 'member'.",
    )

    telegram_token: SecretStr | None = Field(None, description="Bot token from @BotFather.")
    telegram_api_url: str = Field(
        "https://api.telegram.org/bot", description="Bot API base URL (a stand-in in tests)."
    )
    telegram_webhook_url: str | None = Field(
        None,
        description="Public HTTPS URL Telegram posts updates to (your TLS proxy forwards "
        "its path to the web server, RAPPORT_WEB_HOST:PORT); unset means long polling.",
    )
    telegram_webhook_secret: SecretStr | None = Field(
        None,
        description="Secret Telegram sends in X-Telegram-Bot-Api-Secret-Token with every "
        "webhook request (1-256 of A-Z a-z 0-9 _ -); required in webhook mode.",
    )
    telegram_overall_rate: float = Field(
        29.5, gt=0, le=30, description="Telegram messages sent per second at most, overall."
    )
    telegram_chat_rate: float = Field(
        0.95, gt=0, le=30, description="Telegram messages sent per second at most, per chat."
    )

    smtp_host: str | None = Field(None, description="Outbound SMTP server host.")
    smtp_port: int = Field(587, ge=1, le=65535, description="Outbound SMTP server port.")
    smtp_username: str | None = Field(None, description="Outbound SMTP user name.")
    smtp_password: SecretStr | None = Field(None, description="Outbound SMTP password.")
    smtp_tls: SmtpSecurity = Field(SmtpSecurity.STARTTLS, description="none, starttls or tls.")
    mail_from: str | None = Field(None, description="From address of Rapport's mail.")
    smtp_connections: int = Field(
        4,
        ge=1,
        le=50,
        description="Connections each sending process keeps open to the SMTP server; "
        "fewer if your provider limits concurrent connections.",
    )
    smtp_max_per_second: float | None = Field(
        None,
        ge=1,
        description="Most mails per second handed to the SMTP server, all of Rapport's "
        "processes together: your provider's sending quota (Amazon SES's maximum send "
        "rate, another provider's plan, an ISP's relay). Unset: as fast as the server "
        "accepts them. Replies go before campaign mail.",
    )

    inbound_smtp_host: str = Field(
        "127.0.0.1", description="Address the inbound SMTP server binds."
    )
    inbound_smtp_port: int = Field(
        2525, ge=0, le=65535, description="Inbound SMTP port; 0 turns the server off."
    )
    imap_host: str | None = Field(None, description="IMAP server polled for inbound mail.")
    imap_port: int = Field(993, ge=1, le=65535, description="IMAP port.")
    imap_username: str | None = Field(None, description="IMAP user name.")
    imap_password: SecretStr | None = Field(None, description="IMAP password.")
    imap_folder: str = Field("INBOX", description="IMAP folder to poll.")

    secret_key: SecretStr | None = Field(
        None,
        description="Signs unsubscribe and confirmation links (16+ characters); unset: a key "
        "generated once and kept in the database.",
    )
    public_url: str | None = Field(
        None,
        description="Public base URL of Rapport's web endpoint, e.g. https://crm.shop.hk; "
        "unset: the web server's local address (start-up warns: set it for real customers).",
    )
    unsubscribe_link_days: int = Field(
        365, ge=1, le=3650, description="Days an unsubscribe link keeps working."
    )
    opt_in_link_hours: int = Field(
        72,
        ge=1,
        le=720,
        description="Hours a double opt-in confirmation link (rapport customers invite, "
        "/subscribe) keeps working.",
    )
    soft_bounce_limit: int = Field(
        3,
        ge=1,
        le=100,
        description="Temporary bounces (4.x.x) in a row after which an email address counts "
        "as unreachable; a permanent one (5.x.x) does at once.",
    )
    web_host: str = Field(
        "127.0.0.1", description="Address the web server (public pages, staff console) binds."
    )
    web_port: int = Field(
        8080,
        ge=0,
        le=65535,
        description="Web server port (public pages, staff console); 0 turns it off.",
    )
    desk_rules: str | None = Field(
        None,
        description="JSON file of the conversations desk's rules: business hours, complaint "
        "words, contact policy per segment (docs/desk.md); unset: the defaults there.",
    )
    staff_chat_id: int | None = Field(
        None,
        description="Telegram chat (a staff group) told of new conversations and reminders; "
        "unset: each active agent is told in their own chat.",
    )
    retention_months: int = Field(
        24, ge=0, le=1200, description="Months message bodies are kept; 0 keeps them forever."
    )

    @field_validator("secret_key")
    @classmethod
    def _long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 16:
            raise ValueError("must be at least 16 characters (use a long random string)")
        return value

    @field_validator("public_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("https://", "http://")):
            raise ValueError("must start with https:// (or http:// for testing)")
        if value is not None and any(ch.isspace() or not ch.isprintable() for ch in value):
            raise ValueError("must not contain spaces or control characters")
        return value

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @field_validator("loyalty_tiers")
    @classmethod
    def _valid_tiers(cls, value: str) -> str:
        from rapport.crm.value.loyalty import parse_tiers

        parse_tiers(value)
        return value

    @field_validator("database_url")
    @classmethod
    def _supported_database(cls, value: str) -> str:
        if not value.startswith(("sqlite:", "postgresql:", "postgresql+psycopg:")):
            raise ValueError("only sqlite:/// and postgresql:// URLs are supported")
        return value

    @field_validator("telegram_webhook_secret")
    @classmethod
    def _webhook_secret_chars(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not re.fullmatch(
            r"[A-Za-z0-9_-]{1,256}", value.get_secret_value()
        ):
            raise ValueError("must be 1-256 characters of A-Z a-z 0-9 _ -")
        return value

    @field_validator("sentiment_negative_threshold")
    @classmethod
    def _negative_below_positive(cls, value: float, info: ValidationInfo) -> float:
        positive = info.data.get("sentiment_positive_threshold")
        if positive is not None and value >= positive:
            raise ValueError(f"must be below RAPPORT_SENTIMENT_POSITIVE_THRESHOLD ({positive})")
        return value

    @field_validator("sentiment_strongly_negative_threshold")
    @classmethod
    def _strong_at_most_negative(cls, value: float, info: ValidationInfo) -> float:
        negative = info.data.get("sentiment_negative_threshold")
        if negative is not None and value > negative:
            raise ValueError(
                f"must be at or below RAPPORT_SENTIMENT_NEGATIVE_THRESHOLD ({negative})"
            )
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


NOT_SETTINGS = frozenset({"RAPPORT_SENTIMENT_DATA", "RAPPORT_CRASH_SEED"})
"""`RAPPORT_*` variables read by scripts beside Rapport (benchmarks, tests), not settings."""


def known_variables() -> list[str]:
    return sorted(f"RAPPORT_{name.upper()}" for name in Settings.model_fields)


def unknown_variables(
    environ: Mapping[str, str] | None = None, env_file: Path | None = Path(".env")
) -> list[str]:
    """A warning for each `RAPPORT_*` name in the environment or `.env` that is no setting.

    A misspelt setting (`RAPPORT_TIMEZOEN`) would otherwise be silently
    ignored and the default used; the warning names the nearest known one.
    """
    names = {n for n in (os.environ if environ is None else environ) if n.startswith("RAPPORT_")}
    if env_file is not None:
        try:
            lines = env_file.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            lines = []
        for line in lines:
            name = line.strip().removeprefix("export ").split("=", 1)[0].strip()
            if name.upper().startswith("RAPPORT_"):
                names.add(name)
    known = known_variables()
    upper = set(known)
    warnings = []
    for name in sorted(names):
        if name.upper() in upper or name in NOT_SETTINGS or name.startswith("RAPPORT_TEST_"):
            continue
        near = difflib.get_close_matches(name.upper(), known, n=1, cutoff=0.6)
        hint = f"; did you mean {near[0]}?" if near else " (see docs/configuration.md)"
        warnings.append(f"{name} is not a Rapport setting and is ignored{hint}")
    return warnings


def load_settings(settings_class: type[Settings] | None = None, **overrides: Any) -> Settings:
    """Read the settings, turning pydantic's report into one clear line per bad value.

    `settings_class` lets a caller read from other sources (`rapport init` checks
    only the answers it was given, not the environment). Unknown `RAPPORT_*`
    variables are warned of (`unknown_variables`) when reading the environment.
    """
    if settings_class is None:
        for warning in unknown_variables():
            log.warning("%s", warning)
    try:
        return (settings_class or Settings)(**overrides)
    except ValidationError as exc:
        problems = "; ".join(
            f"RAPPORT_{'_'.join(str(p) for p in err['loc']).upper()}: {err['msg']}"
            for err in exc.errors()
        )
        raise ConfigurationError(f"bad configuration: {problems}") from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return load_settings()
