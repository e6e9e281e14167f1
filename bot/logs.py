"""Logging set-up: one line per event, no personal data at INFO.

See rapport.crm.interactions.ingest for what may be logged.
"""

from __future__ import annotations

import logging

NOISY_LOGGERS = ("httpx", "httpcore", "telegram", "apscheduler", "aiosmtpd", "mail.log", "alembic")


def configure(level: str = "INFO") -> None:
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        force=True,
    )
    # Third-party libraries log request URLs (which hold the bot token) and
    # payloads at INFO/DEBUG; keep them at WARNING.
    for noisy in NOISY_LOGGERS:
        logging.getLogger(noisy).setLevel(logging.WARNING)
