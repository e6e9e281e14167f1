"""Build crm/sentiment/data/en_model.json from the tune half of VADER's rated data.

    python -m benchmarks.sentiment_data fetch
    python -m benchmarks.sentiment_train

Everything chosen here is chosen on the *tune* half (by a hash of the text) of
the four human-rated sets vaderSentiment's source distribution ships (MIT):

1. Learned weights: naive-Bayes log-count ratios (add-`ALPHA` smoothing) of the
   features in `rapport.crm.sentiment.learned.features`, over the rows rated
   clearly positive or negative, each source's two classes weighed equally;
   features seen fewer than `MIN_COUNT` times are dropped.
2. Combination weights a, b, c (pattern, VADER, learned; no intercept, so a
   text without evidence stays 0.0): logistic regression on out-of-fold
   readings (5 folds: each row read with weights learned without it).
3. The dead zone on the learned log-odds: the value in `DEAD_ZONES` whose
   combination gives the best three-class macro-F1 (neutral = mean rating
   within ±0.5) with Rapport's default ±0.1 neutral band.

Nothing from the sets judged in benchmarks/sentiment_eval.py (test halves,
Pang & Lee, airline, TweetEval, the project's sentences) is read.
"""

from __future__ import annotations

import argparse
import json
import math
from collections import Counter
from pathlib import Path

import numpy as np

from benchmarks.sentiment_data import DATA, VADER_SETS, Row, split_of, vader_rows
from rapport.crm.sentiment.learned import MODEL_FILE, Model, features
from rapport.crm.sentiment.scoring import Evidence, combined_logit, english_evidence
from rapport.crm.sentiment.tokens import tokenize

OUT = Path(__file__).parents[1] / "crm" / "sentiment" / "data" / MODEL_FILE
MIN_COUNT = 2
ALPHA = 1.0  # add-alpha smoothing of the (weighted) counts
FOLDS = 5
LEARNED_SCALE = 4.0
DEAD_ZONES = [0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 5.0, 6.0, 8.0, 10.0, 1000.0]
BAND = 0.1  # Settings().sentiment_positive_threshold / negative threshold


def naive_bayes(
    rows: list[tuple[set[str], str, str]], min_count: int = MIN_COUNT, alpha: float = ALPHA
) -> dict[str, float]:
    """Log-count ratios, each (source, class) given the same total weight."""
    mass = Counter((source, label) for _, label, source in rows)
    counts = {"positive": Counter[str](), "negative": Counter[str]()}
    seen = Counter[str]()
    for found, label, source in rows:
        weight = 1000.0 / mass[(source, label)]
        side = counts[label]
        for f in found:
            side[f] += weight
        seen.update(found)
    vocabulary = [f for f, n in seen.items() if n >= min_count]
    positive = sum(counts["positive"].values()) + alpha * len(vocabulary)
    negative = sum(counts["negative"].values()) + alpha * len(vocabulary)
    return {
        f: math.log((counts["positive"][f] + alpha) / positive)
        - math.log((counts["negative"][f] + alpha) / negative)
        for f in vocabulary
    }


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = 1e-3) -> np.ndarray:
    """Newton's method, no intercept."""
    beta = np.zeros(x.shape[1])
    for _ in range(50):
        p = 1 / (1 + np.exp(-x @ beta))
        gradient = x.T @ (p - y) + l2 * beta
        hessian = (x.T * (p * (1 - p))) @ x + l2 * np.eye(x.shape[1])
        beta -= np.linalg.solve(hessian, gradient)
    return beta


def macro_f1(gold: list[str], predicted: list[str]) -> float:
    f1s = []
    for label in ("positive", "neutral", "negative"):
        tp = sum(g == p == label for g, p in zip(gold, predicted, strict=True))
        fp = sum(p == label != g for g, p in zip(gold, predicted, strict=True))
        fn = sum(g == label != p for g, p in zip(gold, predicted, strict=True))
        f1s.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    return sum(f1s) / len(f1s)


def _band(polarity: float) -> str:
    return "positive" if polarity >= BAND else "negative" if polarity <= -BAND else "neutral"


def _model(weights: dict[str, float], beta: np.ndarray, dead_zone: float) -> Model:
    return Model(weights, float(beta[0]), float(beta[1]), float(beta[2]), dead_zone, LEARNED_SCALE)


def _columns(evidence: list[Evidence], dead_zone: float) -> np.ndarray:
    def squash(e: Evidence) -> float:
        zone = dead_zone if e.pattern is None and e.vader == 0.0 else 0.0
        return math.tanh(math.copysign(max(0.0, abs(e.learned) - zone), e.learned) / LEARNED_SCALE)

    return np.array([[e.pattern[0] if e.pattern else 0.0, e.vader, squash(e)] for e in evidence])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()

    tune: list[tuple[Row, str]] = [
        (row, name)
        for name in VADER_SETS
        for row in vader_rows(name, args.data)
        if split_of(row.text) == "tune"
    ]
    tokens = [tokenize(row.text) for row, _ in tune]
    found = [features(t) for t in tokens]
    opinion = [i for i, (row, _) in enumerate(tune) if row.label != "neutral"]
    print(f"tune rows: {len(tune)} ({len(opinion)} positive or negative)")

    evidence: list[Evidence | None] = [None] * len(tune)
    for fold in range(FOLDS):
        held = [i for i in range(len(tune)) if i % FOLDS == fold]
        weights = naive_bayes(
            [(found[i], tune[i][0].label, tune[i][1]) for i in opinion if i % FOLDS != fold]
        )
        for i in held:
            evidence[i] = english_evidence(tokens[i], weights)
    readings = [e for e in evidence if e is not None]
    gold = [row.label for row, _ in tune]
    y = np.array([1.0 if gold[i] == "positive" else 0.0 for i in opinion])

    best: tuple[float, float, np.ndarray] | None = None
    print(f"{'dead zone':>9} {'a':>6} {'b':>6} {'c':>6} {'binary acc':>10} {'3-class F1':>10}")
    for dead_zone in DEAD_ZONES:
        beta = fit_logistic(_columns([readings[i] for i in opinion], dead_zone), y)
        model = _model({}, beta, dead_zone)
        logits = [combined_logit(e, model) for e in readings]
        binary = sum((logits[i] > 0) == (gold[i] == "positive") for i in opinion) / len(opinion)
        f1 = macro_f1(gold, [_band(math.tanh(z / 2)) for z in logits])
        weights = " ".join(f"{w:6.3f}" for w in beta)
        print(f"{dead_zone:9.1f} {weights} {binary:10.3f} {f1:10.3f}")
        if best is None or f1 > best[0]:
            best = (f1, dead_zone, beta)
    assert best is not None
    _, dead_zone, beta = best
    weights = naive_bayes([(found[i], tune[i][0].label, tune[i][1]) for i in opinion])
    model = {
        "about": "Built by benchmarks/sentiment_train.py from the tune half of the ground truth "
        "in vaderSentiment 3.3.2's sdist (MIT, Hutto & Gilbert 2014); see docs/sentiment.md.",
        "combination": {
            "pattern": round(float(beta[0]), 4),
            "vader": round(float(beta[1]), 4),
            "learned": round(float(beta[2]), 4),
            "dead_zone": dead_zone,
            "learned_scale": LEARNED_SCALE,
        },
        "features": {f: round(w, 3) for f, w in sorted(weights.items()) if abs(w) >= 0.005},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(model, ensure_ascii=False, indent=0) + "\n", encoding="utf-8")
    print(f"chosen dead zone {dead_zone}; {len(model['features'])} features -> {args.out}")


if __name__ == "__main__":
    main()
