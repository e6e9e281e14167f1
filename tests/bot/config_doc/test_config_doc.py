"""docs/configuration.md is generated from the settings object and must be current."""

from __future__ import annotations

from rapport.bot.config_doc import DOC, render
from rapport.crm.settings import Settings


def test_configuration_reference_is_current() -> None:
    assert DOC.read_text(encoding="utf-8") == render(), "run: python -m rapport.bot.config_doc"


def test_every_setting_is_documented() -> None:
    text = render()
    for name, field in Settings.model_fields.items():
        assert f"`RAPPORT_{name.upper()}`" in text
        assert field.description, f"setting {name} has no description"
