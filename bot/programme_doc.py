"""Write docs/programmes.md from the programme templates, so the guide cannot drift.

Run: python -m rapport.bot.programme_doc
(tests/bot/programme_doc/test_programme_doc.py fails when it is stale)
"""

from __future__ import annotations

import json
from pathlib import Path

from rapport.crm.campaigns.programmes import Step, list_programmes
from rapport.crm.segments.rules import describe, parse_rule

DOC = Path(__file__).resolve().parent.parent / "docs" / "programmes.md"


def _campaign_lines(step: Step) -> list[str]:
    spec = step.campaign
    action = []
    if spec.survey_kind:
        action.append(f"survey `{spec.survey_kind}`")
    if spec.points:
        action.append(f"awards {spec.points} points")
    if spec.offer_code:
        action.append(f"offer `{spec.offer_code}` valid {spec.offer_valid_days} days")
    return [
        f"- campaign **{spec.name}** ({spec.kind}; cron `{spec.schedule_cron}`; channel "
        f"`{spec.channel}`{'; ' + ', '.join(action) if action else ''})",
        f"  - subject: {spec.subject}" if spec.subject else "",
        f"  - message: `{spec.template}`",
    ]


def render() -> str:
    lines = [
        "# Programme templates",
        "",
        "Generated from `crm/campaigns/programmes.py` by `python -m rapport.bot.programme_doc`;",
        "do not edit by hand. How to install, edit and start them: [campaigns.md](campaigns.md).",
        "",
        "`rapport programmes install NAME` creates each step's segment and campaign,",
        "paused; `rapport campaigns edit` adapts them and `rapport campaigns resume`",
        "starts them. Cron times are in the campaign's time zone (RAPPORT_TIMEZONE",
        "unless `--timezone` is given).",
        "",
        "| name | programme | competency standard |",
        "|---|---|---|",
    ]
    programmes = list_programmes()
    lines += [f"| `{p.name}` | {p.title} | {p.competency} |" for p in programmes]
    for p in programmes:
        lines += ["", f"## `{p.name}`: {p.title}", "", p.description, ""]
        lines.append(f"Serves: {p.competency}.")
        for step in p.steps:
            rule = json.dumps(step.rule, ensure_ascii=False)
            lines += [
                "",
                f"- segment **{step.segment}**: {describe(parse_rule(step.rule))}",
                f"  - rule: `{rule}`",
                *(line for line in _campaign_lines(step) if line),
            ]
    return "\n".join(lines) + "\n"


def main() -> None:
    DOC.write_text(render(), encoding="utf-8")
    print(f"wrote {DOC}")


if __name__ == "__main__":
    main()
