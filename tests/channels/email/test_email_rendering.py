"""Properties of the mail renderer: whatever text comes in, no header can be forged."""

from __future__ import annotations

from email import policy
from email.message import EmailMessage
from email.parser import BytesParser

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from rapport.channels.email import rendering
from rapport.channels.email.rendering import MailRenderer, choice_lines, plain_body, render_body
from rapport.crm.channel import PermanentFailure
from rapport.crm.messages import OutboundMessage

RENDERER = MailRenderer("shop@example.com", "Shop")
EXPECTED = {
    *("from", "to", "subject", "date", "message-id", "x-note"),
    *("mime-version", "content-type", "content-transfer-encoding"),
}
ANY_TEXT = st.text(st.characters(exclude_categories=()), max_size=200)
"""Every code point, lone surrogates and line separators included."""


def parse(data: bytes):  # type: ignore[no-untyped-def]
    return BytesParser(policy=policy.default).parsebytes(data)


@settings(max_examples=200, deadline=None)
@given(subject=ANY_TEXT.filter(bool), note=ANY_TEXT)
@example(subject="a\ud800", note="")
@example(subject="ok", note="\udcff")
@example(subject="Grüße\u2028Bcc: x@y", note="")
def test_any_subject_or_header_value_renders_safely_or_is_refused(subject: str, note: str) -> None:
    message = OutboundMessage(text="Hello", subject=subject, headers={"X-Note": note})
    try:
        _, data = RENDERER.render("a@example.org", message)
    except PermanentFailure as exc:
        assert str(exc)
        return
    head = data.split(b"\r\n\r\n", 1)[0]
    assert head.isascii()
    assert all(len(line) <= 998 for line in head.split(b"\r\n"))
    mail = parse(data)
    assert {name.lower() for name in mail} == EXPECTED
    assert mail["To"] == "a@example.org"
    assert " ".join(str(mail["Subject"]).split()) == " ".join(subject.split())


@settings(max_examples=100, deadline=None)
@given(text=ANY_TEXT, html=st.none() | ANY_TEXT)
@example(text="x\ud800", html=None)
@example(text="x", html="\ud800")
def test_any_body_renders_and_reads_back_or_is_refused(text: str, html: str | None) -> None:
    message = OutboundMessage(text=text, html=html)
    try:
        _, data = RENDERER.render("a@example.org", message)
    except PermanentFailure:
        return
    mail = parse(data)
    plain = mail if html is None else next(mail.iter_parts())
    assert plain.get_content().replace("\r\n", "\n").rstrip("\n") == text.replace(
        "\r\n", "\n"
    ).replace("\r", "\n").rstrip("\n")


PRINTABLE_TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=400)
"""Any text that can be encoded: what reaches `plain_body` (lone surrogates are refused)."""


@settings(max_examples=300, deadline=None)
@given(text=PRINTABLE_TEXT)
@example(text="")
@example(text=".\n. \nFrom me\n=41 \t\n" + "é" * 100)
@example(text="a\rb\r\nc\x0bd\x1ce\u2028f")
@example(text="00\x1f\x08\x80𐀀𐀀𐀀𐀀𐀀 ")  # binascii escapes the last space past column 76
def test_the_fast_plain_body_reads_back_as_the_standard_librarys(text: str) -> None:
    library = EmailMessage(policy=policy.SMTP)
    library.set_content(text, cte="quoted-printable")
    fast = plain_body(text)

    assert parse(fast).get_content() == parse(library.as_bytes()).get_content()
    assert fast.isascii() and fast.endswith(b"\r\n")
    assert b"\n" not in fast.replace(b"\r\n", b"") and b"\r" not in fast.replace(b"\r\n", b"")
    # RFC 2045 asks for 76; an escaped space or tab at a line's end may take it to 78,
    # the library's own limit (its encoder writes 78 on every long line).
    assert all(len(line) <= 78 for line in fast.split(b"\r\n"))
    head = parse(fast)
    assert (head.get_content_type(), head["Content-Transfer-Encoding"]) == (
        "text/plain",
        "quoted-printable",
    )
    assert head.get_content_charset() == "utf-8"


def test_a_personal_text_is_rendered_without_the_generator(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each recipient's own text misses the body cache; the slow generator must not run."""

    def refused(*args: object, **kwargs: object) -> None:
        raise AssertionError("the standard library's generator rendered a text-only mail")

    monkeypatch.setattr(rendering, "EmailMessage", refused)
    renderer = MailRenderer("shop@example.com")
    named = [OutboundMessage(text=f"Hi {name}, 20 % off today!") for name in ("Ann", "Zoë")]
    mails = [parse(renderer.render("a@example.org", m)[1]) for m in named]
    assert [m.get_content().replace("\r\n", "\n") for m in mails] == [
        "Hi Ann, 20 % off today!\n",
        "Hi Zoë, 20 % off today!\n",
    ]


def test_body_is_rendered_once_per_campaign() -> None:
    renderer = MailRenderer("shop@example.com")
    message = OutboundMessage(text="Same for everyone", html="<p>Same</p>")
    first = renderer.render("a@example.org", message)[1]
    second = renderer.render("b@example.org", message)[1]
    body = render_body(message)
    assert first.split(b"\r\n\r\n", 1)[1] == second.split(b"\r\n\r\n", 1)[1]
    assert len(renderer._bodies) == 1
    assert body.startswith(b"MIME-Version: 1.0\r\n")


def test_choice_lines() -> None:
    nps = tuple((str(n), f"nps:{n}") for n in range(11))
    assert choice_lines(nps)[0] == "0"  # the label is the answer, not its position
    assert choice_lines((("Very happy", "5"),)) == ["1. Very happy"]


LINK_TAIL = st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=150)


@settings(max_examples=300, deadline=None)
@given(tail=LINK_TAIL)
@example(tail="u/41-7-token")  # plain ASCII: written as it is
@example(tail="u?t=3D41&x=y")  # "=" must be escaped, or the reader decodes "=3D" to "="
@example(tail="ü/é" + "a" * 140)  # non-ASCII, and long enough to fold
def test_the_unsubscribe_link_reads_back_whole_from_the_body(tail: str) -> None:
    link = f"https://shop.example.com/{tail}"
    message = OutboundMessage(text="Hello", unsubscribe_url=link, marketing=True)
    try:
        _, data = RENDERER.render("a@example.org", message)
    except PermanentFailure:
        return  # a link that could break a header or the markup is refused
    assert all(len(line) <= 78 for line in data.split(b"\r\n"))
    body = parse(data).get_content().replace("\r\n", "\n")
    assert body.rstrip("\n").endswith(f"{rendering.UNSUBSCRIBE_WORDS}\n{link}")
