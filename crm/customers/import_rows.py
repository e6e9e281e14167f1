"""Reading a customer CSV: the columns, and each row checked into a `CustomerRow`.

The file's header names its columns (any order, any case): `email`, `name`,
`telegram_id`, `tags`, `consent`, `consent_source`, `consent_at`. Another
column is refused, naming it, before any row is read: a column we would
silently drop (a phone number, a second address) is data the shop believes
it imported. Each row is checked in full; a bad one becomes a `RowError`
with its line number (the header is line 1), and the caller decides (the
importer writes nothing while any row is bad).
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from operator import itemgetter
from zoneinfo import ZoneInfo

from rapport.crm.customers.identity import (
    MAX_NAME,
    TELEGRAM,
    clean_display_name,
    normalise_email,
    normalise_external_id,
)
from rapport.crm.customers.tags import normalise_tag
from rapport.crm.errors import InvalidInput, InvalidMessage
from rapport.crm.value.orders import parse_when

COLUMNS = ("email", "name", "telegram_id", "tags", "consent", "consent_source", "consent_at")
YES = frozenset({"yes", "y", "true", "1", "granted"})
NO = frozenset({"", "no", "n", "false", "0"})
MAX_SOURCE_TEXT = 500
_TAG_SEPARATORS = re.compile(r"[;,\s]+")


@dataclass(frozen=True, slots=True)
class RowError:
    line: int
    """Line number in the file (the header is line 1)."""
    reason: str


@dataclass(frozen=True, slots=True)
class CustomerRow:
    """One checked row: at least one address; consent only with its source."""

    line: int
    email: str | None
    telegram_id: str | None
    name: str | None
    tags: tuple[str, ...]
    consent: bool
    consent_source: str | None
    consent_at: datetime | None

    def agrees_with(self, other: CustomerRow) -> str | None:
        """None, or what differs from an earlier row for the same person."""
        for label, mine, theirs in (
            ("name", self.name, other.name),
            ("telegram_id", self.telegram_id, other.telegram_id),
            ("email", self.email, other.email),
            ("consent", self.consent, other.consent),
            ("consent_source", self.consent_source, other.consent_source),
            ("consent_at", self.consent_at, other.consent_at),
        ):
            if mine is not None and theirs is not None and mine != theirs:
                return (
                    f"{label} {_shown(mine)} conflicts with {_shown(theirs)} on line {other.line}"
                )
        return None


def _shown(value: object) -> str:
    return repr(value.isoformat() if isinstance(value, datetime) else value)


def column_map(header: list[str]) -> dict[str, int]:
    """Column name → index; InvalidInput for an unknown, repeated or missing address column."""
    found: dict[str, int] = {}
    for index, raw in enumerate(header):
        name = raw.strip().lower().replace(" ", "_")
        if name not in COLUMNS:
            raise InvalidInput(
                f"unknown column {raw.strip()!r} in the CSV header; the columns are "
                f"{', '.join(COLUMNS)} (put other labels in tags)"
            )
        if name in found:
            raise InvalidInput(f"column {name!r} appears twice in the CSV header")
        found[name] = index
    if "email" not in found and "telegram_id" not in found:
        raise InvalidInput("the CSV header needs an email or a telegram_id column")
    return found


class RowChecker:
    """Checks rows of one file; values that repeat down a file (dates, tag lists, the
    consent column) are parsed once, which is most of the cost of 100,000 rows."""

    def __init__(self, columns: dict[str, int], zone: ZoneInfo, now: datetime) -> None:
        self.width = len(columns)
        # Every documented column by position; an absent one reads a blank past the end.
        self._cells = itemgetter(*(columns.get(name, self.width) for name in COLUMNS))
        self.zone = zone
        self.now = now
        self._dates: dict[str, datetime] = {}
        self._tags: dict[str, tuple[str, ...]] = {}

    def check(self, line: int, cells: list[str]) -> CustomerRow:
        """One row checked completely; InvalidInput with the reason otherwise."""
        if len(cells) > self.width:
            raise InvalidInput(f"{len(cells)} cells but {self.width} columns")
        cells.extend([""] * (self.width + 1 - len(cells)))
        email_text, name_text, chat_text, tags_text, answer_text, source_text, when_text = map(
            str.strip, self._cells(cells)
        )
        email = telegram_id = None
        try:
            if email_text:
                email = normalise_email(email_text)
            if chat_text:
                telegram_id = normalise_external_id(TELEGRAM, chat_text)
        except InvalidMessage as exc:
            raise InvalidInput(str(exc)) from None
        if email is None and telegram_id is None:
            raise InvalidInput("no email or telegram_id")
        answer = answer_text.lower()
        if answer not in YES and answer not in NO:
            raise InvalidInput(f"consent {answer_text!r} is not yes or no")
        consent = answer in YES
        source = consent_at = None
        if consent:
            if email is None:
                raise InvalidInput(
                    "consent in an import is for email; Telegram customers opt in in the bot "
                    "(/start)"
                )
            source = " ".join(source_text.split())[:MAX_SOURCE_TEXT] or None
            if source is None:
                raise InvalidInput(
                    "consent without a consent_source: say where it was given (the proof)"
                )
            if when_text:
                consent_at = self._date(when_text)
                if consent_at > self.now:
                    raise InvalidInput(f"consent_at {when_text!r} is in the future")
        return CustomerRow(
            line=line,
            email=email,
            telegram_id=telegram_id,
            name=_name(name_text),
            tags=self._tag_list(tags_text),
            consent=consent,
            consent_source=source,
            consent_at=consent_at,
        )

    def _date(self, text: str) -> datetime:
        found = self._dates.get(text)
        if found is None:
            found = self._dates[text] = parse_when(text, self.zone)
        return found

    def _tag_list(self, text: str) -> tuple[str, ...]:
        found = self._tags.get(text)
        if found is None:
            found = tuple(sorted({normalise_tag(t) for t in _TAG_SEPARATORS.split(text) if t}))
            self._tags[text] = found
        return found


def _name(text: str) -> str | None:
    """`clean_display_name`, without its Unicode work for the plain names most rows have."""
    if text.isascii() and text.isprintable() and "  " not in text:
        return text[:MAX_NAME] or None
    return clean_display_name(text)


def read_rows(
    lines: Iterable[str],
    *,
    zone: ZoneInfo,
    now: datetime,
    progress: Callable[[int], None] | None = None,
) -> tuple[list[CustomerRow], list[RowError]]:
    """Every row checked, duplicates of a person folded: (good rows, errors by line).

    The same address twice is one person: the rows must agree (tags are
    combined), or the later one is an error naming the earlier line.
    """
    reader = csv.reader(lines)
    try:
        header = next(reader)
    except StopIteration:
        raise InvalidInput("the CSV file is empty") from None
    except csv.Error as exc:
        raise InvalidInput(f"the CSV header cannot be read: {exc}") from None
    checker = RowChecker(column_map(header), zone, now)
    rows: list[CustomerRow] = []
    errors: list[RowError] = []
    by_address: dict[tuple[str, str], int] = {}
    for line, cells in _numbered(reader, errors, progress):
        try:
            row = checker.check(line, cells)
        except InvalidInput as exc:
            errors.append(RowError(line, str(exc)))
            continue
        keys = [(kind, value) for kind, value in (("email", row.email),
                ("telegram", row.telegram_id)) if value]  # fmt: skip
        earlier = {by_address[k] for k in keys if k in by_address}
        if len(earlier) > 1:
            errors.append(RowError(line, "its email and telegram_id are on different rows"))
            continue
        if earlier:
            index = earlier.pop()
            first = rows[index]
            conflict = row.agrees_with(first)
            if conflict is not None:
                errors.append(RowError(line, f"the same person as line {first.line}: {conflict}"))
                continue
            rows[index] = _combined(first, row)
            for key in keys:
                by_address[key] = index
            continue
        for key in keys:
            by_address[key] = len(rows)
        rows.append(row)
    return rows, errors


def _combined(first: CustomerRow, later: CustomerRow) -> CustomerRow:
    return CustomerRow(
        line=first.line,
        email=first.email or later.email,
        telegram_id=first.telegram_id or later.telegram_id,
        name=first.name or later.name,
        tags=tuple(sorted({*first.tags, *later.tags})),
        consent=first.consent or later.consent,
        consent_source=first.consent_source or later.consent_source,
        consent_at=first.consent_at or later.consent_at,
    )


def _numbered(
    reader: Iterator[list[str]], errors: list[RowError], progress: Callable[[int], None] | None
) -> Iterator[tuple[int, list[str]]]:
    pending = 0
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            errors.append(RowError(reader.line_num, f"unreadable CSV: {exc}"))  # type: ignore[attr-defined]
            continue
        line = reader.line_num  # type: ignore[attr-defined]
        pending += 1
        if progress is not None and pending == 1000:
            progress(pending)
            pending = 0
        if cells and any(c.strip() for c in cells):
            yield line, cells
    if progress is not None and pending:
        progress(pending)
