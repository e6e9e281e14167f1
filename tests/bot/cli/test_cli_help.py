"""Every `rapport` command explains itself: help text with an example, one line per error."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import typer.main

from rapport.bot.cli import app


def commands(group: Any, prefix: str = "rapport") -> Iterator[tuple[str, Any]]:
    """(full command, click command) for every leaf; typer bundles its own click, so duck-type."""
    for name, command in sorted(group.commands.items()):
        path = f"{prefix} {name}"
        if hasattr(command, "commands"):
            yield from commands(command, path)
        else:
            yield path, command


def test_every_command_has_help_with_an_example() -> None:
    root = typer.main.get_command(app)
    found = dict(commands(root))
    assert "rapport init" in found and "rapport programmes install" in found
    missing = [
        path
        for path, command in found.items()
        if not any(
            line.strip().startswith(f"Example: {path}")
            for line in (command.help or "").splitlines()
        )
    ]
    assert not missing, f"no 'Example: <command>' line in the help of: {', '.join(missing)}"
