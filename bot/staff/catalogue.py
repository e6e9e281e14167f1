"""docs/staff-commands.md, generated from the registry so the doc and the bot cannot drift.

`python -m rapport.bot.staff.catalogue > docs/staff-commands.md`; a test checks
the file is current.
"""

from __future__ import annotations

from rapport.bot import charts, exports
from rapport.bot.staff.registry import COMMANDS
from rapport.crm.staff.roles import ROLE_PERMISSIONS


def commands_markdown() -> str:
    """docs/staff-commands.md, generated from the registry."""
    roles = ROLE_PERMISSIONS
    lines = [
        "# Staff commands in Telegram",
        "",
        "Generated from `bot/staff/registry.py` (`COMMANDS`) by "
        "`python -m rapport.bot.staff.catalogue > docs/staff-commands.md`; "
        "a test checks it is current.",
        "",
        "Register staff with "
        "`rapport staff add --name … --telegram-id … --role agent|manager|admin`. "
        'Anyone else who sends these commands gets the customer bot\'s "unknown command" reply; '
        "a role without the permission gets a clear refusal.",
        "",
        "| command | what it does | needs | " + " | ".join(roles) + " |",
        "|---|---|---|" + "---|" * len(roles),
    ]
    for c in COMMANDS:
        need = "any staff" if c.permission is None else str(c.permission)
        marks = [
            "yes" if c.permission is None or c.permission in perms else "no"
            for perms in roles.values()
        ]
        usage = f"/{c.name} {c.usage}".rstrip().replace("|", "\\|")
        lines.append(f"| `{usage}` | {c.help} | {need} | " + " | ".join(marks) + " |")
    lines += [
        "",
        "Lists longer than one message (`/segments`, `/campaigns`, `/audit`, `/conversations`, "
        "`/followups`) "
        "have previous/next "
        "buttons. Exports: "
        + "; ".join(f"`{k}` ({v})" for k, v in exports.EXPORTS.items())
        + ". Charts: "
        + "; ".join(f"`{k}` ({v})" for k, v in charts.CHARTS.items())
        + ". Figures are defined in [reports.md](reports.md).",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    print(commands_markdown(), end="")
