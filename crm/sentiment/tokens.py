"""One tokeniser for every scorer, so a text is split once and read three ways.

Tokens are words (contractions kept whole), emoji with their modifiers, text
emoticons standing apart, runs of "!" and "?", and clause punctuation; the
first character tells the kinds apart. @handles and links are dropped before
splitting: "@united" is an address, not the word "united" (VADER scores it
+1.8), and a URL's words are no opinion.
"""

from __future__ import annotations

import re

from rapport.crm.sentiment import lexicon as lex

_EMOJI_CHARS = (
    "\U0001f300-\U0001faff\u2600-\u27bf\u2b00-\u2bff\u2300-\u23ff\u2190-\u21ff\u3030\u303d"
)
_MODIFIERS = "\ufe0f\ufe0e\u200d\U0001f3fb-\U0001f3ff"
_STRIP_MODIFIERS = str.maketrans("", "", "\ufe0f\ufe0e\u200d")
_ADDRESSES = re.compile(r"@\w+|https?://\S+|www\.\S+")

CLAUSE_MARKS = frozenset("!?.,;:")


def _token_pattern() -> re.Pattern[str]:
    emoticons = "|".join(re.escape(e) for e in sorted(lex.EMOTICONS, key=len, reverse=True))
    return re.compile(
        rf"(?<![^\s(])(?:{emoticons})(?=$|[\s.,!?)])"
        rf"|[{_EMOJI_CHARS}][{_MODIFIERS}]*"
        r"|[^\W\d_]+(?:'[^\W\d_]+)*"
        r"|!+|\?+|[.,;:]"
    )


_TOKEN = _token_pattern()


def tokenize(text: str) -> list[str]:
    """The tokens of `text`, curly apostrophes straightened, addresses dropped."""
    text = text.replace("’", "'")
    if "@" in text or "://" in text or "www." in text:
        text = _ADDRESSES.sub(" ", text)
    return _TOKEN.findall(text)


def is_word(token: str) -> bool:
    return token[0].isalpha() and token not in lex.EMOTICONS


def is_symbol(token: str) -> bool:
    """An emoji or an emoticon: a verdict without words ("👍", ":(")."""
    return token in lex.EMOTICONS or not (token[0].isalpha() or token[0] in CLAUSE_MARKS)


def bare_emoji(token: str) -> str:
    """The emoji without variation selectors, joiners or skin tones, as EMOJI keys it."""
    stripped = token.translate(_STRIP_MODIFIERS)
    return "".join(ch for ch in stripped if not "\U0001f3fb" <= ch <= "\U0001f3ff")
