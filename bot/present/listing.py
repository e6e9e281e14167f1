"""A table as data: what a listing or report shows, in every form a reader asks for.

A `Listing` holds raw values (numbers, datetimes, names) and `Column`s that
say what each value is (`Kind`). From that one description come:

- the cells a person reads (`cells`): every value formatted by `numbers`
  and `times`, so the CLI, the bot and the console show the same thing;
- the CSV a spreadsheet opens (`to_csv`) and the JSON a script reads
  (`to_json`), with one unit per column kind, fixed and documented in
  docs/reports.md: shares in percent with one decimal (the column name ends
  in `_pct`), money in the shop's currency with its minor units (`_amount`
  or `cost…`), durations in minutes (`_min`), moments as ISO 8601 with the
  business zone's offset (`_at`), counts as integers. The suffixes are
  checked when a column is made, so a new column cannot break the rule.

Short headers keep a table inside 80 columns; the `legend` says what each
short header means. `needed` columns are kept at any width; `name` columns
(what one types back, e.g. a segment or programme name) are never wrapped
or cut. The terminal renderer (rapport.bot.cli.render) decides what fits.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from zoneinfo import ZoneInfo

from rapport.bot.present import numbers, times


class Kind(StrEnum):
    TEXT = "text"
    COUNT = "count"
    PCT = "pct"
    """A share 0…1; shown "73.0%", exported as 73.0 in a `_pct` column."""
    MONEY = "money"
    WHEN = "when"
    MINUTES = "minutes"
    SCORE = "score"
    """A mean on a fixed scale (`Column.scale`), two decimals."""
    SIGNED = "signed"
    """A score that can go negative (NPS), one decimal with its sign."""


_SUFFIX = {
    Kind.PCT: ("_pct",),
    Kind.WHEN: ("_at",),
    Kind.MINUTES: ("_min",),
    Kind.MONEY: ("_amount", "cost"),
}


@dataclass(frozen=True, slots=True)
class Column:
    key: str
    """The CSV/JSON name; ends in the unit's suffix for shares, money, durations, moments."""
    header: str
    kind: Kind = Kind.TEXT
    legend: str | None = None
    """What a short header means, printed under the table."""
    needed: bool = False
    """Kept at any terminal width."""
    name: bool = False
    """A name a reader types back: never wrapped or cut."""
    scale: str = ""
    """The scale of a SCORE ("5" for a 1–5 mean)."""
    long: str = ""
    """The header spelt out, where there is room (a chat line, a web page)."""

    @property
    def full(self) -> str:
        return self.long or self.header

    def __post_init__(self) -> None:
        suffixes = _SUFFIX.get(self.kind)
        if suffixes and not any(s in self.key for s in suffixes):
            raise ValueError(
                f"column {self.key!r} of kind {self.kind} must say its unit: {suffixes}"
            )


@dataclass(frozen=True, slots=True)
class Style:
    """What formatting depends on: the business's zone and currency (from the settings)."""

    zone: ZoneInfo
    currency: str = "EUR"


def display(column: Column, value: object, style: Style) -> str:
    """The cell a person reads."""
    if value is None or value == "":
        return numbers.NO_DATA
    kind = column.kind
    if kind is Kind.COUNT:
        return numbers.count(int(value))  # type: ignore[call-overload]
    if kind is Kind.PCT:
        return numbers.pct(float(value))  # type: ignore[arg-type]
    if kind is Kind.MONEY:
        return numbers.money(float(value), style.currency)  # type: ignore[arg-type]
    if kind is Kind.WHEN:
        assert isinstance(value, datetime)
        return times.when(value, style.zone)
    if kind is Kind.MINUTES:
        return numbers.duration_minutes(float(value))  # type: ignore[arg-type]
    if kind is Kind.SCORE:
        return numbers.mean(float(value), column.scale)  # type: ignore[arg-type]
    if kind is Kind.SIGNED:
        return numbers.signed(float(value))  # type: ignore[arg-type]
    return str(value)


def data_value(column: Column, value: object, style: Style) -> object:
    """The value for CSV and JSON, in the column kind's one unit."""
    if value is None or value == "":
        return None
    kind = column.kind
    if kind is Kind.COUNT:
        return int(value)  # type: ignore[call-overload]
    if kind is Kind.PCT:
        return numbers.pct_value(float(value))  # type: ignore[arg-type]
    if kind is Kind.MONEY:
        return numbers.money_value(float(value), style.currency)  # type: ignore[arg-type]
    if kind is Kind.WHEN:
        assert isinstance(value, datetime)
        return times.when_value(value, style.zone)
    if kind is Kind.MINUTES:
        return round(float(value), 1)  # type: ignore[arg-type]
    if kind is Kind.SCORE:
        return round(float(value), 2)  # type: ignore[arg-type]
    if kind is Kind.SIGNED:
        return round(float(value), 1)  # type: ignore[arg-type]
    return str(value)


@dataclass(slots=True)
class Listing:
    """Rows of raw values under typed columns, with a title and notes for the reader."""

    columns: Sequence[Column]
    rows: list[Mapping[str, object]] = field(default_factory=list)
    title: str | None = None
    notes: list[str] = field(default_factory=list)
    """Lines under the table: "10 of 151 shown", what a mark means, the zone."""
    marks: dict[tuple[int, str], str] = field(default_factory=dict)
    """(row index, column key) -> a mark after the shown cell ("*" for a partial month);
    for the reader only: CSV and JSON keep the plain value (the notes say what it means)."""

    def add(self, **values: object) -> None:
        unknown = set(values) - {c.key for c in self.columns}
        if unknown:
            raise ValueError(f"no column(s) {sorted(unknown)}")
        self.rows.append(values)

    def cells(self, style: Style) -> list[list[str]]:
        return [
            [
                display(c, row.get(c.key), style) + self.marks.get((n, c.key), "")
                for c in self.columns
            ]
            for n, row in enumerate(self.rows)
        ]

    def records(self, style: Style) -> list[dict[str, object]]:
        return [
            {c.key: data_value(c, row.get(c.key), style) for c in self.columns} for row in self.rows
        ]

    def legend(self, shown: Sequence[Column] | None = None) -> list[str]:
        """ "header = meaning" for the shown columns that have a legend."""
        return [f"{c.header} = {c.legend}" for c in (shown or self.columns) if c.legend]


def to_csv(records: Sequence[Mapping[str, object]], keys: Sequence[str]) -> str:
    """CSV text (CRLF rows, as spreadsheets expect); None is an empty cell, never 0."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(keys), lineterminator="\r\n")
    writer.writeheader()
    for record in records:
        writer.writerow({k: "" if v is None else v for k, v in record.items()})
    return buffer.getvalue()


def listing_csv(listing: Listing, style: Style) -> str:
    return to_csv(listing.records(style), [c.key for c in listing.columns])


def listing_json(listing: Listing, style: Style) -> str:
    return json.dumps(listing.records(style), ensure_ascii=False, indent=2)
