"""/customers: upsert by identity, search, one customer, consent, the interactions timeline.

Every read of personal data is recorded in the audit trail as the key
(`api-key:<id>:<name>`), in the same transaction as the read, as the bot
records a staff member's.
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter, Depends, Query, Response

from rapport.bot.api.deps import ApiDeps
from rapport.bot.api.models import (
    ConsentChange,
    ConsentOut,
    CustomerOut,
    CustomerPage,
    CustomerSummary,
    CustomerUpsert,
    IdentityOut,
    InteractionOut,
    InteractionPage,
    Upserted,
)
from rapport.crm.customers.profiles import customer_profile, list_customers
from rapport.crm.customers.upsert import upsert_customer
from rapport.crm.integrations.api_keys import ApiPrincipal
from rapport.crm.interactions.history import customer_interactions
from rapport.crm.privacy.consent import staff_consent
from rapport.crm.staff.roles import Permission

Allow = Callable[[Permission], Callable[..., ApiPrincipal]]


def add_customer_routes(router: APIRouter, deps: ApiDeps, allow: Allow) -> None:
    db = deps.db
    reader = Depends(allow(Permission.VIEW_CUSTOMERS))
    """The three reads share the permission; each read's lookup and audit row are the
    core's (customer_profile, list_customers, customer_interactions), in its transaction."""

    @router.post("/customers", response_model=Upserted, tags=["customers"])
    def upsert(
        body: CustomerUpsert,
        response: Response,
        key: ApiPrincipal = Depends(allow(Permission.IMPORT)),  # noqa: B008
    ) -> Upserted:
        """Create or update a customer found by email or Telegram chat id (201 when created)."""
        done = upsert_customer(
            db, key.actor, email=body.email, telegram_id=body.telegram_id, name=body.name,
            now=deps.clock(),
        )  # fmt: skip
        response.status_code = 201 if done.created else 200
        return Upserted(id=done.customer_id, created=done.created, changed=done.changed)

    @router.get("/customers", response_model=CustomerPage, tags=["customers"])
    def search(
        q: str | None = Query(None, max_length=200, description="Part of a name or address"),
        limit: int = Query(50, ge=1, le=200),
        key: ApiPrincipal = reader,
    ) -> CustomerPage:
        """Customers, most recently active first, optionally matching `q` (audited)."""
        found = list_customers(db, key.actor, search=q, limit=limit)
        return CustomerPage(
            customers=[
                CustomerSummary(
                    id=c.id,
                    name=c.display_name,
                    contact=c.contact,
                    first_seen_channel=c.first_seen_channel,
                    last_channel=c.last_channel,
                    last_activity_at=c.last_activity_at,
                    interactions=c.interactions,
                    consent=list(c.consent),
                )
                for c in found
            ]
        )

    @router.get(
        "/customers/{customer_id}",
        response_model=CustomerOut,
        tags=["customers"],
        responses={404: {"description": "No such customer (or erased, or merged)"}},
    )
    def get(
        customer_id: int,
        key: ApiPrincipal = reader,
    ) -> CustomerOut:
        """One customer: identities, consent summary, activity (audited)."""
        p = customer_profile(db, key.actor, customer_id, recent=0)
        s = p.summary
        return CustomerOut(
            id=s.id, name=s.display_name, created_at=p.created_at,
            first_seen_channel=s.first_seen_channel, last_channel=s.last_channel,
            last_activity_at=s.last_activity_at, interactions=s.interactions,
            marketing_consent=p.marketing_consent,
            identities=[IdentityOut(channel=c, external_id=e) for c, e in p.identities],
            open_conversation_id=p.open_conversation_id, average_polarity=p.average_polarity,
        )  # fmt: skip

    @router.post("/customers/{customer_id}/consent", response_model=ConsentOut, tags=["customers"])
    def consent(
        customer_id: int,
        body: ConsentChange,
        key: ApiPrincipal = Depends(allow(Permission.MANAGE_CONSENT)),  # noqa: B008
    ) -> ConsentOut:
        """Record marketing consent given or withdrawn on a channel, with where it came from."""
        staff_consent(
            db, key.actor, customer_id, body.channel, granted=body.granted,
            source=f"api:{body.source}", at=deps.clock(),
        )  # fmt: skip
        return ConsentOut(customer_id=customer_id, channel=body.channel, granted=body.granted)

    @router.get(
        "/customers/{customer_id}/interactions", response_model=InteractionPage, tags=["customers"]
    )
    def interactions(
        customer_id: int,
        limit: int = Query(50, ge=1, le=200),
        before: int | None = Query(None, ge=1, description="Only interactions older than this id"),
        key: ApiPrincipal = reader,
    ) -> InteractionPage:
        """The customer's messages in and out, newest first, a page at a time (audited)."""
        rows = customer_interactions(db, key.actor, customer_id, limit=limit, before=before)
        return InteractionPage(
            interactions=[
                InteractionOut(
                    id=r.id,
                    conversation_id=r.conversation_id,
                    channel=r.channel,
                    direction=r.direction,
                    subject=r.subject,
                    body=r.body,
                    sent_at=r.sent_at,
                    polarity=r.polarity,
                    language=r.language,
                    automated=r.automated,
                )
                for r in rows
            ],
            next_before=rows[-1].id if len(rows) == limit else None,
        )
