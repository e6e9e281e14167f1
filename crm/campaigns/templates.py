"""Campaign message templates: Jinja2 in its sandbox, checked when saved.

Templates are written by staff, not developers, so they run sandboxed (no
attribute access to internals, no imports), undefined names are an error at
save time rather than a blank in 10,000 customers' messages, and the output
length is bounded.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, Template, TemplateError
from jinja2.exceptions import SecurityError
from jinja2.sandbox import SandboxedEnvironment

from rapport.crm.errors import RapportError

MAX_TEMPLATE_CHARS = 10_000
MAX_OUTPUT_CHARS = 20_000

SAMPLE_CONTEXT: dict[str, Any] = {
    "name": "Ann",
    "first_name": "Ann",
    "business": "Rapport",
    "campaign": "Sample campaign",
    "points": 120,
    "points_awarded": 50,
    "offer_code": "WELCOME10",
    "offer_expires": "2026-12-31",
    "tier": "Silver",
}
"""The names a template may use; `preview` renders with these values."""


class TemplateProblem(RapportError):
    """A template that cannot be saved or rendered, with the reason."""


class _BoundedSandbox(SandboxedEnvironment):
    """The stock sandbox blocks internals but not `"x" * 10**9`; this bounds both operators."""

    intercepted_binops = frozenset(["*", "**"])

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "**" and (not isinstance(right, int) or abs(right) > 64):
            raise SecurityError("exponent too large")
        if operator == "*":
            sized = [v for v in (left, right) if isinstance(v, str | list | tuple)]
            counts = [v for v in (left, right) if isinstance(v, int)]
            if sized and counts and len(sized[0]) * counts[0] > MAX_OUTPUT_CHARS:
                raise SecurityError("repetition too large")
        return super().call_binop(context, operator, left, right)


_env = _BoundedSandbox(undefined=StrictUndefined, autoescape=False)


@lru_cache(maxsize=256)
def _compiled(source: str) -> Template:
    return _env.from_string(source)


def validate_template(source: str) -> str:
    """Compile and render with sample values; returns the sample output."""
    if not source.strip():
        raise TemplateProblem("the message template is empty")
    if len(source) > MAX_TEMPLATE_CHARS:
        raise TemplateProblem(f"the template is longer than {MAX_TEMPLATE_CHARS:,} characters")
    return render(source, SAMPLE_CONTEXT)


def render(source: str, context: Mapping[str, Any]) -> str:
    try:
        text = _compiled(source).render(**context)
    except SecurityError as exc:
        raise TemplateProblem(f"the template tried something not allowed: {exc}") from None
    except TemplateError as exc:
        raise TemplateProblem(f"template error: {exc}") from None
    except (OverflowError, ValueError, TypeError, ZeroDivisionError) as exc:
        raise TemplateProblem(f"template error: {exc}") from None
    if len(text) > MAX_OUTPUT_CHARS:
        raise TemplateProblem(
            f"the rendered message is longer than {MAX_OUTPUT_CHARS:,} characters"
        )
    return text
