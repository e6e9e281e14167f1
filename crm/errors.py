"""Exceptions the core raises.

Every error a user or an adapter can cause is a subclass of `RapportError`
with a message fit to show as is: the CLI prints it on one line and exits 2,
the bot answers with it, the channels map it to their protocol's refusal.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class RapportError(Exception):
    """Base of all errors Rapport reports to a person instead of crashing."""


class ConfigurationError(RapportError):
    """A setting is missing or has a value we cannot use."""


class InvalidMessage(RapportError):
    """An inbound message was refused before anything was stored."""


class NotFound(RapportError):
    """The thing asked for does not exist (or is not visible to the caller)."""


class PermissionDenied(RapportError):
    """The caller's role does not allow this operation."""


class InvalidInput(RapportError):
    """A value a person gave (a name, a tag, a rule) is not acceptable; nothing was changed."""


class InvalidRule(InvalidInput):
    """A segment rule is not valid JSON of the rule format; the message names the bad part."""


class Conflict(RapportError):
    """The change would clash with what is stored (a duplicate name, a segment in use)."""


class UnknownName(NotFound):
    """A name a person typed (a segment, campaign, programme) matches nothing stored.

    The message names the nearest known names (difflib), so a typo is one
    look away from fixed: "no segment 'Nope'; did you mean 'new'?".
    """

    def __init__(self, kind: str, name: str, known: Iterable[str]) -> None:
        self.kind, self.name = kind, name
        self.known = sorted(set(known))
        self.suggestions = nearest(name, self.known)
        super().__init__(unknown_message(kind, name, self.known, "known"))


class UnknownChoice(InvalidInput):
    """A word from a fixed set (a chart, an export, a report) that is not one of them."""

    def __init__(self, kind: str, name: str, choices: Iterable[str]) -> None:
        self.kind, self.name = kind, name
        self.known = list(choices)
        self.suggestions = nearest(name, self.known)
        super().__init__(unknown_message(kind, name, self.known, "choose one of"))


def unknown_message(kind: str, name: str, known: list[str], lead: str) -> str:
    """ "no segment 'Nope'; did you mean 'new'?" or, with nothing near, the names there are."""
    text = f"no {kind} {name!r}"
    suggestions = nearest(name, known)
    if suggestions:
        return text + "; did you mean " + " or ".join(map(repr, suggestions)) + "?"
    if not known:
        return text + f" (there are no {kind}s yet)"
    shown = ", ".join(known[:8]) + (", …" if len(known) > 8 else "")
    return text + f"; {lead}: {shown}"


def nearest(name: str, known: Iterable[str], n: int = 2) -> list[str]:
    """The known names closest to `name` (case-insensitive), best first."""
    names = list(known)
    lowered = {k.lower(): k for k in names}
    close = difflib.get_close_matches(name.lower(), list(lowered), n=n, cutoff=0.5)
    prefix = [k for k in names if name and k.lower().startswith(name.lower())]
    return list(dict.fromkeys([*(lowered[c] for c in close), *prefix]))[:n]
