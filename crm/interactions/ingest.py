"""Ingest: every inbound message enters the CRM here, in one transaction.

Flow 1 of DESIGN.md: resolve or create the customer and identity, store the
interaction with its sentiment, attach it to the open conversation, update
last activity, commit. A channel acknowledges a message only after this
returned, and a replay of the same (channel, message_key) stores nothing.

Batches are the normal unit (Telegram's getUpdates hands out up to 100
updates); a single message is a batch of one, so there is one code path.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from rapport.crm.campaigns.surveys import Reply, attach_replies
from rapport.crm.clock import utcnow
from rapport.crm.database import Database
from rapport.crm.desk.complaints import Said, flag_complaints_on_ingest
from rapport.crm.desk.resolution import Candidate, match_survey_answers, store_survey_answers
from rapport.crm.desk.rules import DeskRules, current_rules
from rapport.crm.integrations.events import EventType, emit
from rapport.crm.integrations.payloads import messages_received
from rapport.crm.interactions.checking import DEFAULT_MAX_CHARS, Checked, OncePerText, check
from rapport.crm.interactions.engagement import note_wrote_back
from rapport.crm.interactions.routing import conversation_id_for, conversations_for
from rapport.crm.interactions.storage import (
    create_customers,
    existing_identities,
    existing_interactions,
    first_occurrences,
    insert_interactions,
    touch_activity,
)
from rapport.crm.messages import InboundMessage, IngestResult
from rapport.crm.privacy.consent import is_stop_request, withdraw_on_request
from rapport.crm.sentiment.scoring import SentimentAnalyser, default_analyser
from rapport.crm.statistics import GrowthWatch

log = logging.getLogger(__name__)

_RETRIES_ON_RACE = 3

_GROWTH = GrowthWatch(("interactions", "customers", "identities", "conversations"))
"""The tables ingest's lookups plan on, kept fresh as ingest grows them (PostgreSQL)."""


def ingest(
    db: Database,
    message: InboundMessage,
    *,
    analyser: SentimentAnalyser = default_analyser,
    max_chars: int = DEFAULT_MAX_CHARS,
    desk: DeskRules | None = None,
) -> IngestResult:
    """Store one inbound message; on a replay return the stored result, `duplicate=True`."""
    return ingest_batch(db, [message], analyser=analyser, max_chars=max_chars, desk=desk)[0]


def ingest_batch(
    db: Database,
    messages: Sequence[InboundMessage],
    *,
    analyser: SentimentAnalyser = default_analyser,
    max_chars: int = DEFAULT_MAX_CHARS,
    desk: DeskRules | None = None,
) -> list[IngestResult]:
    """Store several messages in one transaction, results in the same order.

    Every message is validated before the database is touched, so one bad
    message refuses the whole batch and nothing is stored; adapters that want
    to skip bad messages call `check` on each first. `desk` is the complaint
    rules (rapport.crm.desk.rules; the configured ones by default).
    """
    if len(messages) > 1:
        analyser = OncePerText(analyser)
    checked = [check(m, analyser=analyser, max_chars=max_chars) for m in messages]
    if not checked:
        return []
    rules = desk or current_rules()
    # One message is almost never a replay: it skips the replay lookup and lets the
    # interaction's unique key (channel, message key) catch one. The transaction then
    # rolls back, nothing of it stays, and the retry looks the replay up.
    replays_first = len(checked) > 1
    attempt = 0
    while True:
        try:
            with db.engine.begin() as conn:
                results = _store(conn, checked, rules, replays_first=replays_first)
            break
        except IntegrityError:
            if not replays_first:
                replays_first = True
                log.debug("ingest: a unique key refused the message, looking for a replay")
                continue
            # Another process stored the same identity or message key between
            # our lookups and our insert; the retry finds its rows.
            attempt += 1
            if attempt == _RETRIES_ON_RACE:
                raise
            log.info("ingest race on a unique key, retrying (attempt %d)", attempt + 1)
    _GROWTH.added(db, sum(not r.duplicate for r in results))
    for result in results:
        if not result.duplicate:
            log.info(
                "ingested interaction %d for customer %d%s",
                result.interaction_id,
                result.customer_id,
                " (new customer)" if result.new_customer else "",
            )
    return results


def _store(
    conn: Connection, checked: list[Checked], rules: DeskRules, *, replays_first: bool = True
) -> list[IngestResult]:
    """Set-based storage of a validated batch: a handful of statements, not one per row.

    A rating of a resolved complaint (rapport.crm.desk.resolution) joins the conversation
    it rates and does not reopen it; every other customer message joins the
    customer's unresolved conversation, reopens the one resolved within the
    reopen window, or opens one, and may flag it as a complaint.

    On a Core connection, not an ORM session, with statements built once: for
    a single message (what each SMTP mail costs) the session's bookkeeping and
    building statements cost more than the database does. One lookup finds the
    senders with their conversations, complaint flags, recent deliveries and
    whether webhooks listen; rows inserted here are inserted final, not
    updated after. A known sender's plain message is 4 statements, a new
    sender's 5. `replays_first=False` skips the replay lookup (see `ingest_batch`).
    """
    now = utcnow()
    stored = existing_interactions(conn, checked) if replays_first else {}
    fresh = first_occurrences(checked, stored)
    if not fresh:
        return [stored[item.key] for item in checked]

    senders = existing_identities(conn, fresh)
    customer_of, names = senders.customer_of, senders.names
    new_customers = create_customers(conn, fresh, customer_of)
    ratings = match_survey_answers(
        conn,
        [
            Candidate(
                key=i.key,
                customer_id=customer_of[(i.message.channel, i.external_id)],
                text=i.message.text,
                in_reply_to=i.message.in_reply_to,
            )
            for i in fresh
            if not i.message.automated
        ],
        now,
    )
    # A bare rating only rates; one with words is also read by staff (a new conversation).
    # A tapped button only answers its question: no conversation either.
    talking = [
        i
        for i in fresh
        if (i.key not in ratings or ratings[i.key].comment) and not i.message.button
    ]
    replying = talking + [i for i in fresh if i.message.button and i.key not in ratings]
    # A rating, even with words ("5, thanks!"), answers the resolution: it never reopens.
    rating = {customer_of[(i.message.channel, i.external_id)] for i in fresh if i.key in ratings}
    conversation_of, opened = conversations_for(
        conn, talking, customer_of, rules, rating, senders.joins, hooks=senders.hooks
    )
    interaction_ids = insert_interactions(conn, fresh, customer_of, conversation_of, ratings)
    touch_activity(
        conn, talking, customer_of, conversation_of, names, created=new_customers, opened=opened
    )
    store_survey_answers(conn, ratings, interaction_ids, now)
    flag_complaints_on_ingest(
        conn,
        [
            Said(
                conversation_of[customer_of[(i.message.channel, i.external_id)]],
                i.message.text,
                i.assessment.polarity,
            )
            for i in talking
            if not i.message.automated
        ],
        rules,
        now,
        flagged={j.id for j in senders.joins.values() if j.is_complaint},
        opened=opened,
    )
    note_wrote_back(  # a customer created just now was sent nothing yet
        conn,
        [
            (customer_of[(i.message.channel, i.external_id)], i.message.sent_at)
            for i in fresh
            if not i.message.automated
            and customer_of[(i.message.channel, i.external_id)] not in new_customers
        ],
        senders.recently_sent,
    )
    attach_replies(
        conn,
        [
            Reply(
                customer_id=customer_of[(i.message.channel, i.external_id)],
                interaction_id=interaction_ids[i.key],
                text=i.message.text,
                in_reply_to=i.message.in_reply_to,
                polarity=i.assessment.polarity,
                sent_at=i.message.sent_at,
            )
            for i in replying
            if not i.message.automated
        ],
        now,
    )
    withdraw_on_request(
        conn,
        {
            (customer_of[(i.message.channel, i.external_id)], i.message.channel)
            for i in fresh
            if not i.message.automated and is_stop_request(i.message.text)
        },
    )

    results: list[IngestResult] = []
    announced_customers: set[int] = set()
    emitted: set[tuple[str, str]] = set()
    for item in checked:
        if item.key in stored:
            results.append(stored[item.key])
            continue
        customer_id = customer_of[(item.message.channel, item.external_id)]
        is_new = customer_id in new_customers and customer_id not in announced_customers
        announced_customers.add(customer_id)
        results.append(
            IngestResult(
                customer_id=customer_id,
                interaction_id=interaction_ids[item.key],
                conversation_id=None
                if item.message.automated
                else conversation_id_for(item, customer_id, conversation_of, ratings),
                new_customer=is_new,
                duplicate=item.key in emitted,
                polarity=item.assessment.polarity,
                subjectivity=item.assessment.subjectivity,
                language=item.assessment.language,
            )
        )
        emitted.add(item.key)
    if senders.hooks:
        pairs = [
            (i.message, r) for i, r in zip(checked, results, strict=True) if i.key not in stored
        ]
        emit(conn, EventType.MESSAGE_RECEIVED, messages_received(pairs), now=now)
    return results
