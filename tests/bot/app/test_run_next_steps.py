"""`rapport run` ends its start-up lines with what to do next (issue 24).

On the default set-up (no token, no outgoing mail) only the local mail
server runs, which is easy to miss: the last lines say how to try it and how
to set up the rest.
"""

from __future__ import annotations

from rapport.bot.app import next_steps
from rapport.crm.settings import load_settings


def test_the_default_set_up_says_how_to_try_it_and_what_to_set_up() -> None:
    settings = load_settings(inbound_smtp_port=2525)
    steps = next_steps(settings, ["web", "email-inbound-smtp", "dispatcher"], [])
    assert steps[0].startswith("try it: send a mail to port 2525 on 127.0.0.1")
    assert any("`rapport init`" in step and "RAPPORT_TELEGRAM_TOKEN" in step for step in steps)
    assert steps[-1].startswith("reports: `rapport report programmes`")


def test_with_telegram_on_there_is_nothing_to_set_up() -> None:
    settings = load_settings()
    steps = next_steps(settings, ["web", "telegram", "dispatcher"], ["email", "telegram"])
    assert not any("rapport init" in step for step in steps)
    assert not any(step.startswith("try it") for step in steps)
