"""Plain templates render in the process; anything that could loop still goes to the worker.

Nearly every campaign is "Hi {{ first_name }}, …": text, names, a condition
or a simple filter. Such a template cannot run long or grow large, so it is
rendered without the round trip to the bounded worker
(rapport.crm.campaigns.bounded), and must say exactly what the worker says.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rapport.crm.campaigns import bounded
from rapport.crm.campaigns.bounded import BoundedRenderer, TemplateLimit
from rapport.crm.campaigns.templates import (
    SAMPLE_CONTEXT,
    TemplateProblem,
    is_plain,
    render,
    shows_points,
)

SAMPLE_OUTPUTS = {
    "Hi {{ first_name }}, thanks for shopping at {{ business }}!": (
        "Hi Ann, thanks for shopping at Rapport!"
    ),
    "Hi {{ name | upper }}, you have {{ points }} points.": "Hi ANN, you have 120 points.",
    "Hi {{ first_name | default('there') }}": "Hi Ann",
    "{% if points > 100 %}A treat awaits{% else %}Keep going{% endif %}, {{ name }}": (
        "A treat awaits, Ann"
    ),
    "{{ offer_code if offer_code else 'no code' }}": "WELCOME10",
}
PLAIN = list(SAMPLE_OUTPUTS)
NOT_PLAIN = [
    "{% for i in range(3) %}x{% endfor %}",
    "{{ name * 3 }}",
    "{{ name.upper() }}",
    "{{ name | replace('a', 'b') }}",
    "{% set x = name %}{{ x }}",
    "{{ points ** 8 }}",
    "{% macro m() %}{% endmacro %}",
]


class _NoWorker(BoundedRenderer):
    def render(self, source: str, context: Any, *, time_limit: float | None = None) -> str:
        raise AssertionError(f"the worker was asked to render {source!r}")


@pytest.fixture
def no_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bounded, "_renderer", _NoWorker())


@pytest.mark.parametrize("source", PLAIN)
def test_plain_templates_are_recognised(source: str) -> None:
    assert is_plain(source)


@pytest.mark.parametrize("source", NOT_PLAIN)
def test_templates_that_could_loop_or_grow_are_not(source: str) -> None:
    assert not is_plain(source)


@pytest.mark.usefixtures("no_worker")
@pytest.mark.parametrize("source", PLAIN)
def test_a_plain_template_renders_without_the_worker(source: str) -> None:
    assert render(source, SAMPLE_CONTEXT) == SAMPLE_OUTPUTS[source]


@pytest.mark.usefixtures("no_worker")
def test_a_plain_template_keeps_the_output_bound_and_strict_names() -> None:
    with pytest.raises(TemplateLimit, match="longer than 20,000 characters"):
        render("{{ name }}" * 200, {**SAMPLE_CONTEXT, "name": "W" * 200})
    with pytest.raises(TemplateProblem, match="'nickname' is undefined"):
        render("Hi {{ nickname }}", SAMPLE_CONTEXT)


def test_a_template_that_loops_still_goes_to_the_worker(no_worker: None) -> None:
    with pytest.raises(AssertionError, match="the worker was asked"):
        render("{% for i in range(2) %}{{ name }}{% endfor %}", SAMPLE_CONTEXT)


names = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=200)


@settings(max_examples=60, deadline=None)
@given(name=names, points=st.integers(-(10**9), 10**9), which=st.sampled_from(PLAIN))
def test_in_process_and_worker_say_the_same(name: str, points: int, which: str) -> None:
    context = {**SAMPLE_CONTEXT, "name": name, "first_name": name.split(" ")[0], "points": points}
    assert render(which, context) == bounded.renderer().render(which, context)


@pytest.mark.parametrize(
    ("source", "shows"),
    [
        ("You have {{ points }} points", True),
        ("{% if points > 100 %}a treat{% endif %}", True),
        ("You earned {{ points_awarded }} points", False),
        ("Hi {{ first_name }}", False),
        ("{% for %}", True),  # does not compile: read the balance, to be safe
    ],
)
def test_the_balance_is_read_only_for_templates_that_show_it(source: str, shows: bool) -> None:
    assert shows_points(source) is shows
