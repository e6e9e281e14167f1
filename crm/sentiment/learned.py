"""Word and word-pair weights learned from VADER's human-rated sentences.

vaderSentiment's source distribution (PyPI, MIT) ships the ground truth of
Hutto & Gilbert (2014): about 20,000 tweets, product-review, film-review and
editorial snippets, each rated by about 20 people. `benchmarks/sentiment_train.py`
turns the tuning half of them into `data/en_model.json`: a naive-Bayes log-count
ratio for every word and word pair seen at least twice (a word after a
negation is a different feature: "not_good"), each source's positives and
negatives weighed alike so a source's style is not read as sentiment. The
same file holds how the three scorers are combined (`scoring.py`).

Lexicons miss what reviewers actually write ("waste", "refund", "returned",
"fell apart", "works great"); these weights are where the scorer learns it,
and the lexicon scorers still carry the rules (negation, intensity, emoji).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from itertools import pairwise, repeat

from rapport.crm.sentiment import lexicon as lex
from rapport.crm.sentiment.tokens import CLAUSE_MARKS, bare_emoji

MODEL_FILE = "en_model.json"


@dataclass(frozen=True)
class Model:
    """The learned weights and the combination chosen with them."""

    features: dict[str, float]
    pattern_weight: float
    vader_weight: float
    learned_weight: float
    dead_zone: float  # learned evidence below this (in log-odds) counts as none
    learned_scale: float


@cache
def model() -> Model:
    raw = json.loads(
        resources.files("rapport.crm.sentiment").joinpath("data", MODEL_FILE).read_text("utf-8")
    )
    combination = raw["combination"]
    return Model(
        features=raw["features"],
        pattern_weight=combination["pattern"],
        vader_weight=combination["vader"],
        learned_weight=combination["learned"],
        dead_zone=combination["dead_zone"],
        learned_scale=combination["learned_scale"],
    )


def features(tokens: list[str], lowered: list[str] | None = None) -> set[str]:
    """Words (negation-marked to the end of the clause), emoji, and adjacent pairs."""
    if lowered is None:
        lowered = [t.lower() for t in tokens]
    marked: list[str] = []
    negated = False
    negations, emoticons = lex.NEGATIONS, lex.EMOTICONS
    for token, low in zip(tokens, lowered, strict=True):
        first = token[0]
        if first in CLAUSE_MARKS:
            negated = False
            marked.append(first)
            continue
        if token in emoticons or not first.isalpha():  # an emoticon or emoji
            marked.append(bare_emoji(token))
            continue
        if low in negations or low.endswith("n't"):
            negated = True
            marked.append(low)
        else:
            marked.append("not_" + low if negated else low)
    found = set(marked)
    found.update(f"{a} {b}" for a, b in pairwise(marked))
    return found


def log_odds(
    tokens: list[str], weights: dict[str, float], lowered: list[str] | None = None
) -> float:
    """Sum of the weights of the text's features: > 0 leans positive."""
    return sum(map(weights.get, features(tokens, lowered), repeat(0.0)))
