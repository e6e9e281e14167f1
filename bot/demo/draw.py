"""Drawing the demo data in memory: customers, orders, conversations, campaign history.

Everything is drawn from one `random.Random(seed)` and placed relative to
`now`, so the same seed and `now` give the same rows. Ids are chosen here
(`_Ids`), so rows can refer to each other before anything is inserted.
Addresses are in the reserved `example.com` domain and Telegram chat ids start
at 9,000,000,000 (no real user has one), and the demo campaigns are ended, so a
`rapport run` pointed at the demo database by mistake fires and sends nothing.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from rapport.bot.demo.guard import DEMO_TAG
from rapport.bot.demo.phrases import (
    COMPLAINTS,
    FIRST,
    FOLLOW_UPS,
    LAST,
    PRAISE,
    QUESTIONS,
    REPLIES,
    SURVEY_COMMENTS,
)
from rapport.crm.models import CampaignStatus, ConversationStatus, DeliveryStatus
from rapport.crm.sentiment.scoring import default_analyser
from rapport.crm.value.loyalty import points_for

TELEGRAM_BASE = 9_000_000_000
HISTORY_DAYS = 540


@dataclass
class Rows:
    """The rows of each table, built in memory before one bulk insert per table."""

    customers: list[dict[str, Any]] = field(default_factory=list)
    tags: list[dict[str, Any]] = field(default_factory=list)
    identities: list[dict[str, Any]] = field(default_factory=list)
    consents: list[dict[str, Any]] = field(default_factory=list)
    orders: list[dict[str, Any]] = field(default_factory=list)
    points: list[dict[str, Any]] = field(default_factory=list)
    conversations: list[dict[str, Any]] = field(default_factory=list)
    interactions: list[dict[str, Any]] = field(default_factory=list)
    segments: list[dict[str, Any]] = field(default_factory=list)
    campaigns: list[dict[str, Any]] = field(default_factory=list)
    runs: list[dict[str, Any]] = field(default_factory=list)
    deliveries: list[dict[str, Any]] = field(default_factory=list)
    responses: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class _Person:
    id: int
    name: str
    created: datetime
    channels: list[tuple[str, int]]
    """(channel, identity id)."""
    consent: bool
    last: datetime
    last_channel: str
    vip: bool = False


class _Ids:
    """Sequential ids per table, so rows can refer to each other before they are inserted."""

    def __init__(self) -> None:
        self._next: dict[str, int] = {}

    def __call__(self, table: str) -> int:
        value = self._next.get(table, 0) + 1
        self._next[table] = value
        return value


class _Sentiment:
    """The real analyser's scores, computed once per distinct text (the pools are small)."""

    def __init__(self) -> None:
        self._cache: dict[str, tuple[str | None, float | None, float | None]] = {}

    def __call__(self, body: str) -> tuple[str | None, float | None, float | None]:
        if body not in self._cache:
            a = default_analyser.assess(body)
            self._cache[body] = (a.language, a.polarity, a.subjectivity)
        return self._cache[body]


class Builder:
    """Draws every demo table's rows into `rows`, stage by stage, from one random source."""

    def __init__(self, rng: random.Random, now: datetime, currency: str, per_unit: float):
        self.rng = rng
        self.now = now
        self.currency = currency
        self.per_unit = per_unit
        self.rows = Rows()
        self.ids = _Ids()
        self.sentiment = _Sentiment()
        self.people: list[_Person] = []

    # customers ------------------------------------------------------------------------

    def _created_at(self, index: int, count: int, recent: int) -> datetime:
        rng = self.rng
        if index >= count - recent:
            # the newest customers: at least two a day over the last fortnight
            day = (index - (count - recent)) % 14
            return self.now - timedelta(days=day, hours=rng.uniform(0.5, 23.5))
        # a shop growing over 18 months: more customers arrive recently (sqrt skews late)
        age = HISTORY_DAYS * (1 - math.sqrt(rng.random()))
        return self.now - timedelta(days=14 + age, minutes=rng.randrange(1440))

    def _channels(self) -> list[str]:
        roll = self.rng.random()
        if roll < 0.6:
            return ["email"]
        return ["telegram"] if roll < 0.85 else ["email", "telegram"]

    def customers(self, count: int) -> None:
        recent = min(count, max(28, count // 50))
        rng = self.rng
        for index in range(count):
            cid = self.ids("customers")
            first, last = rng.choice(FIRST), rng.choice(LAST)
            created = self._created_at(index, count, recent)
            consent = rng.random() < 0.78
            channels: list[tuple[str, int]] = []
            for channel in self._channels():
                iid = self.ids("identities")
                address = (
                    f"{first.lower()}.{cid}@example.com"
                    if channel == "email"
                    else str(TELEGRAM_BASE + cid)
                )
                channels.append((channel, iid))
                self.rows.identities.append(
                    {"id": iid, "customer_id": cid, "channel": channel, "external_id": address,
                     "display_name": f"{first} {last}", "created_at": created,
                     "unreachable_at": None, "unreachable_reason": None}
                )  # fmt: skip
                if consent:
                    self.rows.consents.append(
                        {"customer_id": cid, "channel": channel, "purpose": "marketing",
                         "granted": True, "source": "demo", "updated_at": created}
                    )  # fmt: skip
            tags = [DEMO_TAG]
            vip = rng.random() < 0.08
            if vip:
                tags.append("vip")
            if rng.random() < 0.05:
                tags.append("corporate")
            self.rows.tags.extend({"customer_id": cid, "tag": t} for t in tags)
            self.people.append(
                _Person(
                    cid, f"{first} {last}", created, channels, consent, created, channels[0][0], vip
                )
            )

    # orders ---------------------------------------------------------------------------

    def orders(self) -> None:
        rng = self.rng
        for person in self.people:
            if rng.random() > 0.65:
                continue
            interval = rng.uniform(15, 120)
            lapse_at = (
                person.created + timedelta(days=rng.uniform(30, HISTORY_DAYS))
                if rng.random() < 0.3
                else self.now
            )
            when = person.created + timedelta(days=rng.uniform(0, 10))
            for _ in range(40):
                if when >= min(self.now, lapse_at):
                    break
                oid = self.ids("orders")
                amount = max(500, int(rng.lognormvariate(math.log(4500), 0.6)))
                self.rows.orders.append(
                    {"id": oid, "customer_id": person.id, "order_key": f"demo-{oid}",
                     "amount_minor": amount, "currency": self.currency, "ordered_at": when,
                     "source": "demo", "imported_at": self.now}
                )  # fmt: skip
                earned = points_for(amount, self.per_unit)
                if earned:
                    self.rows.points.append(
                        {"id": self.ids("points"), "customer_id": person.id, "delta": earned,
                         "reason": "order", "delivery_id": None, "order_id": oid,
                         "created_at": when}
                    )  # fmt: skip
                when += timedelta(days=interval * rng.uniform(0.6, 1.4))

    # conversations ---------------------------------------------------------------------

    def _message(
        self,
        person: _Person,
        conversation: int | None,
        channel: str,
        direction: str,
        body: str,
        at: datetime,
        *,
        automated: bool = False,
    ) -> int:
        iid = self.ids("interactions")
        language, polarity, subjectivity = (
            self.sentiment(body) if direction == "in" else (None, None, None)
        )
        self.rows.interactions.append(
            {"id": iid, "customer_id": person.id, "conversation_id": conversation,
             "channel": channel, "direction": direction, "body": body, "subject": None,
             "language": language, "polarity": polarity, "subjectivity": subjectivity,
             "automated": automated, "message_key": f"demo-{iid}", "in_reply_to": None,
             "sent_at": at, "recorded_at": at}
        )  # fmt: skip
        if direction == "in" and at > person.last:
            person.last, person.last_channel = at, channel
        return iid

    def _conversation(
        self,
        person: _Person,
        opened: datetime,
        *,
        complaint: bool,
        resolved: datetime | None = None,
    ) -> None:
        rng = self.rng
        channel = rng.choice(person.channels)[0]
        cid = self.ids("conversations")
        first = rng.choice(COMPLAINTS if complaint else QUESTIONS + PRAISE)
        self._message(person, cid, channel, "in", first, opened)
        answered = opened + timedelta(minutes=rng.uniform(3, 600))
        last = answered
        if answered < self.now:
            self._message(person, cid, channel, "out", rng.choice(REPLIES), answered)
            if rng.random() < 0.6:
                later = answered + timedelta(hours=rng.uniform(0.2, 30))
                if later < self.now:
                    pool = FOLLOW_UPS if complaint else PRAISE + FOLLOW_UPS
                    self._message(person, cid, channel, "in", rng.choice(pool), later)
                    last = later
        if resolved is None and opened < self.now - timedelta(days=2):
            resolved = last + timedelta(hours=rng.uniform(0.5, 48))
        if resolved is not None and resolved > self.now:
            resolved = None
        self.rows.conversations.append(
            {"id": cid, "customer_id": person.id, "channel": channel,
             "status": ConversationStatus.RESOLVED.value if resolved else
             ConversationStatus.WAITING.value,
             "assigned_staff_id": None, "is_complaint": complaint, "opened_at": opened,
             "last_message_at": last, "first_response_at": answered if answered < self.now
             else None, "resolved_at": resolved}
        )  # fmt: skip

    def conversations(self) -> None:
        rng = self.rng
        for person in self.people:
            self._conversation(person, person.created, complaint=rng.random() < 0.03)
            for _ in range(rng.choice((0, 0, 1, 1, 2, 3, 4))):
                age = (self.now - person.created).total_seconds()
                opened = person.created + timedelta(seconds=rng.uniform(3600, max(age, 7200)))
                if opened < self.now:
                    self._conversation(person, opened, complaint=rng.random() < 0.08)

    def desk_today(self) -> None:
        """The desk's last few days: conversations resolved today and complaints three days ago."""
        rng = self.rng
        settled = [p for p in self.people if p.created < self.now - timedelta(days=10)]
        if not settled:
            return
        n = len(self.people)
        for _ in range(max(3, n // 100)):
            resolved = self.now - timedelta(hours=rng.uniform(1, 20))
            opened = resolved - timedelta(hours=rng.uniform(2, 30))
            self._conversation(rng.choice(settled), opened, complaint=False, resolved=resolved)
        for _ in range(max(2, n // 200)):
            resolved = self.now - timedelta(days=3, hours=rng.uniform(1, 22))
            opened = resolved - timedelta(days=rng.uniform(1, 4))
            self._conversation(rng.choice(settled), opened, complaint=True, resolved=resolved)

    # campaign history ------------------------------------------------------------------

    def _segment(self, name: str, description: str, tag: str) -> int:
        segment = self.ids("segments")
        self.rows.segments.append(
            {"id": segment, "name": name, "description": description,
             "rule": f'{{"field":"tag","op":"has","value":"{tag}"}}', "created_at": self.now}
        )  # fmt: skip
        return segment

    def campaigns(self) -> None:
        everyone = self._segment("Demo customers", "Every demo customer.", DEMO_TAG)
        vips = self._segment("Demo VIPs", "Demo customers tagged vip.", "vip")
        history = (
            ("Demo: monthly CSAT", everyone, "feedback", "csat", "0 9 1 * *", 20.0,
             "Hi {{ first_name }}, how did we do this month? Reply 1 to 5.",
             [self.now - timedelta(days=10 + 30 * k) for k in range(12)]),
            ("Demo: quarterly NPS", everyone, "feedback", "nps", "0 10 1 1,4,7,10 *", None,
             "How likely are you to recommend {{ business }}? Reply 0 to 10.",
             [self.now - timedelta(days=12 + 91 * k) for k in range(4)]),
            ("Demo: summer promotion", everyone, "announcement", None, None, 150.0,
             "Summer is here, {{ first_name }}: new arrivals at {{ business }}!",
             [self.now - timedelta(days=45)]),
            ("Demo: VIP satisfaction", vips, "feedback", "csat", "0 11 15 */2 *", 40.0,
             "{{ first_name }}, as one of our best customers: how happy are you with us? 1 to 5.",
             [self.now - timedelta(days=20 + 61 * k) for k in range(6)]),
        )  # fmt: skip
        for name, segment, kind, survey, cron, cost, template, times in history:
            camp = self.ids("campaigns")
            self.rows.campaigns.append(
                {"id": camp, "name": name, "kind": kind, "segment_id": segment,
                 "status": CampaignStatus.ENDED.value, "schedule_cron": cron,
                 "run_at": times[0] if cron is None else None, "timezone": "UTC",
                 "starts_at": None, "ends_at": None, "channel": "last_active", "fallback": True,
                 "subject": name.removeprefix("Demo: ").capitalize(), "template": template,
                 "survey_kind": survey, "points": None, "offer_code": None,
                 "offer_valid_days": None, "cost": cost, "created_at": min(times)}
            )  # fmt: skip
            for at in sorted(times):
                self._run(camp, survey, template, at, vips_only=segment == vips)

    def _run(
        self, campaign: int, survey: str | None, template: str, at: datetime, *, vips_only: bool
    ) -> None:
        rng = self.rng
        run = self.ids("runs")
        self.rows.runs.append(
            {"id": run, "campaign_id": campaign, "scheduled_for": at, "started_at": at,
             "materialised_at": at, "finished_at": at + timedelta(minutes=20),
             "trigger": "schedule"}
        )  # fmt: skip
        share = 0.9 if vips_only else 0.35
        for person in self.people:
            if person.created >= at or (vips_only and not person.vip) or rng.random() > share:
                continue
            channel, identity = person.channels[0]
            did = self.ids("deliveries")
            sent_at = at + timedelta(seconds=rng.uniform(1, 1200))
            status, reason = DeliveryStatus.SENT.value, None
            if not person.consent:
                status, reason = DeliveryStatus.SKIPPED.value, "no_consent"
            elif rng.random() < 0.04:
                status = DeliveryStatus.FAILED.value
            sent = status == DeliveryStatus.SENT.value
            delivery = {
                "id": did, "run_id": run, "campaign_id": campaign, "customer_id": person.id,
                "identity_id": identity, "status": status, "skip_reason": reason,
                "attempts": 0 if reason else 1, "next_attempt_at": None, "claimed_by": None,
                "claimed_at": None, "sent_at": sent_at if sent else None,
                "message_key": f"demo-out-{did}" if sent else None,
                "last_error": "550 mailbox unavailable" if status == "failed" else None,
                "responded_at": None, "created_at": at,
            }  # fmt: skip
            self.rows.deliveries.append(delivery)
            if not sent:
                continue
            self._message(person, None, channel, "out", template, sent_at, automated=True)
            if survey and rng.random() < 0.3:
                self._answer(person, delivery, channel, survey, sent_at)

    def _answer(
        self, person: _Person, delivery: dict[str, Any], channel: str, survey: str, sent: datetime
    ) -> None:
        rng = self.rng
        # satisfaction improves over the year, as a programme that works would show
        lift = max(0.0, 1 - (self.now - sent).days / 365)
        if survey == "csat":
            old, new = (9, 11, 22, 34, 24), (4, 6, 13, 38, 39)
            weights = [a + (b - a) * lift for a, b in zip(old, new, strict=True)]
            score = rng.choices(range(1, 6), weights=weights)[0]
            good = score >= 4
        else:
            score = rng.choices(range(11), weights=(2, 1, 2, 2, 3, 5, 7, 12, 20, 25, 21))[0]
            good = score >= 9
        comment = (
            rng.choice(SURVEY_COMMENTS["good" if good else "bad"]) if rng.random() < 0.4 else None
        )
        at = sent + timedelta(hours=rng.uniform(0.1, 36))
        if at >= self.now:
            return
        body = f"{score} {comment}" if comment else str(score)
        interaction = self._message(person, None, channel, "in", body, at)
        delivery["responded_at"] = at
        self.rows.responses.append(
            {"id": self.ids("responses"), "delivery_id": delivery["id"],
             "interaction_id": interaction, "score": score, "comment": comment,
             "polarity": self.sentiment(comment)[1] if comment else None, "created_at": at}
        )  # fmt: skip

    def finish_customers(self) -> None:
        for p in self.people:
            self.rows.customers.append(
                {"id": p.id, "display_name": p.name, "created_at": p.created,
                 "first_seen_channel": p.channels[0][0], "last_channel": p.last_channel,
                 "last_activity_at": p.last, "marketing_consent": p.consent,
                 "consent_updated_at": p.created if p.consent else None,
                 "consent_source": "demo" if p.consent else None, "erased_at": None}
            )  # fmt: skip
