"""Listings on the terminal: fitted to its width, or as CSV or JSON for scripts.

Every listing command takes `--format table|csv|json` and `--wide`. A table
keeps the columns a reader needs (`Column.needed`) and never wraps or cuts a
name one types back (`Column.name`); the other columns wrap at word
boundaries and, when even then the table would be wider than the terminal,
the last optional columns are left out with a note saying which and how to
see them (`--wide`, or CSV). Short headers get a legend under the table.

Cells and headers are `rich.text.Text`, never markup: a customer called
`[/i]Zoe` or a message holding `[bold]` prints as written (issue 19).
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from typing import Annotated

import typer
from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from rapport.bot.cli.common import out
from rapport.bot.present.listing import Column, Listing, Style, listing_csv, listing_json

CELL_PADDING = 2
"""Rich's SIMPLE_HEAD box: one space either side of a cell, no vertical rules."""


class OutputFormat(StrEnum):
    TABLE = "table"
    CSV = "csv"
    JSON = "json"


FormatOption = Annotated[
    OutputFormat,
    typer.Option(
        "--format", help="table (for reading), csv or json (for scripts; units: docs/reports.md)."
    ),
]
WideOption = Annotated[
    bool, typer.Option("--wide", help="Every column, however wide the table gets.")
]


def _longest_word(text: str) -> int:
    return max((len(w) for w in text.split()), default=0)


def _min_width(column: Column, cells: Sequence[str]) -> int:
    """The narrowest the column can be: its (short) header whole, a name or a figure whole,
    other text without cutting a word."""
    if column.name or column.kind != "text":  # "70 min" is read whole, not "70" over "min"
        return max([len(column.header), *(len(c) for c in cells)])
    return max([len(column.header), *(_longest_word(c) for c in cells)])


def fit(columns: Sequence[Column], cells: list[list[str]], width: int) -> list[int]:
    """Indexes of the columns shown at `width`: needed ones always, optional ones while they fit."""
    mins = [_min_width(c, [row[i] for row in cells]) + CELL_PADDING for i, c in enumerate(columns)]
    shown = list(range(len(columns)))
    optional = [i for i, c in enumerate(columns) if not c.needed]
    while sum(mins[i] for i in shown) > width and optional:
        shown.remove(optional.pop())
    return shown


def table_text(
    listing: Listing, style: Style, *, width: int, wide: bool = False
) -> tuple[Table, list[str]]:
    """The Rich table for `listing` at `width` and the lines to print under it."""
    cells = listing.cells(style)
    shown = list(range(len(listing.columns))) if wide else fit(listing.columns, cells, width)
    table = Table(
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        title=Text(listing.title) if listing.title else None,
        title_justify="left",
    )
    columns = [listing.columns[i] for i in shown]
    for i, column in zip(shown, columns, strict=True):
        numeric = column.kind not in ("text", "when")
        table.add_column(
            Text(column.header),
            justify="right" if numeric else "left",
            no_wrap=column.name or wide,
            min_width=_min_width(column, [row[i] for row in cells]),
            overflow="fold",
        )
    for row in cells:
        table.add_row(*(Text(row[i]) for i in shown))
    notes = list(listing.notes)
    legend = listing.legend(columns)
    if legend:
        notes.append("; ".join(legend))
    hidden = [c.header for i, c in enumerate(listing.columns) if i not in shown]
    if hidden:
        notes.append(
            f"not shown at {width} columns: {', '.join(hidden)} "
            "(--wide shows every column; --format csv for a spreadsheet)"
        )
    return table, notes


def show(
    listing: Listing,
    style: Style,
    fmt: OutputFormat = OutputFormat.TABLE,
    *,
    wide: bool = False,
    console: Console | None = None,
) -> None:
    """Print the listing in the asked format: a fitted table, CSV or JSON."""
    console = console or out
    if fmt is OutputFormat.CSV:
        console.file.write(listing_csv(listing, style))
        return
    if fmt is OutputFormat.JSON:
        console.file.write(listing_json(listing, style) + "\n")
        return
    table, notes = table_text(listing, style, width=console.width, wide=wide)
    if wide:  # as wide as the table wants: the terminal scrolls, nothing is cut
        measured = table.__rich_measure__(console, console.options.update(width=10_000))
        console.print(table, width=max(console.width, measured.maximum), crop=False)
    else:
        console.print(table)
    for note in notes:
        console.print(Text(note), soft_wrap=wide)
