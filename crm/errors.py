"""Exceptions the core raises.

Every error a user or an adapter can cause is a subclass of `RapportError`
with a message fit to show as is: the CLI prints it on one line and exits 2,
the bot answers with it, the channels map it to their protocol's refusal.
"""

from __future__ import annotations


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
