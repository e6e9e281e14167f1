"""VADER's lexicon and rules, applied to Rapport's tokens in one pass.

vaderSentiment (MIT) ships a crowd-rated lexicon of about 7,500 words,
emoticons and slang (valence −4 … +4) and the rules of Hutto & Gilbert
(2014). Its constants are imported from the package; the lexicon file is read
from it. The rules are re-applied here over the tokens the other scorers use,
so a text is split once and no per-call lists are rebuilt (vaderSentiment's
own `polarity_scores` runs at about a third of the speed):

- boosters and dampeners up to three words back (damped with distance), a
  booster in capitals counts more;
- a negation up to three words back scales the valence by −0.74 ("never so"
  boosts instead); "no" before a lexicon word negates it;
- a word in capitals inside mixed-case text adds 0.733;
- after the first "but", valences weigh 1.5, before it 0.5;
- "!" (up to four) and "??" add emphasis; the sum is normalised to −1 … +1
  by s / √(s² + 15).

Rapport's customer-chat corrections apply here too: the words
`lexicon.WORDS` marks as neutral in a shop, and `lexicon.VADER_NEUTRAL`
(request words VADER rates as opinions: "please", "help", "yes").
"""

from __future__ import annotations

import importlib.util
import math
from functools import cache
from pathlib import Path

from rapport.crm.sentiment import lexicon as lex
from rapport.crm.sentiment.tokens import CLAUSE_MARKS


@cache
def _constants() -> tuple[dict[str, float], frozenset[str], float, float, float]:
    from vaderSentiment import vaderSentiment as vs

    return vs.BOOSTER_DICT, frozenset(vs.NEGATE), vs.B_INCR, vs.C_INCR, vs.N_SCALAR


@cache
def valences() -> dict[str, float]:
    spec = importlib.util.find_spec("vaderSentiment")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("vaderSentiment is not installed; Rapport reads its lexicon")
    path = Path(next(iter(spec.submodule_search_locations)), "vader_lexicon.txt")
    scores: dict[str, float] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        parts = line.split("\t")
        if len(parts) >= 2:
            scores[parts[0]] = float(parts[1])
    scores = {w: v for w, v in scores.items() if abs(v) > lex.VADER_WEAKEST}
    for word, (polarity, _) in lex.WORDS.items():
        if polarity == 0.0:
            scores.pop(word, None)
    for word in lex.VADER_NEUTRAL:
        scores.pop(word, None)
    return scores


def _negates(word: str, negations: frozenset[str]) -> bool:
    return word in negations or "n't" in word


def compound(tokens: list[str], lowered_tokens: list[str] | None = None) -> float:
    """VADER's compound score of the tokens (0.0 when no lexicon word is found)."""
    boosters, negations, _, cap_increase, negation_scalar = _constants()
    lexicon = valences()
    if lowered_tokens is None:
        lowered_tokens = [t.lower() for t in tokens]
    kept = [i for i, t in enumerate(tokens) if t[0] not in CLAUSE_MARKS]
    words = [tokens[i] for i in kept]
    lowered = [lowered_tokens[i] for i in kept]
    capitals = sum(w.isupper() for w in words)
    cap_differential = 0 < len(words) - capitals < len(words)
    sentiments: list[float] = []
    for i, low in enumerate(lowered):
        valence = lexicon.get(low)
        if valence is None or low in boosters:
            sentiments.append(0.0)
            continue
        if low == "like" and i and lowered[i - 1] in lex.REQUEST_BEFORE_LIKE:
            sentiments.append(0.0)  # "I'd like to change my order"
            continue
        if low == "no" and i + 1 < len(lowered) and lowered[i + 1] in lexicon:
            valence = 0.0
        if (i > 0 and lowered[i - 1] == "no") or (i > 1 and lowered[i - 2] == "no"):
            valence = lexicon[low] * negation_scalar
        if cap_differential and words[i].isupper():
            valence += cap_increase if valence > 0 else -cap_increase
        for back in range(3):
            if i <= back:
                break
            before = lowered[i - back - 1]
            if before in lexicon:
                continue
            scalar = boosters.get(before, 0.0)
            if scalar:
                scalar = -scalar if valence < 0 else scalar
                if cap_differential and words[i - back - 1].isupper():
                    scalar += cap_increase if valence > 0 else -cap_increase
                valence += scalar * (1.0, 0.95, 0.9)[back]
            if back and lowered[i - back - 1] == "never" and lowered[i - back] in ("so", "this"):
                valence *= 1.25
            elif _negates(before, negations):
                valence *= negation_scalar
        if i > 0 and lowered[i - 1] == "least" and (i < 2 or lowered[i - 2] not in ("at", "very")):
            valence *= negation_scalar
        sentiments.append(valence)
    if "but" in lowered:
        at = lowered.index("but")
        sentiments = [s * 0.5 if j < at else s * 1.5 for j, s in enumerate(sentiments)]
    total = sum(sentiments)
    if total == 0.0:
        return 0.0
    total += math.copysign(_punctuation_emphasis(tokens), total)
    return max(-1.0, min(1.0, total / math.sqrt(total * total + 15)))


def _punctuation_emphasis(tokens: list[str]) -> float:
    bangs = sum(len(t) for t in tokens if t[0] == "!")
    questions = sum(len(t) for t in tokens if t[0] == "?")
    emphasis = min(bangs, 4) * 0.292
    if questions > 1:
        emphasis += questions * 0.18 if questions <= 3 else 0.96
    return emphasis
