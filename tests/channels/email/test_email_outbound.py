"""The email sender against a real aiosmtpd sink on loopback."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import pytest

from rapport.channels.email.outbound import EmailSender, SmtpServer
from rapport.channels.email.parsing import parse_email
from rapport.crm.channel import Channel, PermanentFailure, RecipientGone, TransientFailure
from rapport.crm.messages import OutboundMessage
from rapport.crm.settings import SmtpSecurity
from tests.support.email_sink import DROP, Sink

SHOP = "shop@example.com"


def make_sender(
    port: int, *, connections: int = 1, name: str | None = "Café Ünïcode"
) -> EmailSender:
    server = SmtpServer("127.0.0.1", port, security=SmtpSecurity.NONE, timeout=5)
    return EmailSender(server, SHOP, from_name=name, connections=connections)


@pytest.fixture
async def sender(sink: Sink) -> AsyncIterator[EmailSender]:
    channel = make_sender(sink.port)
    yield channel
    await channel.close()


async def test_is_a_channel(sender: EmailSender) -> None:
    assert isinstance(sender, Channel)
    assert sender.name == "email"


async def test_plain_mail_headers_and_receipt(sender: EmailSender, sink: Sink) -> None:
    receipt = await sender.send(
        "Customer@Example.ORG", OutboundMessage(text="Hello there", subject="Your order")
    )
    (got,) = sink.received
    mail = got.message
    assert got.mail_from == SHOP
    assert got.rcpt_tos == ["customer@example.org"]
    assert mail["To"] == "customer@example.org"
    assert mail["Subject"] == "Your order"
    assert mail["Message-ID"] == receipt.message_key
    assert receipt.message_key.endswith("@example.com>")
    assert receipt.channel == "email"
    assert receipt.sent_at.tzinfo is not None
    assert mail["Date"] is not None
    assert mail.get_content_type() == "text/plain"
    assert mail.get_content().strip() == "Hello there"
    assert "In-Reply-To" not in mail
    assert "List-Unsubscribe" not in mail


async def test_non_ascii_name_and_subject_are_rfc2047_encoded(
    sender: EmailSender, sink: Sink
) -> None:
    await sender.send("a@example.org", OutboundMessage(text="Grüße", subject="Grüße aus Köln"))
    (got,) = sink.received
    header_block = got.data.split(b"\r\n\r\n", 1)[0]
    assert header_block.isascii()
    assert b"=?utf-8?" in header_block
    mail = got.message
    assert mail["Subject"] == "Grüße aus Köln"
    assert mail["From"].addresses[0].display_name == "Café Ünïcode"
    assert mail["From"].addresses[0].addr_spec == SHOP
    assert mail.get_content().strip() == "Grüße"


async def test_html_goes_as_multipart_alternative(sender: EmailSender, sink: Sink) -> None:
    await sender.send(
        "a@example.org",
        OutboundMessage(text="Big sale", subject="Sale", html="<p>Big <b>sale</b></p>"),
    )
    mail = sink.received[0].message
    assert mail.get_content_type() == "multipart/alternative"
    parts = list(mail.iter_parts())
    assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"]
    assert parts[0].get_content().strip() == "Big sale"
    assert parts[1].get_content().strip() == "<p>Big <b>sale</b></p>"


async def test_reply_threads_with_in_reply_to_and_references(
    sender: EmailSender, sink: Sink
) -> None:
    await sender.send(
        "a@example.org", OutboundMessage(text="Thanks!", subject="Re: help", reply_to_key="<q1@x>")
    )
    await sender.send("a@example.org", OutboundMessage(text="Again", reply_to_key="bare@x"))
    first, second = (r.message for r in sink.received)
    assert first["In-Reply-To"] == "<q1@x>"
    assert first["References"] == "<q1@x>"
    assert second["In-Reply-To"] == "<bare@x>"


async def test_customer_reply_to_our_mail_parses_back_to_its_thread(
    sender: EmailSender, sink: Sink
) -> None:
    receipt = await sender.send("a@example.org", OutboundMessage(text="How was it?", subject="Q"))
    reply = (
        "From: A <a@example.org>\r\nTo: shop@example.com\r\nSubject: Re: Q\r\n"
        f"Message-ID: <r1@example.org>\r\nIn-Reply-To: {receipt.message_key}\r\n\r\n"
        "Great, thanks\r\n"
    ).encode()
    assert parse_email(reply).in_reply_to == receipt.message_key


async def test_list_unsubscribe_https_adds_one_click_post(sender: EmailSender, sink: Sink) -> None:
    url = "https://shop.example.com/u/abc123"
    await sender.send(
        "a@example.org",
        OutboundMessage(text="News", subject="News", headers={"List-Unsubscribe": url}),
    )
    mail = sink.received[0].message
    assert mail["List-Unsubscribe"] == f"<{url}>"
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


async def test_list_unsubscribe_mailto_only_has_no_post_header(
    sender: EmailSender, sink: Sink
) -> None:
    value = "<mailto:unsubscribe@example.com?subject=stop>"
    await sender.send(
        "a@example.org",
        OutboundMessage(text="News", headers={"List-Unsubscribe": value, "X-Campaign": "7"}),
    )
    mail = sink.received[0].message
    assert mail["List-Unsubscribe"] == value
    assert "List-Unsubscribe-Post" not in mail
    assert mail["X-Campaign"] == "7"


@pytest.mark.parametrize(
    "message",
    [
        OutboundMessage(text="x", subject="Hi\r\nBcc: victim@example.net"),
        OutboundMessage(text="x", subject="Hi\nBcc: victim@example.net"),
        OutboundMessage(text="x", headers={"List-Unsubscribe": "<https://a>\r\nBcc: v@x"}),
        OutboundMessage(text="x", headers={"X-Tag": "a\rb"}),
        OutboundMessage(text="x", headers={"Bcc": "victim@example.net"}),
        OutboundMessage(text="x", headers={"From": "ceo@example.com"}),
        OutboundMessage(text="x", headers={"Bad Name": "v"}),
        OutboundMessage(text="x", reply_to_key="<a@b>\r\nBcc: v@x"),
    ],
    ids=["subject-crlf", "subject-lf", "header-crlf", "header-cr", "bcc", "from", "name", "key"],
)
async def test_header_injection_is_refused_and_nothing_is_sent(
    sender: EmailSender, sink: Sink, message: OutboundMessage
) -> None:
    with pytest.raises(PermanentFailure):
        await sender.send("a@example.org", message)
    assert sink.received == []


async def test_non_ascii_header_value_is_encoded_not_raw(sender: EmailSender, sink: Sink) -> None:
    await sender.send("a@example.org", OutboundMessage(text="x", headers={"X-Note": "Grüße"}))
    got = sink.received[0]
    assert got.data.split(b"\r\n\r\n", 1)[0].isascii()
    assert got.message["X-Note"] == "Grüße"


async def test_numeric_choices_render_as_the_numbers_to_reply_with(
    sender: EmailSender, sink: Sink
) -> None:
    scale = tuple((str(n), f"csat:{n}") for n in range(1, 6))
    await sender.send(
        "a@example.org",
        OutboundMessage(text="How did we do?", html="<p>How did we do?</p>", choices=scale),
    )
    text_part, html_part = sink.received[0].message.iter_parts()
    text = text_part.get_content()
    assert "Reply with the number of your answer:" in text
    assert [line for line in text.splitlines() if line.strip().isdigit()] == [
        "1",
        "2",
        "3",
        "4",
        "5",
    ]
    assert "<li>5</li>" in html_part.get_content()


async def test_word_choices_are_numbered_from_one(sender: EmailSender, sink: Sink) -> None:
    choices = (("Yes", "y"), ("No", "n"))
    await sender.send("a@example.org", OutboundMessage(text="Coming?", choices=choices))
    text = sink.received[0].message.get_content()
    assert "1. Yes" in text
    assert "2. No" in text


async def test_one_connection_is_reused_across_messages(sender: EmailSender, sink: Sink) -> None:
    for n in range(10):
        await sender.send(f"c{n}@example.org", OutboundMessage(text="hi", subject="s"))
    assert len(sink.received) == 10
    assert sink.handler.sessions == 1


async def test_concurrent_sends_share_a_bounded_pool(sink: Sink) -> None:
    channel = make_sender(sink.port, connections=3)
    try:
        receipts = await asyncio.gather(
            *(channel.send(f"c{n}@example.org", OutboundMessage(text="hi")) for n in range(30))
        )
    finally:
        await channel.close()
    assert len(sink.received) == 30
    assert len({r.message_key for r in receipts}) == 30
    assert 1 <= sink.handler.sessions <= 3
    assert sorted(r.rcpt_tos[0] for r in sink.received) == sorted(
        f"c{n}@example.org" for n in range(30)
    )


async def test_shared_body_cache_keeps_per_recipient_headers_distinct(
    sender: EmailSender, sink: Sink
) -> None:
    for n in range(3):
        await sender.send(
            f"c{n}@example.org",
            OutboundMessage(
                text="Same body",
                subject="Same",
                headers={"List-Unsubscribe": f"https://s.example.com/u/{n}"},
            ),
        )
    mails = [r.message for r in sink.received]
    assert [m["To"] for m in mails] == [f"c{n}@example.org" for n in range(3)]
    assert [m["List-Unsubscribe"] for m in mails] == [
        f"<https://s.example.com/u/{n}>" for n in range(3)
    ]
    assert len({m["Message-ID"] for m in mails}) == 3


@pytest.mark.parametrize(
    ("reply", "failure"),
    [
        ("550 5.1.1 <gone@example.org>: user unknown", RecipientGone),
        ("551 User not local", RecipientGone),
        ("553 Mailbox name not allowed", RecipientGone),
        ("550 User unknown", RecipientGone),
        ("550 5.7.1 Rejected by policy", PermanentFailure),
        ("554 Transaction failed", PermanentFailure),
        ("452 4.2.2 Mailbox full", TransientFailure),
        ("450 Try again", TransientFailure),
    ],
)
async def test_recipient_replies_map_to_typed_failures(
    sender: EmailSender, sink: Sink, reply: str, failure: type[Exception]
) -> None:
    sink.handler.rcpt_replies["x@example.org"] = reply
    with pytest.raises(failure) as raised:
        await sender.send("x@example.org", OutboundMessage(text="hi"))
    assert type(raised.value) is failure
    assert reply.split()[0] in str(raised.value)
    assert "@" not in str(raised.value)  # replies quote the address; logs must not
    # The session survives a refused recipient: the next mail goes on it.
    await sender.send("ok@example.org", OutboundMessage(text="hi"))
    assert sink.received[-1].rcpt_tos == ["ok@example.org"]


@pytest.mark.parametrize(
    ("reply", "failure"),
    [("554 5.6.0 Content rejected", PermanentFailure), ("451 4.3.0 Try later", TransientFailure)],
)
async def test_data_replies_map_to_typed_failures(
    sender: EmailSender, sink: Sink, reply: str, failure: type[Exception]
) -> None:
    sink.handler.data_replies["x@example.org"] = reply
    with pytest.raises(failure):
        await sender.send("x@example.org", OutboundMessage(text="hi"))


async def test_connection_dropped_mid_transaction_is_transient_then_recovers(
    sender: EmailSender, sink: Sink
) -> None:
    await sender.send("ok@example.org", OutboundMessage(text="first"))
    sink.handler.data_replies["drop@example.org"] = DROP
    with pytest.raises(TransientFailure):
        await sender.send("drop@example.org", OutboundMessage(text="lost"))
    await sender.send("ok@example.org", OutboundMessage(text="after"))
    assert [r.message.get_content().strip() for r in sink.received] == ["first", "after"]
    assert sink.handler.sessions == 2


async def test_server_closing_an_idle_connection_is_survived(
    sender: EmailSender, sink: Sink
) -> None:
    await sender.send("ok@example.org", OutboundMessage(text="first"))
    sink.drop_all_connections()
    await asyncio.sleep(0.05)
    await sender.send("ok@example.org", OutboundMessage(text="second"))
    assert len(sink.received) == 2
    assert sink.handler.sessions == 2


async def test_nothing_listening_is_transient() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    channel = make_sender(port)
    with pytest.raises(TransientFailure):
        await channel.send("a@example.org", OutboundMessage(text="hi"))
    await channel.close()


@pytest.mark.parametrize("address", ["not-an-address", "a@", "ünï@example.org"])
async def test_unusable_addresses_are_permanent(sender: EmailSender, address: str) -> None:
    with pytest.raises(PermanentFailure):
        await sender.send(address, OutboundMessage(text="hi"))


async def test_international_domain_goes_out_as_idna(sender: EmailSender, sink: Sink) -> None:
    await sender.send("anna@bücher.example", OutboundMessage(text="hi"))
    assert sink.received[0].rcpt_tos == ["anna@xn--bcher-kva.example"]
