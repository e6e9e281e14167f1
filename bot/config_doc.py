"""Write docs/configuration.md from the Settings object, so the reference cannot drift.

Run: python -m rapport.bot.config_doc
(tests/bot/config_doc/test_config_doc.py fails when it is stale)
"""

from __future__ import annotations

from pathlib import Path

from pydantic import SecretStr

from rapport.crm.settings import Settings

DOC = Path(__file__).resolve().parent.parent / "docs" / "configuration.md"


def _default(field_name: str) -> str:
    field = Settings.model_fields[field_name]
    value = field.default
    if value is None:
        return "—"
    if isinstance(value, SecretStr):
        return "(secret)"
    return f"`{getattr(value, 'value', value)}`"


def render() -> str:
    lines = [
        "# Configuration reference",
        "",
        "Generated from `crm/settings.py` by `python -m rapport.bot.config_doc`; "
        "do not edit by hand.",
        "",
        "Every setting is an environment variable with the prefix `RAPPORT_`, or a line",
        "in a `.env` file in the working directory (the environment wins). A bad value",
        "stops Rapport with one line naming the variable. A `RAPPORT_*` name that is no",
        "setting (a typo such as `RAPPORT_TIMEZOEN`) is warned of with the nearest one.",
        "",
        "| variable | default | meaning |",
        "|---|---|---|",
    ]
    for name, field in Settings.model_fields.items():
        meaning = (field.description or "").replace("|", "\\|")
        lines.append(f"| `RAPPORT_{name.upper()}` | {_default(name)} | {meaning} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    DOC.write_text(render(), encoding="utf-8")
    print(f"wrote {DOC}")


if __name__ == "__main__":
    main()
