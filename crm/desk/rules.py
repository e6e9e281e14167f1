"""The desk's rules as data: complaint words, contact policy per segment, business hours.

They live in a JSON file named by `RAPPORT_DESK_RULES` (docs/desk.md shows
the format), so a shop changes its complaint words or its promised response
times without touching code; without a file the defaults below apply. A
bad file is refused as a whole with one message naming the bad part, and
nothing of it is used.

A segment here is a customer tag ("corporate"); the first policy whose tag
the customer carries applies, and the policy for "*" applies to everyone
else.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from rapport.crm.customers.tags import normalise_tag
from rapport.crm.desk.business_hours import BusinessHours, parse_days, parse_time
from rapport.crm.errors import ConfigurationError, InvalidInput
from rapport.crm.settings import Settings, get_settings

EVERYONE = "*"

DEFAULT_RULES: dict[str, Any] = {
    "business_hours": {"days": ["mon-fri"], "open": "09:00", "close": "17:00"},
    "complaint": {
        "words": {
            "en": ["complaint", "complain", "refund", "unacceptable", "disgusted", "scam"],
            "de": ["beschwerde", "reklamation", "unverschämt", "erstattung"],
            "fr": ["plainte", "réclamation", "remboursement", "inadmissible"],
        },
        "strongly_negative": True,
        "follow_up_hours": 24,
    },
    "policies": [
        {"segment": "corporate", "first_response_minutes": 60, "resolution_minutes": 480},
        {"segment": EVERYONE, "first_response_minutes": 240, "resolution_minutes": 1440},
    ],
    "remind_before_minutes": 15,
    "reopen_days": 7,
    "auto_answers": {"office_hours": {}, "out_of_hours": {}},
    "faq": [],
}
AGENT_HINT = "Reply 'agent' to reach a person."
OPENS = "{opens}"
"""Placeholder in an out-of-hours answer: when the business next opens, e.g. "Mon 09:00"."""


@dataclass(frozen=True, slots=True)
class Faq:
    keywords: tuple[str, ...]
    answer: str


@dataclass(frozen=True, slots=True)
class Policy:
    """What the business promises one segment, in business time."""

    segment: str
    first_response: timedelta
    resolution: timedelta


@dataclass(frozen=True, slots=True)
class DeskRules:
    hours: BusinessHours
    complaint_words: frozenset[str]
    complain_on_strong_negative: bool
    follow_up: timedelta
    policies: tuple[Policy, ...]
    remind_before: timedelta
    strongly_negative: float = -0.5
    """Polarity at or below which a message is a complaint (RAPPORT_SENTIMENT_STRONGLY_…)."""
    office_hours: Mapping[str, str] = field(default_factory=dict)
    out_of_hours: Mapping[str, str] = field(default_factory=dict)
    faq: tuple[Faq, ...] = ()
    reopen_window: timedelta = timedelta(days=7)
    """A customer message this soon after resolution reopens the conversation (0: never).

    Help desks reopen rather than start over because "it is still broken" a day
    later is the same request: staff see its history, and the report counts the
    reopen against the resolution instead of showing two quick, clean contacts.
    """

    def first_answer(self, tags: set[str], text: str, now: datetime) -> tuple[str, str] | None:
        """(kind, text) of the automatic first answer, or None when none is configured.

        A matching FAQ wins (with the way to reach a person); otherwise the
        office-hours or out-of-hours text of the customer's segment, or of "*".
        """
        folded = " " + " ".join(re.findall(r"\w+", text.casefold())) + " "
        for faq in self.faq:
            if any(f" {k} " in folded for k in faq.keywords):
                return "faq", f"{faq.answer}\n\n{AGENT_HINT}"
        is_open = self.hours.is_open(now)
        texts = self.office_hours if is_open else self.out_of_hours
        policy = self.policy_for(tags)
        chosen = texts.get(policy.segment) if policy is not None else None
        chosen = chosen or texts.get(EVERYONE)
        if not chosen:
            return None
        if not is_open:
            opens = self.hours.next_opening(now).astimezone(self.hours.zone)
            chosen = chosen.replace(OPENS, f"{opens:%a %H:%M}")
        return ("office_hours" if is_open else "out_of_hours"), chosen

    def policy_for(self, tags: set[str] | frozenset[str]) -> Policy | None:
        for policy in self.policies:
            if policy.segment == EVERYONE or policy.segment in tags:
                return policy
        return None

    def complaint_word_in(self, text: str) -> str | None:
        """The first configured complaint word the text contains as a word, if any."""
        words: list[str] = re.findall(r"\w+", text.casefold())
        for word in words:
            if word in self.complaint_words:
                return word
        return None


def parse_rules(data: object, zone: ZoneInfo, strongly_negative: float = -0.5) -> DeskRules:
    """Rules from their JSON form; InvalidInput names the first bad part."""
    if not isinstance(data, dict):
        raise InvalidInput("desk rules must be a JSON object")
    unknown = set(data) - set(DEFAULT_RULES)
    if unknown:
        raise InvalidInput(f"unknown desk rule(s): {', '.join(sorted(unknown))}")
    merged = {**DEFAULT_RULES, **data}
    hours = _section(merged, "business_hours")
    complaint = {**DEFAULT_RULES["complaint"], **_section(merged, "complaint")}
    words = complaint.get("words")
    if not isinstance(words, dict) or not all(
        isinstance(ws, list) and all(isinstance(w, str) and w.strip() for w in ws)
        for ws in words.values()
    ):
        raise InvalidInput(
            'complaint.words must map a language to a list of words, e.g. {"en": ["refund"]}'
        )
    policies_data = merged["policies"]
    if not isinstance(policies_data, list) or not policies_data:
        raise InvalidInput("policies must be a non-empty list")
    return DeskRules(
        hours=BusinessHours(
            days=parse_days(list(hours.get("days", []))),
            opens=parse_time(hours.get("open", "")),
            closes=parse_time(hours.get("close", "")),
            zone=zone,
        ),
        complaint_words=frozenset(w.strip().casefold() for ws in words.values() for w in ws),
        complain_on_strong_negative=bool(complaint.get("strongly_negative", True)),
        follow_up=timedelta(
            hours=_positive(complaint.get("follow_up_hours"), "complaint.follow_up_hours")
        ),
        policies=tuple(_policy(p) for p in policies_data),
        remind_before=timedelta(
            minutes=_positive(merged["remind_before_minutes"], "remind_before_minutes", zero=True)
        ),
        strongly_negative=strongly_negative,
        office_hours=_texts(merged["auto_answers"], "office_hours"),
        out_of_hours=_texts(merged["auto_answers"], "out_of_hours"),
        faq=tuple(_faq(item) for item in _list(merged["faq"], "faq")),
        reopen_window=timedelta(days=_positive(merged["reopen_days"], "reopen_days", zero=True)),
    )


def _list(value: object, name: str) -> list[Any]:
    if not isinstance(value, list):
        raise InvalidInput(f"{name} must be a list")
    return value


def _texts(section: object, name: str) -> dict[str, str]:
    """Answer texts by segment ("*" for everyone else)."""
    if not isinstance(section, dict) or set(section) - {"office_hours", "out_of_hours"}:
        raise InvalidInput("auto_answers has office_hours and out_of_hours, each by segment")
    texts = section.get(name, {})
    if not isinstance(texts, dict) or not all(
        isinstance(t, str) and t.strip() for t in texts.values()
    ):
        raise InvalidInput(f'auto_answers.{name} maps a segment to a text, e.g. {{"*": "Hello"}}')
    return {(k if k == EVERYONE else normalise_tag(k)): t.strip() for k, t in texts.items()}


def _faq(item: object) -> Faq:
    if not isinstance(item, dict) or not isinstance(item.get("answer"), str):
        raise InvalidInput('each faq entry is {"keywords": [...], "answer": "..."}')
    keywords = item.get("keywords")
    if not isinstance(keywords, list) or not keywords:
        raise InvalidInput("each faq entry needs a non-empty list of keywords")
    words = tuple(" ".join(re.findall(r"\w+", str(k).casefold())) for k in keywords)
    if not all(words) or not item["answer"].strip():
        raise InvalidInput("faq keywords and answers must not be empty")
    return Faq(keywords=words, answer=item["answer"].strip())


def _section(data: dict[str, Any], name: str) -> dict[str, Any]:
    value = data[name]
    if not isinstance(value, dict):
        raise InvalidInput(f"{name} must be a JSON object")
    return value


def _positive(value: object, name: str, *, zero: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidInput(f"{name} must be a number")
    if value < 0 or (value == 0 and not zero):
        raise InvalidInput(f"{name} must be {'zero or more' if zero else 'more than zero'}")
    return float(value)


def _policy(item: object) -> Policy:
    if not isinstance(item, dict) or "segment" not in item:
        raise InvalidInput(
            "each policy is an object with segment, first_response_minutes and resolution_minutes"
        )
    segment = item["segment"]
    name = EVERYONE if segment == EVERYONE else normalise_tag(segment)
    return Policy(
        segment=name,
        first_response=timedelta(
            minutes=_positive(item.get("first_response_minutes"), f"{name}: first_response_minutes")
        ),
        resolution=timedelta(
            minutes=_positive(item.get("resolution_minutes"), f"{name}: resolution_minutes")
        ),
    )


def load_rules(settings: Settings) -> DeskRules:
    """The rules the settings name (or the defaults); ConfigurationError on a bad file."""
    path = settings.desk_rules
    try:
        data: object = DEFAULT_RULES
        if path:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        return parse_rules(data, settings.zone, settings.sentiment_strongly_negative_threshold)
    except (OSError, ValueError) as exc:
        raise ConfigurationError(f"RAPPORT_DESK_RULES: cannot read {path}: {exc}") from None
    except InvalidInput as exc:
        raise ConfigurationError(f"RAPPORT_DESK_RULES: {exc}") from None


@lru_cache(maxsize=1)
def current_rules() -> DeskRules:
    """The process-wide rules, read once with the settings (ingest uses these)."""
    return load_rules(get_settings())
