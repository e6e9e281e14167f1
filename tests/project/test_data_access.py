"""One data-access discipline (issue 17): entity statements, Core only in the named hot paths.

Services write `select(Customer).where(Customer.id == ...)`,
`update(Conversation)`, `insert(FollowUp)`: the model and its attributes, so
a reader sees which entity a statement is about and a rename is one edit.
Core statements over `Model.__table__` are kept only where building ORM-aware
statements is measurable in a hot path (ingest storage, dispatch claiming,
bulk recompute); such a module is listed here and says why in a comment
containing "Core". Anything else using `__table__` in `crm/` or `channels/`
fails this test.
"""

from __future__ import annotations

import io
import tokenize
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCANNED = ("crm", "channels")

HOT_PATHS = {
    "crm/interactions/storage.py": "ingest storage: one message's rows in pre-built statements",
    "crm/interactions/routing.py": "ingest: which conversation each message joins",
    "crm/interactions/engagement.py": "ingest: whether a customer wrote back after a campaign",
    "crm/desk/complaints.py": "ingest: the complaint rules on every message",
    "crm/desk/inbox.py": "the console's inbox, read on every refresh",
    "crm/desk/resolution.py": "ingest: matching survey answers in every batch with a score",
    "crm/dispatch/claims.py": "dispatch claiming, every batch of every worker",
    "crm/dispatch/marking.py": "dispatch: marking each step of claimed deliveries sending",
    "crm/dispatch/outcomes.py": "dispatch: recording each delivery's outcome",
    "crm/value/order_batches.py": "the API's batch order push, many orders in one call",
    "crm/value/scores.py": "the bulk recompute of every customer's value row",
}
"""Modules allowed Core statements over `Model.__table__`, and the hot path each is on."""

DECLARES = {"crm/models/base.py"}
"""Where `Model.__table__` is declared (its type, for the hot paths), not used."""


def table_uses(source: str) -> list[int]:
    """Lines of code naming `__table__` (comments and strings, docstrings too, do not count)."""
    tokens = tokenize.generate_tokens(io.StringIO(source).readline)
    return [t.start[0] for t in tokens if t.type == tokenize.NAME and t.string == "__table__"]


def explains_core(source: str) -> bool:
    """Whether a comment or the module's docstring says why it uses Core ("Core" in it)."""
    tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    comments = [t.string for t in tokens if t.type == tokenize.COMMENT]
    first = next((t for t in tokens if t.type not in _LAYOUT), None)
    docstring = first.string if first is not None and first.type == tokenize.STRING else ""
    return any("Core" in text for text in (*comments, docstring))


_LAYOUT = {tokenize.NL, tokenize.NEWLINE, tokenize.COMMENT, tokenize.ENCODING}


def _modules() -> dict[str, str]:
    return {
        path.relative_to(ROOT).as_posix(): path.read_text(encoding="utf-8")
        for package in SCANNED
        for path in sorted((ROOT / package).rglob("*.py"))
        if "__pycache__" not in path.parts
    }


def _allowed(module: str) -> bool:
    return module in HOT_PATHS or module in DECLARES


def test_only_the_hot_paths_use_core_over_model_tables() -> None:
    offenders = [
        f"{module}:{line}"
        for module, source in _modules().items()
        if not _allowed(module)
        for line in table_uses(source)
    ]
    assert not offenders, (
        "Model.__table__ outside the hot paths: write entity statements "
        f"(select(Model).where(Model.column == ...)), or list the hot path here: {offenders}"
    )


def test_every_hot_path_says_why_it_uses_core() -> None:
    modules = _modules()
    silent = [m for m in HOT_PATHS if not explains_core(modules[m])]
    assert not silent, f"hot paths without a comment saying why they use Core: {silent}"


def test_the_allow_lists_name_modules_that_still_need_them() -> None:
    modules = _modules()
    gone = [m for m in (*HOT_PATHS, *DECLARES) if m not in modules]
    unused = [m for m in HOT_PATHS if m in modules and not table_uses(modules[m])]
    assert not gone, f"allow-listed modules that do not exist: {gone}"
    assert not unused, f"hot paths no longer using Core (take them off HOT_PATHS): {unused}"


def test_the_check_sees_a_use_and_ignores_words() -> None:
    source = (
        '"""Not `Customer.__table__` in a docstring."""\n'
        "# nor Customer.__table__ in a comment\n"
        "t = Customer.__table__.c\n"
        "text = 'Customer.__table__'\n"
        "update(Delivery.__table__)\n"
    )
    assert table_uses(source) == [3, 5]
    assert explains_core('"""Core statements on purpose."""\nx = 1\n')
    assert explains_core("x = 1\n# Core on purpose: the hot path\n")
    assert not explains_core('"""Entity statements."""\nx = "Core"\n')
