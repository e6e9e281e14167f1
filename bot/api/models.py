"""The API's request and response bodies; FastAPI makes the OpenAPI document from them."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Channel = Literal["email", "telegram"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CustomerUpsert(Strict):
    """Find the customer by email or Telegram chat id; create them for an unknown email."""

    email: str | None = Field(None, max_length=320, examples=["ann@example.com"])
    telegram_id: str | None = Field(None, max_length=30, examples=["123456789"])
    name: str | None = Field(None, max_length=200)


class Upserted(BaseModel):
    id: int
    created: bool
    changed: bool


class CustomerSummary(BaseModel):
    id: int
    name: str | None
    contact: str | None = Field(description="The main address: the email, else telegram:<chat>")
    first_seen_channel: str
    last_channel: str | None
    last_activity_at: datetime | None
    interactions: int
    consent: list[str] = Field(description="Channels with marketing consent")


class CustomerPage(BaseModel):
    customers: list[CustomerSummary]


class IdentityOut(BaseModel):
    channel: str
    external_id: str


class CustomerOut(BaseModel):
    id: int
    name: str | None
    created_at: datetime
    first_seen_channel: str
    last_channel: str | None
    last_activity_at: datetime | None
    interactions: int
    marketing_consent: bool
    identities: list[IdentityOut]
    open_conversation_id: int | None
    average_polarity: float | None


class ConsentChange(Strict):
    channel: Channel
    granted: bool = Field(description="true: grant marketing consent; false: withdraw it")
    source: str = Field(
        min_length=3,
        max_length=200,
        description="Where it was given or withdrawn: consent without its origin proves nothing",
        examples=["checkout form, 2026-11-20"],
    )


class ConsentOut(BaseModel):
    customer_id: int
    channel: str
    granted: bool


class InteractionOut(BaseModel):
    id: int
    conversation_id: int | None
    channel: str
    direction: Literal["in", "out"] | str
    subject: str | None
    body: str | None
    sent_at: datetime
    polarity: float | None
    language: str | None
    automated: bool


class InteractionPage(BaseModel):
    interactions: list[InteractionOut]
    next_before: int | None = Field(description="Pass as ?before= for the next (older) page")


class OrderIn(Strict):
    order_id: str = Field(
        min_length=1, max_length=120, description="Your order id: the idempotency key"
    )
    customer: str = Field(description="An email address, telegram:<chat id> or a bare chat id")
    amount: Decimal = Field(description="Positive, at most two decimals", examples=["19.90"])
    currency: str | None = Field(
        None, description="The shop's currency (default: RAPPORT_CURRENCY)"
    )
    ordered_at: str = Field(
        description="ISO date or date-time; without offset in the business's time zone",
        examples=["2026-11-23T14:05:00+01:00"],
    )
    name: str | None = Field(None, max_length=200, description="The customer's name, if new")


class OrderResult(BaseModel):
    order_id: str
    id: int | None = None
    customer_id: int | None = None
    duplicate: bool = False
    new_customer: bool = False
    points: int = 0
    error: str | None = Field(None, description="Why this order was refused (nothing stored)")


class OrderBatch(Strict):
    orders: list[OrderIn] = Field(min_length=1, max_length=1000)


class OrderBatchResult(BaseModel):
    stored: int
    duplicates: int
    refused: int
    results: list[OrderResult]


class CampaignOut(BaseModel):
    id: int
    name: str
    kind: str
    status: str
    channel: str
    segment_id: int
    schedule_cron: str | None
    run_at: datetime | None
    survey_kind: str | None
    created_at: datetime


class CampaignPage(BaseModel):
    campaigns: list[CampaignOut]


class RunRequest(Strict):
    again: bool = Field(False, description="Run again though this minute's slot already ran")


class RunOut(BaseModel):
    run_id: int
    campaign_id: int
    created: bool = Field(description="false: this minute's run existed already (nothing new)")
    scheduled_for: datetime
    trigger: str
    total: int
    by_status: dict[str, int] = Field(description="queued, claimed, sending, sent, failed, skipped")
    skipped: dict[str, int] = Field(description="Skipped deliveries by reason")
    done: bool = Field(description="Nothing left to send")


class Metrics(BaseModel):
    targeted: int
    delivered: int
    failed: int
    pending: int
    bounced: int
    skipped: dict[str, int]
    responded: int
    engaged: int
    survey_answers: int
    csat_mean: float | None
    csat_satisfied_pct: float | None
    nps: float | None
    cost: float | None
    bounce_rate: float | None
    response_rate: float | None
    participation_rate: float | None
    cost_per_participant: float | None


class ProgrammeReport(BaseModel):
    start: datetime
    end: datetime
    current: Metrics
    previous: Metrics = Field(description="The same length of time just before")
