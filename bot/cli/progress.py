"""Progress bars for the long commands, drawn only when a person watches a terminal.

A script, a pipe or a test that reads a command's output gets exactly the
report it got before: no frames, no carriage returns, no escape codes. So the
bar is made only when stdout itself is a TTY (not when FORCE_COLOR or a CI
setting merely asks rich for colour) and the terminal can redraw a line; off a
terminal the same calls do nothing. rich.progress is imported only for a bar
that is drawn, so `rapport --help` never pays for it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from rapport.bot.cli.common import out

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID


class Bar:
    """One task's bar; every method is a no-op when nothing is drawn (`shown` is False)."""

    def __init__(self, progress: Progress | None = None, task: TaskID | None = None) -> None:
        self._progress = progress
        self._task = task

    @property
    def shown(self) -> bool:
        """Whether a bar is drawn: work done only to feed it (counting rows) can be skipped."""
        return self._progress is not None

    def advance(self, steps: float = 1, description: str | None = None) -> None:
        self.update(advance=steps, description=description)

    def update(
        self,
        *,
        advance: float | None = None,
        completed: float | None = None,
        total: float | None = None,
        description: str | None = None,
    ) -> None:
        if self._progress is None or self._task is None:
            return
        self._progress.update(
            self._task,
            advance=advance,
            completed=completed,
            total=total,
            description=description,
        )


def on_terminal() -> bool:
    """Whether stdout is a terminal that redraws a line (not a pipe, a file or TERM=dumb)."""
    isatty = getattr(out.file, "isatty", None)
    return bool(isatty and isatty()) and not out.is_dumb_terminal


@contextmanager
def progress_bar(description: str, total: float | None = None) -> Iterator[Bar]:
    """A bar on the console for the `with` block, erased at its end; nothing off a terminal.

    `total` None draws a pulsing bar until a total is set; the elapsed time is shown,
    so a long single step (one transaction) still shows the command is alive.
    """
    if not on_terminal():
        yield Bar()
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=out, transient=True) as progress:
        yield Bar(progress, progress.add_task(description, total=total))
