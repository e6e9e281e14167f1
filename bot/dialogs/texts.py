"""The words customers read from the bot: help, points, linking, receipts.

Kept apart from the handlers so the texts can be read (and reviewed) as one
piece, and so tests can compare answers with the very strings sent.
"""

from __future__ import annotations

from rapport.crm.customers.linking import CODE_LIFETIME, LinkOutcome, LinkStatus
from rapport.crm.value.loyalty import Standing

COMMANDS = (
    ("start", "welcome and choose whether to get our offers"),
    ("help", "what I can do"),
    ("feedback", "tell us what you think"),
    ("points", "your loyalty points"),
    ("link", "link this chat to the email address you use with us"),
    ("stop", "stop offers and news"),
)


HELP = "You can write to us here any time; a person reads every message.\n\n" + "\n".join(
    f"/{name} – {what}" for name, what in COMMANDS
)


def points_text(now: Standing) -> str:
    """The /points answer: balance, tier, and how far the next tier is."""
    lines = [f"You have {now.balance:,} points. Your tier: {now.tier.title()}."]
    if now.next_tier is not None:
        missing = now.next_tier.threshold - now.earned_this_year
        lines.append(
            f"Earn {missing:,} more points within 12 months to reach {now.next_tier.name.title()}."
        )
    return "\n".join(lines)


TEXT_ONLY = (
    "Sorry, I can only read text for now. Please tell me in words what you would like, "
    "or add a caption to your photo."
)


ACKNOWLEDGEMENT = "Thank you for your message! We have received it and will answer here soon."


_MINUTES = int(CODE_LIFETIME.total_seconds() // 60)


LINK_OFFER = (
    "Already a customer by email? Send /link you@example.com and we'll keep one history "
    "(and one points balance) for you."
)


LINK_USAGE = (
    "To link this chat to the email address you use with us, send /link and the address, "
    "e.g. /link you@example.com. We'll email you a 6-digit code to send back here."
)


LINK_UNAVAILABLE = (
    "Sorry, linking this chat to an email address is not available at the moment. "
    "You can still write to us here."
)


LINK_BAD_ADDRESS = "That does not look like an email address. Send e.g. /link you@example.com."


CODE_SENT = (
    "If that address is one we know, we have just emailed it a 6-digit code. "
    f"Send the code here within {_MINUTES} minutes (or /cancel)."
)


LINK_ANSWERS = {
    LinkStatus.LINKED: (
        "Done: this chat is now linked to your account. Your history and points are in one "
        "place now (see /points)."
    ),
    LinkStatus.ALREADY_LINKED: "This chat is already linked to your account.",
    LinkStatus.EXPIRED: "That code has expired. Send /link you@example.com for a new one.",
    LinkStatus.NO_CODE: (
        "There is no code waiting for this chat. Send /link you@example.com to get one."
    ),
}


LINK_BUSY = (
    "We are sending you a message right now; please send the code again in a minute "
    "(it is still valid)."
)


LINK_FAILED = "Sorry, this chat could not be linked. Please write to us here and we'll help."


WRONG_CODE = "That code is not right. You can try {left} more time(s)."


DEAD_CODE = (
    "That code is not right, and it can no longer be used. "
    "Send /link you@example.com for a new one."
)


def link_mail(business: str, code: str) -> str:
    """The mail with the code: nothing from the chat (a Telegram name is the sender's to choose)."""
    return (
        f"Hello,\n\nSomeone asked to link a Telegram chat to this email address at {business}. "
        f"If that was you, send this code to our bot within {_MINUTES} minutes:\n\n"
        f"    {code}\n\n"
        "If it was not you, ignore this email: nothing changes without the code.\n"
    )


def link_answer(outcome: LinkOutcome) -> str:
    if outcome.status is LinkStatus.WRONG:
        return WRONG_CODE.format(left=outcome.tries_left) if outcome.tries_left else DEAD_CODE
    return LINK_ANSWERS[outcome.status]
