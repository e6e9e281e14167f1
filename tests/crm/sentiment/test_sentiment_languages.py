"""Sentiment beyond short English: other languages, mixed ones, emoji alone, long mail.

And where the scores matter to staff: ingest stores the detector's decision
with every interaction, complaint detection flags on the new scores (a German
complaint used to be stored unscored and could never trip it), and the
sentiment report counts it negative.
"""

from __future__ import annotations

import zlib
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rapport.crm.clock import utcnow
from rapport.crm.database import Database
from rapport.crm.desk.rules import parse_rules
from rapport.crm.interactions.ingest import ingest
from rapport.crm.messages import InboundMessage
from rapport.crm.models import Conversation, Interaction
from rapport.crm.reports.series import sentiment_by_day
from rapport.crm.sentiment.scoring import MAX_CHARS, RapportAnalyser, sentiment_label
from rapport.crm.settings import Settings

SETTINGS = Settings()
rapport = RapportAnalyser()


def label(text: str) -> str | None:
    return sentiment_label(rapport.assess(text).polarity, SETTINGS)


@pytest.mark.parametrize(
    ("text", "language", "expected"),
    [
        ("Ich bin sehr zufrieden, danke!", "de", "positive"),
        ("Schlechte Qualität, sehr enttäuscht", "de", "negative"),  # "schlechte" → "schlecht"
        ("Das ist nicht gut", "de", "negative"),
        ("Das Paket kam kaputt an und niemand antwortet. Eine Frechheit!", "de", "negative"),
        ("Je suis très content, merci", "fr", "positive"),
        ("Le colis est arrivé abîmé, très déçu", "fr", "negative"),
        ("Ce n'est pas bon", "fr", "negative"),  # "n'est" splits: "n'" negates
        ("Ik ben heel tevreden, bedankt!", "nl", "positive"),
        ("Slechte service, heel teleurgesteld", "nl", "negative"),  # "slechte" → "slecht"
        ("Dit is niet goed", "nl", "negative"),
    ],
)
def test_german_french_and_dutch_are_scored(text: str, language: str, expected: str) -> None:
    assessment = rapport.assess(text)
    assert assessment.language == language
    assert label(text) == expected


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("Gracias, muy amable", "es"),
        ("El pedido llegó roto, muy decepcionado", "es"),
        ("Grazie mille, tutto perfetto", "it"),
        ("O pedido chegou quebrado", "pt"),
        ("Спасибо, всё отлично", "ru"),
        ("注文した商品がまだ届きません", "ja"),
        ("谢谢你们的服务，很好", "zh"),
        ("Dziękuję bardzo, wszystko w porządku", "pl"),
    ],
)
def test_a_language_without_a_scorer_is_never_zero(text: str, language: str) -> None:
    """Unscored is None, not 0.0: an average of these would otherwise read 'neutral'."""
    assessment = rapport.assess(text)
    assert assessment.language == language
    assert assessment.polarity is None and assessment.subjectivity is None
    assert label(text) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Merci beaucoup, great service 👍", "positive"),
        ("Danke, but the parcel arrived broken 😡", "negative"),
        ("Das Paket kam kaputt an, very disappointed", "negative"),
        ("Thanks! Das war super", "positive"),
    ],
)
def test_mixed_language_messages_are_read_in_the_language_detected(
    text: str, expected: str
) -> None:
    """One language is detected and recorded; its scorer (and the emoji) give the verdict."""
    assessment = rapport.assess(text)
    assert assessment.language in {"en", "de", "fr", "nl"}
    assert label(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("👍", "positive"),
        ("👍🏽👍🏽", "positive"),  # skin tone
        ("❤️", "positive"),  # variation selector
        ("🙏😊", "positive"),
        ("😡", "negative"),
        ("👎🏻", "negative"),
        ("😭😭😭", "negative"),
        (":(", "negative"),
        ("😡 👍", "negative"),  # mixed symbols: the mean, shouting wins here
    ],
)
def test_emoji_only_messages_are_scored_without_a_language(text: str, expected: str) -> None:
    assessment = rapport.assess(text)
    assert assessment.language is None
    assert label(text) == expected


@pytest.mark.parametrize("text", ["🏠", "🚚📦", "12345", "!!!", "🤷"])
def test_symbols_without_an_opinion_stay_unscored(text: str) -> None:
    assessment = rapport.assess(text)
    assert assessment.polarity is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("not good", "negative"),
        ("Not happy with the service", "negative"),
        ("I don't recommend this shop", "negative"),
        ("The agent wasn't helpful at all", "negative"),
        ("Not impressed", "negative"),
        ("Not very helpful", "negative"),
        ("Never again.", "negative"),
        ("No complaints", "positive"),
        ("Never disappointed", "positive"),
        ("Not terrible", "positive"),
        ("No problem, thanks", "positive"),
    ],
)
def test_negation(text: str, expected: str) -> None:
    assert label(text) == expected


def test_very_long_messages_are_scored_on_their_opening() -> None:
    complaint = "The parcel arrived damaged and nobody answers my emails. " * 2_000
    assert len(complaint) > 5 * MAX_CHARS
    assessment = rapport.assess(complaint)
    assert assessment.language == "en" and label(complaint) == "negative"

    thanks = "Thank you so much, the service was excellent. " * (MAX_CHARS // 40)
    assert label(thanks + complaint) == "positive"  # the tail past MAX_CHARS is not read

    german = "Vielen Dank, alles super! " * 5_000
    assert rapport.assess(german).language == "de" and label(german) == "positive"


def _message(key: str, text: str, sent_at: datetime | None = None) -> InboundMessage:
    return InboundMessage(
        channel="telegram",
        external_id=str(zlib.crc32(key.encode())),  # a chat id per sender
        sender="Kim",
        text=text,
        sent_at=sent_at or datetime(2026, 11, 2, 10, 0, tzinfo=UTC),
        message_key=key,
    )


def _conversation(db: Database, interaction_id: int) -> Conversation:
    with db.session() as s:
        row = s.get(Interaction, interaction_id)
        assert row is not None and row.conversation_id is not None
        conversation = s.get(Conversation, row.conversation_id)
        assert conversation is not None
        return conversation


NO_WORDS = parse_rules({"complaint": {"words": {}}}, ZoneInfo("UTC"))


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("Das Paket kam kaputt an und niemand antwortet. Eine Frechheit!", "de"),
        ("Le colis est arrivé abîmé, très déçu", "fr"),
        ("Absolutely useless, the parcel arrived smashed 😡", "en"),
    ],
)
def test_complaint_detection_uses_the_new_scores(db: Database, text: str, language: str) -> None:
    """No complaint word configured: the sentiment alone flags the conversation."""
    result = ingest(db, _message("c1", text), desk=NO_WORDS)
    assert result.language == language
    assert result.polarity is not None
    assert result.polarity <= SETTINGS.sentiment_strongly_negative_threshold
    conversation = _conversation(db, result.interaction_id)
    assert conversation.is_complaint and conversation.complaint_reason == "sentiment"


def test_unscored_and_neutral_messages_are_not_complaints(db: Database) -> None:
    for key, text in [("u1", "El pedido llegó roto"), ("u2", "Can I change my delivery address?")]:
        result = ingest(db, _message(key, text), desk=NO_WORDS)
        assert not _conversation(db, result.interaction_id).is_complaint, text


def test_the_detectors_decision_is_stored_with_each_interaction(db: Database) -> None:
    texts = {"de": "Ich bin sehr zufrieden, danke!", "es": "Gracias, muy amable", None: "👍"}
    for key, (language, text) in enumerate(texts.items()):
        result = ingest(db, _message(f"l{key}", text))
        with db.session() as s:
            row = s.get(Interaction, result.interaction_id)
            assert row is not None and row.language == language
            assert (row.polarity is None) == (language == "es")


def test_the_sentiment_report_counts_a_german_complaint_negative(db: Database) -> None:
    now = utcnow()
    for key, text in [("r1", "Schlechte Qualität, sehr enttäuscht"), ("r2", "Gracias")]:
        ingest(db, _message(key, text, now))
    [point] = sentiment_by_day(db)
    assert point.scored == 1 and point.negative == 1  # the Spanish one is not counted at all


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [
                *"abcdefghijklmnopqrstuvwxyzäöüéèçñ ,.!?'",
                *["good ", "gut ", "bon ", "goed ", "bueno ", "не ", "плохо ", "谢谢", "差评"],
                *["👍", "😡", "🏠", " :) ", "🙏"],
            ]
        ),
        max_size=40,
    ).map("".join)
)
def test_only_scored_languages_get_a_polarity(text: str) -> None:
    """Whatever arrives: a polarity only for en/de/fr/nl or symbols alone, else None."""
    assessment = rapport.assess(text)
    if assessment.language not in {None, "en", "de", "fr", "nl"}:
        assert assessment.polarity is None and assessment.subjectivity is None
    if assessment.polarity is not None:
        assert -1.0 <= assessment.polarity <= 1.0
        assert assessment.subjectivity is not None and 0.0 <= assessment.subjectivity <= 1.0
