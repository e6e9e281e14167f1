"""Sentiment of customer text behind one small interface.

Callers only see `SentimentAnalyser.assess(text) -> Assessment`; the engine
behind it can change without touching them. Text the engine cannot judge is
*unscored* (polarity None), never a fake 0.0 that would drag averages toward
neutral: today that is every language but English (see docs/sentiment.md for
what was tried for Chinese).

`RapportAnalyser` (the default) is TextBlob's pattern analyser made fit for
customer chat and mail. It scores with pattern's own lexicon and its rule —
the polarity of a text is the mean over the sentiment words found, a
negation flips a word, an intensifier scales it — and adds a documented
adjustment layer whose data lives in `rapport.crm.sentiment.lexicon`:

1. Tokens: words (contractions kept whole), emoji, text emoticons, runs of
   "!" and "?", clause punctuation.
2. Phrases before words: "still waiting", "no reply", "thank you so much",
   "never again", "can't fault" are scored as units, and their words are
   not scored again.
3. Lexicon: pattern's scores, corrected and extended for shop talk
   (`WORDS`), plus emoji and emoticons.
4. Negation reaches back up to `NEGATION_SCOPE` tokens inside the clause;
   a negated positive word flips harder than a negated negative one.
5. Intensifiers and downtoners scale the next sentiment word.
6. A shouted word (capitals inside mixed-case text) or a shouted message
   is boosted; "!!" amplifies its clause; "??" adds impatience.
7. After "but" the customer says what they mean: later clauses weigh more.

It reads pattern's lexicon file straight from the installed `textblob`
package rather than importing textblob, which would pull in NLTK (about 2 s).
"""

from __future__ import annotations

import importlib.util
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol
from xml.etree import ElementTree

from rapport.crm.sentiment import lexicon as lex
from rapport.crm.sentiment.language import detect_language

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


class TextBlobAnalyser:
    """TextBlob's default (pattern) analyser, unchanged, on English text."""

    def assess(self, text: str) -> Assessment:
        if detect_language(text) != "en":
            return UNSCORED
        polarity, subjectivity = _pattern()(text)
        return Assessment(language="en", polarity=polarity, subjectivity=subjectivity)


# --- Rapport's scorer ---

_EMOJI_CHARS = (
    "\U0001f300-\U0001faff\u2600-\u27bf\u2b00-\u2bff\u2300-\u23ff\u2190-\u21ff\u3030\u303d"
)
_MODIFIERS = "\ufe0f\ufe0e\u200d\U0001f3fb-\U0001f3ff"


def _token_pattern() -> re.Pattern[str]:
    """Emoticons (standing apart), emoji with their modifiers, words, "!" and "?"
    runs, clause punctuation; the first character tells the kinds apart."""
    emoticons = "|".join(re.escape(e) for e in sorted(lex.EMOTICONS, key=len, reverse=True))
    return re.compile(
        rf"(?<![^\s(])(?:{emoticons})(?=$|[\s.,!?)])"
        rf"|[{_EMOJI_CHARS}][{_MODIFIERS}]*"
        r"|[^\W\d_]+(?:'[^\W\d_]+)*"
        r"|!+|\?+|[.,;:]"
    )


_TOKEN = _token_pattern()
_CLAUSE_MARKS = frozenset("!?.,;:")


def _is_word(token: str) -> bool:
    return token[0].isalpha() and token not in lex.EMOTICONS


def _is_symbol(token: str) -> bool:
    return token in lex.EMOTICONS or not (token[0].isalpha() or token[0] in _CLAUSE_MARKS)


_STRIP_MODIFIERS = str.maketrans("", "", "\ufe0f\ufe0e\u200d")
_MAX_PHRASE = max(len(p.split()) for p in lex.PHRASES)
_PHRASES = {tuple(p.split()): score for p, score in lex.PHRASES.items()}
_PHRASE_STARTS = frozenset(p[0] for p in _PHRASES)


def _pattern_lexicon_path() -> Path:
    spec = importlib.util.find_spec("textblob")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("textblob is not installed; its lexicon is Rapport's base")
    return Path(next(iter(spec.submodule_search_locations))) / "en" / "en-sentiment.xml"


@cache
def _lexicon() -> dict[str, tuple[float, float]]:
    """Pattern's word scores averaged over senses and parts of speech, as pattern
    does for untagged text, with Rapport's corrections on top; intensifiers are
    rules here, not opinions."""
    senses: dict[str, dict[str | None, list[tuple[float, float]]]] = {}
    for w in ElementTree.parse(_pattern_lexicon_path()).getroot().iter("word"):
        form = w.get("form")
        if form:
            senses.setdefault(form, {}).setdefault(w.get("pos"), []).append(
                (float(w.get("polarity", 0.0)), float(w.get("subjectivity", 0.0)))
            )
    scores: dict[str, tuple[float, float]] = {}
    for form, by_pos in senses.items():
        per_pos = [
            (sum(p for p, _ in v) / len(v), sum(s for _, s in v) / len(v)) for v in by_pos.values()
        ]
        scores[form] = (
            sum(p for p, _ in per_pos) / len(per_pos),
            sum(s for _, s in per_pos) / len(per_pos),
        )
    for word in lex.INTENSIFIERS:
        scores.pop(word, None)
    scores.update(lex.WORDS)
    return {w: s for w, s in scores.items() if s != (0.0, 0.0)}


class RapportAnalyser:
    """Pattern's lexicon and rule with the customer-chat adjustments above."""

    def assess(self, text: str) -> Assessment:
        language = detect_language(text)
        if language is None:
            # No language to read (no words, or none fastText can place):
            # emoji and emoticons are a verdict of their own ("👍").
            symbols = self._score(text, symbols_only=True)
            return symbols if symbols is not None else UNSCORED
        if language != "en":
            return Assessment(language=language, polarity=None, subjectivity=None)
        scored = self._score(text, symbols_only=False)
        return scored or Assessment(language="en", polarity=0.0, subjectivity=0.0)

    def _score(self, text: str, *, symbols_only: bool) -> Assessment | None:
        lexicon = _lexicon()
        tokens = _TOKEN.findall(text.replace("’", "'"))
        if symbols_only:
            tokens = [t for t in tokens if not _is_word(t)]
            if not any(_is_symbol(t) for t in tokens):
                return None
        words = [t for t in tokens if len(t) > 1 and _is_word(t)]
        shouted_text = len(words) >= 2 and all(t.isupper() for t in words)
        lowered = [t.lower() for t in tokens]

        hits: list[tuple[float, float, int]] = []  # polarity, subjectivity, clause
        clause = clause_start = 0
        bangs: dict[int, int] = {}
        contrast_at: int | None = None
        i, count = 0, len(tokens)
        while i < count:
            token, low = tokens[i], lowered[i]
            first = token[0]
            score: tuple[float, float] | None = None
            width = 1
            if token in lex.EMOTICONS:
                score = lex.EMOTICONS[token]
            elif first in _CLAUSE_MARKS:
                if first == "!":
                    bangs[clause] = bangs.get(clause, 0) + len(token)
                elif first == "?" and len(token) > 1:
                    hits.append((*lex.REPEATED_QUESTION, clause))
                clause += 1
                clause_start = i + 1
            elif first.isalpha():
                if low in _PHRASE_STARTS:
                    for n in range(min(_MAX_PHRASE, count - i), 1, -1):
                        score = _PHRASES.get(tuple(lowered[i : i + n]))
                        if score is not None:
                            width = n
                            break
                if score is None:
                    score = lexicon.get(low)
                if score is not None:
                    polarity = _modified(score[0], lowered, clause_start, i)
                    if not shouted_text and len(token) > 1 and token.isupper():
                        polarity *= lex.SHOUTED_WORD
                    score = (polarity, score[1])
                elif low in lex.CONTRAST_WORDS:
                    clause += 1
                    clause_start = i + 1
                    contrast_at = clause
            else:
                score = lex.EMOJI.get(_bare_emoji(token))
            if score is not None:
                polarity = score[0] * lex.SHOUTED_TEXT if shouted_text else score[0]
                hits.append((polarity, score[1], clause))
            i += width

        if not hits:
            return None
        total = weight_sum = subjectivity_sum = 0.0
        for polarity, subjectivity, at in hits:
            if at in bangs:
                polarity *= 1 + lex.EXCLAMATION_STEP * min(bangs[at], lex.EXCLAMATION_MAX)
            weight = 1.0
            if contrast_at is not None:
                weight = lex.AFTER_CONTRAST if at >= contrast_at else lex.BEFORE_CONTRAST
            total += weight * max(-1.0, min(1.0, polarity))
            subjectivity_sum += weight * subjectivity
            weight_sum += weight
        return Assessment(
            language=None if symbols_only else "en",
            polarity=round(max(-1.0, min(1.0, total / weight_sum)), 4),
            subjectivity=round(min(1.0, subjectivity_sum / weight_sum), 4),
        )


def _modified(polarity: float, lowered: list[str], start: int, at: int) -> float:
    """Apply the intensifier right before a word and a negation within reach."""
    if at > start and lowered[at - 1] in lex.INTENSIFIERS:
        polarity *= lex.INTENSIFIERS[lowered[at - 1]]
    for j in range(at - 1, max(start, at - lex.NEGATION_SCOPE) - 1, -1):
        if lowered[j] in lex.NEGATIONS or lowered[j].endswith("n't"):
            factor = lex.NEGATED_POSITIVE if polarity > 0 else lex.NEGATED_NEGATIVE
            return polarity * factor
    return polarity


def _bare_emoji(token: str) -> str:
    stripped = token.translate(_STRIP_MODIFIERS)
    return "".join(ch for ch in stripped if not "\U0001f3fb" <= ch <= "\U0001f3ff")


default_analyser: SentimentAnalyser = RapportAnalyser()
