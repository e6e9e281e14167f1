"""`rapport ingest`: feed one inbound message to the CRM by hand, as a channel would."""

from __future__ import annotations

import uuid
from typing import Annotated

import typer

from rapport.bot.cli.common import configured_settings, open_db, out
from rapport.crm.clock import utcnow
from rapport.crm.interactions.ingest import ingest as ingest_message
from rapport.crm.messages import InboundMessage


def ingest(
    channel: Annotated[str, typer.Option(help="email or telegram")],
    sender_id: Annotated[str, typer.Option("--from", help="Address or chat id of the sender.")],
    text: Annotated[str, typer.Option(help="The message text.")],
    name: Annotated[str | None, typer.Option(help="Sender's display name.")] = None,
    key: Annotated[str | None, typer.Option(help="Message key (default: a new one).")] = None,
) -> None:
    """Feed one inbound message to the CRM by hand, as a channel would.

    Example: rapport ingest --channel email --from ann@example.com --name Ann --text "Thanks!"
    """
    with open_db(configured_settings().database_url) as db:
        result = ingest_message(
            db,
            InboundMessage(
                channel=channel,
                external_id=sender_id,
                sender=name,
                text=text,
                sent_at=utcnow(),
                message_key=key or f"cli-{uuid.uuid4()}",
            ),
        )
        state = "duplicate, nothing stored" if result.duplicate else "stored"
        mood = "unscored" if result.polarity is None else f"polarity {result.polarity:+.2f}"
        who = "new customer" if result.new_customer else "customer"
        out.print(
            f"{state}: interaction {result.interaction_id}, {who} {result.customer_id}, "
            f"conversation {result.conversation_id}, {mood}"
        )
