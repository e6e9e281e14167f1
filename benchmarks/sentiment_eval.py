"""How right and how fast: plain TextBlob, Rapport's scorer and VADER on customer texts.

The data set is `benchmarks/data/customer_sentiment.csv` (written for
Rapport, CC0; see benchmarks/data/README.md): short customer messages
labelled positive / neutral / negative, each marked `tune` or `test`. The
rules and the default thresholds were chosen looking at the tune rows only;
the figures printed (and the RESULT lines) are on the held-out test rows
unless `--split` says otherwise. `fresh` rows were written after the rules
were frozen and read once (docs/sentiment.md).

Each scorer is shown twice: with its customary thresholds (TextBlob: the
sign of the polarity; VADER: ±0.05 on the compound score; Rapport: the
defaults in crm/settings.py) and with the symmetric neutral band that does
best on the tune rows, so no engine loses only for want of a threshold.

    python -m benchmarks.sentiment_eval [--split test|tune|all] [--errors]
"""

from __future__ import annotations

import argparse
import csv
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from benchmarks.common import machine, result
from rapport.crm.sentiment.scoring import RapportAnalyser, sentiment_label
from rapport.crm.settings import Settings

DATA = Path(__file__).parent / "data" / "customer_sentiment.csv"
LABELS = ("positive", "neutral", "negative")
BANDS = [round(0.025 * i, 3) for i in range(0, 21)]
SPEED_TEXTS = 5_000


@dataclass(frozen=True)
class Row:
    text: str
    label: str
    split: str


@dataclass(frozen=True)
class Scorer:
    name: str
    polarity: Callable[[str], float | None]
    customary: Callable[[float | None], str]


def load(split: str) -> list[Row]:
    with DATA.open(encoding="utf-8", newline="") as f:
        rows = [Row(r["text"], r["label"], r["split"]) for r in csv.DictReader(f)]
    return rows if split == "all" else [r for r in rows if r.split == split]


def band(threshold: float) -> Callable[[float | None], str]:
    """Symmetric neutral band; 0.0 means the sign decides (0.0 itself is neutral)."""

    def label(p: float | None) -> str:
        if p is None:
            return "neutral"
        if p > threshold or (threshold > 0 and p >= threshold):
            return "positive"
        if p < -threshold or (threshold > 0 and p <= -threshold):
            return "negative"
        return "neutral"

    return label


def scores(gold: Sequence[str], predicted: Sequence[str]) -> tuple[float, float]:
    """Accuracy and macro-F1 over the three labels."""
    accuracy = sum(g == p for g, p in zip(gold, predicted, strict=True)) / len(gold)
    f1s = []
    for label in LABELS:
        tp = sum(g == p == label for g, p in zip(gold, predicted, strict=True))
        fp = sum(p == label != g for g, p in zip(gold, predicted, strict=True))
        fn = sum(g == label != p for g, p in zip(gold, predicted, strict=True))
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        f1s.append(2 * precision * recall / (precision + recall) if precision + recall else 0.0)
    return accuracy, sum(f1s) / len(f1s)


def best_band(polarities: Sequence[float | None], gold: Sequence[str]) -> float:
    return max(BANDS, key=lambda t: (scores(gold, [band(t)(p) for p in polarities])[1], -t))


def rate(polarity: Callable[[str], float | None], texts: Sequence[str]) -> float:
    sample = [texts[i % len(texts)] for i in range(SPEED_TEXTS)]
    start = time.perf_counter()
    for text in sample:
        polarity(text)
    return len(sample) / (time.perf_counter() - start)


def threshold_study(tune: Sequence[Row], scorer: Scorer) -> None:
    """The evidence behind the default thresholds, on the tune rows only."""
    polarities = [scorer.polarity(r.text) for r in tune]
    gold = [r.label for r in tune]
    cells = []
    for t in BANDS[:13]:
        acc, f1 = scores(gold, [band(t)(p) for p in polarities])
        cells.append(f"±{t:<5} {acc:6.1%} {f1:.3f}")
    print("           tune rows, neutral band → accuracy, macro-F1:")
    for start in range(0, len(cells), 3):
        print("             " + "   ".join(cells[start : start + 3]))
    print("           tune rows, 'strongly negative' at polarity ≤ t → flagged (neg/neu/pos):")
    for t in (-0.2, -0.3, -0.4, -0.5, -0.6, -0.7):
        flagged = [g for g, p in zip(gold, polarities, strict=True) if p is not None and p <= t]
        parts = "/".join(str(flagged.count(label)) for label in ("negative", "neutral", "positive"))
        print(f"             t={t:<5} {len(flagged):3d} flagged ({parts})")


def scorers() -> list[Scorer]:
    settings = Settings()
    rapport = RapportAnalyser()
    found = [
        Scorer("textblob", _textblob(), band(0.0)),
        Scorer(
            "rapport",
            lambda text: rapport.assess(text).polarity,
            lambda p: sentiment_label(p, settings) or "neutral",
        ),
    ]
    try:
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer
    except ImportError:
        print("VADER not installed (pip install vaderSentiment): skipped")
    else:
        vader = SentimentIntensityAnalyzer()
        found.append(
            Scorer("vader", lambda text: vader.polarity_scores(text)["compound"], band(0.05))
        )
    return found


def _textblob() -> Callable[[str], float | None]:
    from textblob import TextBlob

    return lambda text: TextBlob(text).sentiment.polarity


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", choices=["test", "fresh", "tune", "all"], default="test")
    parser.add_argument("--errors", action="store_true", help="list Rapport's mistakes")
    args = parser.parse_args()

    rows, tune = load(args.split), load("tune")
    gold = [r.label for r in rows]
    print(f"machine: {machine()}")
    print(f"data: {DATA.name}, {len(rows)} {args.split} rows (tuning rows: {len(tune)})")
    print(f"{'scorer':<10} {'thresholds':<22} {'accuracy':>9} {'macro-F1':>9} {'texts/s':>9}")
    accuracy: dict[str, float] = {}
    speeds: dict[str, float] = {}
    for scorer in scorers():
        for text in (r.text for r in rows[:20]):
            scorer.polarity(text)  # load models and lexicons outside the timing
        polarities = [scorer.polarity(r.text) for r in rows]
        speed = rate(scorer.polarity, [r.text for r in rows])
        customary_acc, customary_f1 = scores(gold, [scorer.customary(p) for p in polarities])
        tuned = best_band([scorer.polarity(r.text) for r in tune], [r.label for r in tune])
        tuned_acc, tuned_f1 = scores(gold, [band(tuned)(p) for p in polarities])
        print(
            f"{scorer.name:<10} {'customary':<22} {customary_acc:9.1%} {customary_f1:9.3f}"
            f" {speed:9.0f}"
        )
        print(f"{'':<10} {f'band ±{tuned} (tuned)':<22} {tuned_acc:9.1%} {tuned_f1:9.3f}")
        unscored = sum(p is None for p in polarities)
        if unscored:
            print(f"{'':<10} unscored: {unscored} (counted as neutral)")
        accuracy[scorer.name], speeds[scorer.name] = customary_acc, speed
        result(f"sentiment_{scorer.name}_accuracy", 100 * customary_acc, "%")
        result(f"sentiment_{scorer.name}_macro_f1", customary_f1, "f1")
        result(f"sentiment_{scorer.name}_tuned_accuracy", 100 * tuned_acc, "%")
        result(f"sentiment_{scorer.name}_rate", speed, "texts/s")
        if scorer.name == "rapport":
            threshold_study(tune, scorer)
        if args.errors and scorer.name == "rapport":
            for row, p in zip(rows, polarities, strict=True):
                if scorer.customary(p) != row.label:
                    print(f"    {row.label:<8} {p!s:>7}  {row.text}")
    gain = 100 * (accuracy["rapport"] - accuracy["textblob"])
    result("sentiment_rapport_gain_vs_textblob", gain, "points")
    result("sentiment_rapport_vs_textblob_rate", speeds["rapport"] / speeds["textblob"], "ratio")


if __name__ == "__main__":
    main()
