"""The MIME parser on a corpus of tricky real-world mail, and on any bytes at all."""

from __future__ import annotations

import base64
import contextlib
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rapport.channels.email.parsing import (
    GENERATED_ID_DOMAIN,
    html_to_text,
    parse_email,
    strip_quotes_and_signature,
)
from rapport.crm.errors import InvalidMessage
from rapport.crm.interactions.checking import check
from rapport.crm.messages import InboundMessage

CORPUS = Path(__file__).parent / "email_corpus"
RECEIVED = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def corpus(name: str, **kwargs: object) -> InboundMessage:
    return parse_email((CORPUS / name).read_bytes(), received_at=RECEIVED, **kwargs)  # type: ignore[arg-type]


def test_latin1_quoted_printable_with_rfc2047_headers() -> None:
    message = corpus("latin1_quoted_printable.eml")
    assert message.channel == "email"
    assert message.external_id == "Juergen.Mueller@Example.DE"
    assert message.sender == "Jürgen Müller"
    assert message.subject == "Lieferung für Bestellung #4711"
    assert "schön pünktlich" in message.text
    assert "Qualität ist großartig" in message.text  # soft line break joined
    assert message.message_key == "<20261117091500.1234@mail.example.de>"
    assert message.sent_at == datetime(2026, 11, 17, 8, 15, tzinfo=UTC)
    assert not message.automated


def test_html_only_base64_in_windows_1252_becomes_text() -> None:
    message = corpus("html_only_base64_cp1252.eml")
    assert "I'm very unhappy with the late delivery & the packaging." in message.text
    assert "<" not in message.text
    assert "alert" not in message.text  # scripts are not text
    assert "color:red" not in message.text  # nor are styles
    assert message.sent_at == datetime(2026, 11, 18, 17, 0, tzinfo=UTC)


def test_nested_multipart_prefers_plain_text_and_records_attachments() -> None:
    message = corpus("nested_multipart_with_attachments.eml")
    assert message.text == "The invoice total looks wrong – can you check?"
    assert message.in_reply_to == "<campaign-42@example.com>"
    names = [(a.filename, a.content_type) for a in message.attachments]
    assert names == [
        ("logo.png", "image/png"),
        ("Rechnung März.pdf", "application/pdf"),
        ("forwarded.eml", "message/rfc822"),
    ]
    assert message.attachments[1].size == 9 + 256 * 4
    assert "inner body" not in message.text  # a forwarded mail is not the customer's words


def test_iso_2022_jp_body_and_headers() -> None:
    message = corpus("iso2022jp.eml")
    assert message.text == "ご注文ありがとうございます。とても満足しています。"
    assert message.sender == "山田 太郎"
    assert message.subject == "お問い合わせ"


@pytest.mark.parametrize(
    ("name", "text"),
    [("unknown_charset.eml", "café is nice"), ("lying_charset.eml", "café crème")],
)
def test_unknown_or_lying_charsets_still_give_text(name: str, text: str) -> None:
    assert corpus(name).text == text


@pytest.mark.parametrize(
    ("name", "sender", "subject", "text"),
    [
        ("raw_utf8_headers.eml", "Jürgen Groß", "Grüße aus München", "Alles bestens, danke schön!"),
        (
            "raw_latin1_headers.eml",
            "Sébastien Müller",
            "Problème avec ma commande",
            "Ma commande est arrivée cassée.",
        ),
    ],
)
def test_raw_8bit_headers_are_read_not_mangled(
    name: str, sender: str, subject: str, text: str
) -> None:
    message = corpus(name)
    assert (message.sender, message.subject, message.text) == (sender, subject, text)


def test_broken_boundary_keeps_the_words() -> None:
    message = corpus("broken_boundary.eml")
    assert message.text == "The boundary never matches but the words are here."


def test_unterminated_multipart_keeps_the_complete_part() -> None:
    message = corpus("unterminated_multipart.eml")
    assert message.text == "The mail was cut off but this part survived."
    assert [a.filename for a in message.attachments] == ["half.bin"]


def test_gmail_reply_scores_only_the_new_words() -> None:
    message = corpus("gmail_reply_with_signature.eml")
    assert message.text == "4"  # not the quoted campaign, not the signature
    assert message.in_reply_to == "<survey-1@example.com>"


def test_outlook_reply_drops_the_original_message() -> None:
    assert corpus("outlook_reply.eml").text == "Thanks, all good now."


@pytest.mark.parametrize("name", ["dsn_bounce.eml", "auto_reply_vacation.eml", "x_autoreply.eml"])
def test_bounces_and_auto_replies_are_automated(name: str) -> None:
    assert corpus(name).automated


def test_auto_submitted_no_is_a_person() -> None:
    assert not corpus("auto_submitted_no_is_human.eml").automated


def test_null_envelope_sender_marks_a_bounce() -> None:
    assert corpus("auto_submitted_no_is_human.eml", envelope_sender="").automated
    assert not corpus("auto_submitted_no_is_human.eml", envelope_sender="ivy@example.org").automated


def test_missing_message_id_gets_a_stable_one_from_the_bytes() -> None:
    first = corpus("no_message_id.eml")
    again = corpus("no_message_id.eml")
    other = parse_email((CORPUS / "no_message_id.eml").read_bytes() + b"P.S.\n")
    assert first.message_key == again.message_key
    assert first.message_key.endswith(f"@{GENERATED_ID_DOMAIN}>")
    assert other.message_key != first.message_key


def test_unreadable_date_falls_back_to_reception_time() -> None:
    assert corpus("bad_date.eml").sent_at == RECEIVED


def test_date_far_in_the_future_falls_back_to_reception_time() -> None:
    raw = b"From: a@example.org\r\nDate: Mon, 1 Jan 2100 00:00:00 +0000\r\n\r\nhi\r\n"
    assert parse_email(raw, received_at=RECEIVED).sent_at == RECEIVED


def test_subject_stands_in_for_an_empty_body() -> None:
    assert corpus("subject_only.eml").text == "Please call me back"


def test_no_from_is_refused_clearly() -> None:
    with pytest.raises(InvalidMessage, match="From"):
        corpus("no_from.eml")


@pytest.mark.parametrize("raw", [b"", b"   \r\n", b"\x00\xff\xfe garbage", b"From: \r\n\r\nx"])
def test_garbage_is_refused_clearly(raw: bytes) -> None:
    with pytest.raises(InvalidMessage):
        parse_email(raw)


@pytest.mark.parametrize("path", sorted(CORPUS.glob("*.eml")), ids=lambda p: p.name)
def test_every_corpus_mail_passes_the_core_check_or_is_refused(path: Path) -> None:
    try:
        message = parse_email(path.read_bytes())
    except InvalidMessage:
        assert path.name == "no_from.eml"
        return
    check(message)  # the core accepts what the parser produced


def test_ten_megabyte_attachment_is_recorded_not_kept() -> None:
    blob = bytes(range(256)) * (10 * 1024 * 1024 // 256)
    raw = (
        b"From: big@example.org\r\nSubject: big\r\nMessage-ID: <big@example.org>\r\n"
        b'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n'
        b"--b\r\nContent-Type: text/plain\r\n\r\nSee the video.\r\n"
        b'--b\r\nContent-Type: video/mp4\r\nContent-Disposition: attachment; filename="v.mp4"\r\n'
        b"Content-Transfer-Encoding: base64\r\n\r\n" + base64.encodebytes(blob) + b"--b--\r\n"
    )
    message = parse_email(raw)
    assert message.text == "See the video."
    (attachment,) = message.attachments
    assert (attachment.filename, attachment.size) == ("v.mp4", len(blob))


def test_html_to_text_keeps_block_structure() -> None:
    assert html_to_text("<p>One</p><p>Two<br>Three</p>") == "One\n\nTwo\nThree"


def test_quote_header_wrapped_over_two_lines_is_cut() -> None:
    text = (
        "Lovely, thank you.\n\nOn Fri, Nov 20, 2026 at 9:00 AM Shop Example <\n"
        "shop@example.com> wrote:\n\n> How did we do?\n"
    )
    assert strip_quotes_and_signature(text) == "Lovely, thank you."


def test_stripping_never_leaves_nothing() -> None:
    assert strip_quotes_and_signature("> only a quote") == "> only a quote"


MAIL_LINES = st.sampled_from(
    [
        b"From: a@example.org",
        b"From: =?utf-8?b?w6k=?= <b@example.org>",
        b"From: <>",
        b"Subject: =?bogus?q?x?=",
        b"Message-ID: <x@y>",
        b"Content-Type: multipart/mixed; boundary=b",
        b"Content-Type: text/plain; charset=x-unknown",
        b"Content-Transfer-Encoding: base64",
        b"Content-Transfer-Encoding: quoted-printable",
        b"Date: Mon, 99 Foo 2026 99:99:99 +9999",
        b"--b",
        b"",
    ]
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2_000))
def test_any_bytes_give_a_message_or_a_clear_error(raw: bytes) -> None:
    _parse_and_check(raw)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(MAIL_LINES, st.binary(max_size=40)), max_size=30))
def test_mail_shaped_bytes_give_a_message_or_a_clear_error(lines: list[bytes]) -> None:
    _parse_and_check(b"\r\n".join(lines))


def _parse_and_check(raw: bytes) -> None:
    try:
        message = parse_email(raw, received_at=RECEIVED)
    except InvalidMessage as exc:
        assert str(exc)
        return
    assert isinstance(message, InboundMessage)
    assert message.sent_at.tzinfo is not None
    assert "\x00" not in message.text
    with contextlib.suppress(InvalidMessage):
        check(message)  # the core either takes it or refuses it clearly; never crashes
