"""Privacy requests and retention: export what we hold on a person, erase it, age it out.

Personal-data law (Hong Kong's PDPO, the Privacy Act, GDPR) gives a person
the right to see everything held about them and to have it removed; it also
asks that messages are not kept longer than needed.

*Export* finds the tables by walking the models' foreign keys from
`customers`: a table is personal when it refers to a customer or to a row of
another personal table (interactions, deliveries, survey responses …), so a
table added later is exported without anyone remembering to list it.

*Erasure* removes what identifies the person — names, addresses (replaced by
a random placeholder, so nothing can be matched back), message bodies,
subjects, survey comments, tags — and keeps the anonymised rows, so report
totals (sent, answered, scores, points) stay the same. Message keys (the
channel's ids of messages) embed the person's chat id (`msg:<chat>:<id>`) or
an address, so they are rewritten to random placeholders too, as are the
details of audit events about the person. Then the database is scrubbed
(`Database.scrub`): SQLite runs with `secure_delete` always and after an
erase checkpoints its write-ahead log and rebuilds the file (VACUUM), so
neither the `-wal` file nor free pages keep the old text; PostgreSQL
vacuums the touched tables (docs/privacy.md says what that does not reach).

The person may be named by customer id, email address or Telegram id
(`find_customer`).

*Retention* clears message bodies older than `RAPPORT_RETENTION_MONTHS`.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from jinja2 import Environment
from sqlalchemy import Column, Connection, Table, delete, or_, select, update

from rapport.crm.clock import utcnow
from rapport.crm.customers.identity import EMAIL, TELEGRAM, normalise_external_id
from rapport.crm.database import Database
from rapport.crm.errors import InvalidInput, InvalidMessage, NotFound
from rapport.crm.integrations.events import EventType, emit
from rapport.crm.integrations.payloads import customer_erased
from rapport.crm.models import (
    AuditEvent,
    Base,
    Consent,
    ConsentEvent,
    ConversationSurvey,
    Customer,
    CustomerTag,
    Delivery,
    Identity,
    Interaction,
    MailReport,
    OptInRequest,
    SurveyResponse,
)
from rapport.crm.privacy.consent import MARKETING
from rapport.crm.staff.audit import Actor, record

log = logging.getLogger(__name__)

ERASED_PREFIX = "erased:"

Link = tuple[Column[Any], Column[Any]]
"""(column of this table, the column of a personal table it refers to)"""


def personal_tables() -> list[tuple[Table, list[Link]]]:
    """Every table holding rows about a customer, parents first, with how it refers to them."""
    root = Base.metadata.tables[Customer.__tablename__]
    reached: set[str] = {root.name}
    grew = True
    while grew:
        grew = False
        for table in Base.metadata.sorted_tables:
            if table.name in reached:
                continue
            if any(fk.column.table.name in reached for fk in table.foreign_keys):
                reached.add(table.name)
                grew = True
    found: list[tuple[Table, list[Link]]] = [(root, [])]
    for table in Base.metadata.sorted_tables:
        if table.name in reached and table is not root:
            links = [
                (fk.parent, fk.column)
                for fk in sorted(table.foreign_keys, key=lambda fk: fk.parent.name)
                if fk.column.table.name in reached
            ]
            found.append((table, links))
    return found


def _plain(value: object) -> object:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def export_customer(db: Database, actor: Actor, customer_id: int) -> dict[str, Any]:
    """Everything held about one customer as JSON-ready data; audited as a read.

    `tables` maps each personal table to its rows (column → value), so the
    person sees the same facts the business does, not a summary of them.
    """
    with db.transaction() as session:
        conn = session.connection()
        if session.get(Customer, customer_id) is None:
            raise NotFound(f"no customer with id {customer_id}")
        rows: dict[str, list[dict[str, Any]]] = {}
        for table, links in personal_tables():
            if not links:
                found = conn.execute(select(table).where(table.c.id == customer_id))
            else:
                conditions = []
                for column, target in links:
                    values = {r[target.name] for r in rows[target.table.name]}
                    if values:
                        conditions.append(column.in_(sorted(values)))
                if not conditions:
                    rows[table.name] = []
                    continue
                query = select(table).where(_any(conditions))
                found = conn.execute(query.order_by(*table.primary_key.columns))
            rows[table.name] = [dict(r._mapping) for r in found]
        total = sum(len(v) for v in rows.values())
        record(session, actor, "privacy.export", customer_id=customer_id, detail=f"{total} rows")
    log.info("customer %d exported (%d rows) by %s", customer_id, total, actor.label)
    return {
        "customer_id": customer_id,
        "exported_at": utcnow().isoformat(),
        "tables": {
            name: [{k: _plain(v) for k, v in row.items()} for row in table_rows]
            for name, table_rows in rows.items()
        },
    }


def _any(conditions: list[Any]) -> Any:
    return conditions[0] if len(conditions) == 1 else or_(*conditions)


_HTML = Environment(autoescape=True).from_string(
    """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>Data held about customer {{ data.customer_id }}</title>
<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;margin-bottom:2em}
td,th{border:1px solid #ccc;padding:.3em .5em;vertical-align:top;text-align:left}
td{white-space:pre-wrap}</style></head>
<body>
<h1>Data held about customer {{ data.customer_id }}</h1>
<p>Exported {{ data.exported_at }}. Every record we hold that refers to you, table by table.</p>
{% for name, rows in data.tables.items() %}
<h2>{{ name.replace("_", " ") }} ({{ rows | length }})</h2>
{% if rows %}<table><tr>{% for column in rows[0] %}<th>{{ column }}</th>{% endfor %}</tr>
{% for row in rows %}<tr>{% for value in row.values() %}
<td>{{ "—" if value is none else value }}</td>{% endfor %}</tr>
{% endfor %}</table>{% else %}<p>None.</p>{% endif %}
{% endfor %}
</body></html>
"""
)


def export_html(data: dict[str, Any]) -> str:
    """The export as a page a person can read (every value escaped)."""
    return _HTML.render(data=data)


@dataclass(frozen=True, slots=True)
class Erasure:
    customer_id: int
    identities: int
    messages: int
    comments: int
    tags: int
    scrubbed: bool = True
    """False: the rows are erased, but old copies may linger in the database's files
    until the next erase (or VACUUM) succeeds (rapport.crm.database.Database.scrub)."""


def erase_customer(
    db: Database, actor: Actor, customer_id: int, *, now: datetime | None = None
) -> Erasure:
    """Remove the person's data, keep anonymised rows for the totals; audited. Repeatable."""
    now = now or utcnow()
    with db.transaction() as session:
        conn = session.connection()
        if session.get(Customer, customer_id) is None:
            raise NotFound(f"no customer with id {customer_id}")
        identity_ids = list(
            conn.scalars(select(Identity.id).where(Identity.customer_id == customer_id))
        )
        addresses = list(
            conn.scalars(
                select(Identity.external_id).where(
                    Identity.customer_id == customer_id, Identity.channel == EMAIL
                )
            )
        )
        _erase_outreach(conn, customer_id, addresses)
        for identity_id in identity_ids:
            # random, not a hash: an address's hash can be matched by hashing guesses
            conn.execute(
                update(Identity)
                .where(Identity.id == identity_id)
                .values(
                    external_id=f"{ERASED_PREFIX}{secrets.token_hex(16)}",
                    display_name=None,
                    unreachable_at=now,
                    unreachable_reason="erased",
                )
            )
        conn.execute(
            update(Customer)
            .where(Customer.id == customer_id)
            .values(
                display_name=None,
                erased_at=now,
                marketing_consent=False,
                consent_updated_at=now,
                consent_source="erased",
            )
        )
        messages = conn.execute(
            update(Interaction)
            .where(Interaction.customer_id == customer_id)
            .values(body=None, subject=None, in_reply_to=None)
        ).rowcount
        theirs = select(Delivery.id).where(Delivery.customer_id == customer_id)
        conn.execute(update(Delivery).where(Delivery.id.in_(theirs)).values(last_error=None))
        comments = conn.execute(
            update(SurveyResponse)
            .where(SurveyResponse.delivery_id.in_(theirs), SurveyResponse.comment.is_not(None))
            .values(comment=None)
        ).rowcount
        comments += conn.execute(
            update(ConversationSurvey)
            .where(
                ConversationSurvey.customer_id == customer_id,
                ConversationSurvey.comment.is_not(None),
            )
            .values(comment=None)
        ).rowcount
        tags = conn.execute(
            delete(CustomerTag).where(CustomerTag.customer_id == customer_id)
        ).rowcount
        conn.execute(
            update(Consent)
            .where(
                Consent.customer_id == customer_id,
                Consent.purpose == MARKETING,
            )
            .values(granted=False, source="erased", updated_at=now)
        )
        _erase_keys(conn, customer_id)
        conn.execute(
            update(AuditEvent).where(AuditEvent.customer_id == customer_id).values(detail=None)
        )
        record(session, actor, "privacy.erase", customer_id=customer_id)
        emit(conn, EventType.CUSTOMER_ERASED, [customer_erased(customer_id, now)], now=now)
    scrubbed = db.scrub(ERASE_TOUCHES)
    log.info("customer %d erased by %s", customer_id, actor.label)
    return Erasure(customer_id, len(identity_ids), messages, comments, tags, scrubbed)


def _placeholder() -> str:
    return f"{ERASED_PREFIX}{secrets.token_hex(16)}"


def _erase_keys(conn: Connection, customer_id: int) -> None:
    """Message keys of the person's messages, one random placeholder each (they embed the
    chat id or an address); a key per row, so unique keys stay unique."""
    keyed: list[type[Interaction | Delivery | ConversationSurvey | OptInRequest | MailReport]] = [
        Interaction,
        Delivery,
        ConversationSurvey,
        OptInRequest,
        MailReport,
    ]
    for model in keyed:
        ids = list(conn.scalars(select(model.id).where(model.customer_id == customer_id)))
        for row_id in ids:
            conn.execute(update(model).where(model.id == row_id).values(message_key=_placeholder()))


ERASE_TOUCHES = (
    "customers",
    "identities",
    "interactions",
    "deliveries",
    "survey_responses",
    "conversation_surveys",
    "customer_tags",
    "consents",
    "consent_events",
    "opt_in_requests",
    "mail_reports",
    "audit_events",
)
"""The tables an erase rewrites, vacuumed after it on PostgreSQL."""


def find_customer(db: Database, who: str) -> int:
    """The customer named by `who`: a customer id, an email address or `telegram:<id>`.

    A bare number is a customer id (as everywhere in Rapport); a Telegram id
    is written `telegram:<id>` (or `tg:<id>`) so an erase can never hit the
    wrong person because the two kinds of number were confused.
    """
    text = who.strip()
    if text.isdigit():
        return int(text)
    channel, _, external = text.partition(":")
    if channel.lower() in ("telegram", "tg") and external:
        channel, external = TELEGRAM, external
    elif "@" in text:
        channel, external = EMAIL, text
    else:
        raise InvalidInput(f"{who!r} is not a customer id, an email address or telegram:<id>")
    try:
        key = normalise_external_id(channel, external)
    except InvalidMessage as exc:
        raise InvalidInput(str(exc)) from None
    with db.session() as session:
        found = session.scalar(
            select(Identity.customer_id).where(
                Identity.channel == channel, Identity.external_id == key
            )
        )
    if found is None:
        raise NotFound(f"no customer with the {channel} address {external}")
    return int(found)


def _erase_outreach(conn: Connection, customer_id: int, addresses: list[str]) -> None:
    """Opt-in requests (the address, the browser that confirmed), bounce reports' recipients
    and consent evidence (addresses, notes) of the person; the rows stay, as proof and totals."""
    mine = or_(OptInRequest.customer_id == customer_id, OptInRequest.email.in_(addresses))
    conn.execute(
        update(OptInRequest)
        .where(mine)
        .values(email=f"{ERASED_PREFIX}{secrets.token_hex(16)}", name=None, request_meta=None)
    )
    conn.execute(
        update(MailReport).where(MailReport.customer_id == customer_id).values(recipient=None)
    )
    conn.execute(
        update(ConsentEvent).where(ConsentEvent.customer_id == customer_id).values(evidence=None)
    )


def retention_cutoff(now: datetime, months: int) -> datetime:
    """The same day and time `months` calendar months earlier (clamped to the month's end)."""
    year, month = divmod(now.year * 12 + now.month - 1 - months, 12)
    month += 1
    day = now.day
    while True:
        try:
            return now.replace(year=year, month=month, day=day)
        except ValueError:
            day -= 1


@dataclass(frozen=True, slots=True)
class RetentionResult:
    cutoff: datetime | None
    messages: int
    comments: int


def enforce_retention(db: Database, now: datetime | None = None, *, months: int) -> RetentionResult:
    """Clear message bodies, subjects and survey comments older than `months` (0: keep all).

    The rows stay — with their times, channels, sentiment and scores — so
    history and reports keep their numbers.
    """
    if months == 0:
        return RetentionResult(None, 0, 0)
    now = now or utcnow()
    cutoff = retention_cutoff(now, months)
    with db.transaction() as session:
        conn = session.connection()
        messages = conn.execute(
            update(Interaction)
            .where(
                Interaction.sent_at < cutoff,
                (Interaction.body.is_not(None)) | (Interaction.subject.is_not(None)),
            )
            .values(body=None, subject=None)
        ).rowcount
        comments = conn.execute(
            update(SurveyResponse)
            .where(SurveyResponse.created_at < cutoff, SurveyResponse.comment.is_not(None))
            .values(comment=None)
        ).rowcount
        comments += conn.execute(
            update(ConversationSurvey)
            .where(ConversationSurvey.answered_at < cutoff, ConversationSurvey.comment.is_not(None))
            .values(comment=None)
        ).rowcount
        if messages or comments:
            record(
                session,
                Actor("system:retention"),
                "privacy.retention",
                detail=f"{messages} message(s), {comments} comment(s) before {cutoff.date()}",
            )
    log.info(
        "retention: cleared %d message(s) and %d comment(s) older than %s",
        messages,
        comments,
        cutoff.date(),
    )
    return RetentionResult(cutoff, messages, comments)
