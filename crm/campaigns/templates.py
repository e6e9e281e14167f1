"""Campaign message templates: Jinja2 in its sandbox, checked when saved.

Templates are written by staff, not developers, so they run sandboxed (no
attribute access to internals, no imports), undefined names are an error at
save time rather than a blank in 10,000 customers' messages. Every render
runs in a worker process with a time limit, a memory bound and an output
bound enforced while rendering (rapport.crm.campaigns.bounded); a template is
checked when saved against a set of sample customers that includes the
worst cases (`SAMPLE_CONTEXTS`: the longest name, no name, many points).
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, Template, TemplateError, meta, nodes
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

SAMPLE_CONTEXTS: tuple[dict[str, Any], ...] = (
    SAMPLE_CONTEXT,
    {**SAMPLE_CONTEXT, "name": "there", "first_name": "there", "points": 0, "points_awarded": 0,
     "offer_code": "", "offer_expires": "", "tier": ""},
    {**SAMPLE_CONTEXT, "name": "Ann-Kathrin " + "W" * 188, "first_name": "Ann-Kathrin",
     "points": 2_000_000_000, "points_awarded": 1_000_000, "tier": "Gold"},
    {**SAMPLE_CONTEXT, "name": "Zoë Ünal–Ødegård 王小明", "first_name": "Zoë", "points": -50},
)  # fmt: skip
"""What validation renders with: the sample, and customers at the edges of what a real
one can be (no name: "there"; a name at the 200-character limit; huge and negative
balances; non-ASCII), so a template that is only slow or huge for some customers is
refused when saved, not found out while sending."""


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

    def make_globals(self, d: MutableMapping[str, Any] | None) -> MutableMapping[str, Any]:
        """The template's globals as one plain dict, not Jinja's ChainMap over ours.

        Every render copies the globals into a fresh context, and copying a
        ChainMap took two thirds of a plain template's render (16 of 25 µs
        for "Hi {{ first_name }}, …"), paid once per customer of a campaign.
        The ChainMap exists so later changes to the environment's globals
        reach loaded templates; ours never change after start.
        """
        return {**self.globals, **(d or {})}


_env = _BoundedSandbox(undefined=StrictUndefined, autoescape=False)


@lru_cache(maxsize=256)
def compiled_template(source: str) -> Template:
    """The compiled template (or the error compiling raises; see `explain`)."""
    return _env.from_string(source)


def explain(exc: Exception) -> TemplateProblem:
    """The TemplateProblem for an error a template raised (compiling or rendering)."""
    if isinstance(exc, TemplateProblem):
        return exc
    if isinstance(exc, SecurityError):
        return TemplateProblem(f"the template tried something not allowed: {exc}")
    if isinstance(exc, TemplateError | OverflowError | ValueError | TypeError | ZeroDivisionError):
        return TemplateProblem(f"template error: {exc}")
    return TemplateProblem(f"template error: {type(exc).__name__}: {exc}")


def validate_template(source: str) -> str:
    """Compile, then render for every sample customer within the bounds; returns the
    first sample's output. The first failure is the reason the template is refused."""
    if not source.strip():
        raise TemplateProblem("the message template is empty")
    if len(source) > MAX_TEMPLATE_CHARS:
        raise TemplateProblem(f"the template is longer than {MAX_TEMPLATE_CHARS:,} characters")
    try:
        compiled_template(source)
    except Exception as exc:
        raise explain(exc) from None
    outputs = [render(source, sample) for sample in SAMPLE_CONTEXTS]
    return outputs[0]


_PLAIN_NODES = (
    nodes.Template,
    nodes.Output,
    nodes.TemplateData,
    nodes.Name,
    nodes.Const,
    nodes.If,
    nodes.CondExpr,
    nodes.Not,
    nodes.And,
    nodes.Or,
    nodes.Compare,
    nodes.Operand,
)
"""Writing text and names, choosing by a condition on them: each costs time in proportion
to the text at hand, never more (no loops, calls, arithmetic or assignments)."""
_PLAIN_FILTERS = frozenset({"upper", "lower", "title", "capitalize", "trim", "default", "d"})
"""Filters whose cost is linear in the text they are given, which is bounded."""


@lru_cache(maxsize=256)
def is_plain(source: str) -> bool:
    """Whether the template only writes its text and names, choosing and filtering simply.

    Such a template cannot loop, call anything or multiply a string: its
    output is at most its own length plus the names it writes, each bounded
    (a name holds 200 characters at most), so rendering it costs
    microseconds and needs no worker process. Nearly every campaign is
    this kind ("Hi {{ first_name }}, …"), and sending one to its worker
    and back cost ten times the render itself, for every customer.
    """
    try:
        tree = _env.parse(source)
    except TemplateError:
        return False
    return all(_is_plain_node(node) for node in tree.find_all(nodes.Node))


def _is_plain_node(node: nodes.Node) -> bool:
    if isinstance(node, nodes.Filter):
        simple = not (node.args or node.kwargs or node.dyn_args or node.dyn_kwargs)
        return node.name in _PLAIN_FILTERS and (simple or node.name in ("default", "d"))
    if isinstance(node, nodes.Name):
        return node.ctx == "load"
    return isinstance(node, _PLAIN_NODES)


@lru_cache(maxsize=256)
def shows_points(source: str) -> bool:
    """Whether the template may write the customer's points balance (`points`).

    The dispatcher sums each customer's points only for templates that do:
    for a campaign of thousands, that sum was a query as costly as the claim.
    A template that does not compile says yes, to be safe.
    """
    try:
        return "points" in meta.find_undeclared_variables(_env.parse(source))
    except TemplateError:
        return True


def _render_plain(source: str, context: Mapping[str, Any]) -> str:
    from rapport.crm.campaigns.bounded import TemplateLimit

    try:
        text = compiled_template(source).render(context)
    except Exception as exc:
        raise explain(exc) from None
    if len(text) > MAX_OUTPUT_CHARS:
        raise TemplateLimit(f"the rendered message is longer than {MAX_OUTPUT_CHARS:,} characters")
    return text


def render(source: str, context: Mapping[str, Any]) -> str:
    """The text for one customer; TemplateProblem says why not.

    A plain template (`is_plain`) renders here; any other runs in the
    bounded worker (rapport.crm.campaigns.bounded), with its time, memory and
    output bounds.
    """
    if is_plain(source):
        return _render_plain(source, context)
    from rapport.crm.campaigns.bounded import renderer

    return renderer().render(source, context)
