"""docs/programmes.md is generated from the programme templates and must be current."""

from __future__ import annotations

from rapport.bot.programme_doc import DOC, render
from rapport.crm.campaigns.programmes import list_programmes


def test_programme_guide_is_current() -> None:
    assert DOC.read_text(encoding="utf-8") == render(), "run: python -m rapport.bot.programme_doc"


def test_every_programme_and_campaign_is_in_the_guide() -> None:
    text = render()
    for programme in list_programmes():
        assert f"## `{programme.name}`" in text
        for step in programme.steps:
            assert step.campaign.name in text and step.segment in text
