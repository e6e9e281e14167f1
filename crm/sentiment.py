"""Sentiment of customer text behind one small interface.

Callers only see `SentimentAnalyser.assess(text) -> Assessment`; the engine
behind it can change (issue: language-aware, emoji-aware scoring) without
touching them. Text the engine cannot judge is *unscored* (polarity None),
never a fake 0.0 that would drag averages toward neutral.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from typing import Any, Protocol

_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?")

# Frequent English function words: one of them (or a lexicon word in a very
# short text) is what makes us trust that a text is English at all.
_ENGLISH_FUNCTION_WORDS = frozenset(
    """a about after again all am an and any are as at be been but by can
    could did do does don't for from had has have he her here him his how i
    i'm if in is it it's just me my no not now of on or our please so still
    than thank thanks that the their them then there they this to too us
    very was we were what when where which who why will with would you your
    ok okay hi hello yes""".split()
)


@cache
def _pattern() -> Any:
    """TextBlob's pattern analyser, imported on first use: importing textblob
    pulls in NLTK (about 2 s), which CLI commands that never score text skip."""
    from textblob.en import sentiment

    return sentiment


@dataclass(frozen=True, slots=True)
class Assessment:
    """The verdict on one text: a language guess and, if English, the scores."""

    language: str | None
    polarity: float | None
    subjectivity: float | None

    @property
    def scored(self) -> bool:
        return self.polarity is not None


UNSCORED = Assessment(language=None, polarity=None, subjectivity=None)


class SentimentAnalyser(Protocol):
    def assess(self, text: str) -> Assessment: ...


def english_words(text: str) -> list[str] | None:
    """The text's words if it reads as English, else None.

    A cheap test on purpose (ingest runs it on every message): mostly ASCII
    letters, and an English function word, or a sentiment word when the text
    is only one or two words long ("thanks!", "awful").
    """
    words = _WORD.findall(text.lower())
    if not words:
        return None
    letters = "".join(words)
    ascii_share = sum(ch.isascii() for ch in letters) / len(letters)
    if ascii_share < 0.9:
        return None
    if any(w in _ENGLISH_FUNCTION_WORDS for w in words):
        return words
    if len(words) <= 2 and any(w in _pattern() for w in words):
        return words
    return None


class TextBlobAnalyser:
    """TextBlob's default (pattern) analyser, on English text only."""

    def assess(self, text: str) -> Assessment:
        if english_words(text) is None:
            return UNSCORED
        polarity, subjectivity = _pattern()(text)
        return Assessment(language="en", polarity=polarity, subjectivity=subjectivity)


default_analyser: SentimentAnalyser = TextBlobAnalyser()
