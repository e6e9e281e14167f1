"""Bounce (RFC 3464) and complaint (RFC 5965 ARF) mails as mail systems send them."""

from __future__ import annotations

import uuid


def dsn(
    recipient: str | None,
    status: str = "5.1.1",
    action: str = "failed",
    original_id: str | None = None,
    *,
    report_id: str | None = None,
) -> bytes:
    """A Postfix-style bounce: text, message/delivery-status, the original's headers."""
    key = report_id or f"<dsn-{uuid.uuid4().hex[:10]}@mx.example.net>"
    recipient_block = (
        f"Final-Recipient: rfc822; {recipient}\r\nOriginal-Recipient: rfc822;{recipient}\r\n"
        if recipient
        else ""
    )
    original = (
        "--B\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"From: Corner Shop <shop@example.com>\r\nTo: {recipient or 'someone'}\r\n"
        f"Message-ID: {original_id}\r\nSubject: News\r\n\r\n"
        if original_id
        else ""
    )
    return (
        "Return-Path: <>\r\n"
        "From: Mail Delivery System <MAILER-DAEMON@mx.example.net>\r\n"
        "To: shop@example.com\r\nSubject: Undelivered Mail Returned to Sender\r\n"
        "Date: Mon, 23 Nov 2026 10:00:00 +0000\r\n"
        f"Message-ID: {key}\r\nAuto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n\r\n'
        "--B\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n"
        "--B\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.example.net\r\nArrival-Date: Mon, 23 Nov 2026 09:59:00 +0000\r\n"
        "\r\n"
        f"{recipient_block}Action: {action}\r\nStatus: {status}\r\n"
        f"Diagnostic-Code: smtp; 550 {status} mailbox unavailable\r\n\r\n"
        f"{original}--B--\r\n"
    ).encode()


def arf(recipient: str, original_id: str | None = None) -> bytes:
    """A feedback-loop complaint: the customer pressed "this is spam"."""
    key = f"<arf-{uuid.uuid4().hex[:10]}@fbl.example.net>"
    return (
        "From: Feedback Loop <fbl@fbl.example.net>\r\nTo: abuse@example.com\r\n"
        "Subject: FW: News\r\nDate: Mon, 23 Nov 2026 11:00:00 +0000\r\n"
        f"Message-ID: {key}\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=feedback-report; boundary="F"\r\n\r\n'
        "--F\r\nContent-Type: text/plain\r\n\r\nThis is an abuse report.\r\n"
        "--F\r\nContent-Type: message/feedback-report\r\n\r\n"
        "Feedback-Type: abuse\r\nUser-Agent: SomeFBL/1.0\r\nVersion: 1\r\n"
        f"Original-Rcpt-To: {recipient}\r\n\r\n"
        "--F\r\nContent-Type: message/rfc822\r\n\r\n"
        f"From: Corner Shop <shop@example.com>\r\nTo: {recipient}\r\n"
        f"Message-ID: {original_id or '<unknown@example.com>'}\r\nSubject: News\r\n\r\nOffers!\r\n"
        "--F--\r\n"
    ).encode()
