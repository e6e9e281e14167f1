"""An email-only shop, end to end through real processes.

`rapport run` hosts the inbound SMTP server, the web server and the
dispatcher; an aiosmtpd sink is the shop's relay; every step is a `rapport`
command or what a customer's mail client and browser do over HTTP and SMTP.
Three customers are imported (one with consent), a fourth is invited and
confirms through the link; the campaign is previewed, test-sent, then run:
exactly the two consenting customers get one mail each, with a Subject and
a one-click unsubscribe that works (the next run skips them: no_consent).
Then the mail system reports back: a bounce makes an address unreachable and
a complaint withdraws consent, and nobody called MAILER-DAEMON is a customer.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

from aiohttp import ClientSession
from sqlalchemy import select

from rapport.crm.database import Database
from rapport.crm.models import Customer, Identity
from tests.support.email_inbound_smtp import send
from tests.support.email_sink import Sink
from tests.support.report_mail import arf, dsn
from tests.support.shop_processes import Shop, free_port, running, shop_env

CSV = """email,name,consent,consent_source,consent_at
ann@example.org,Ann Lee,yes,signed at the till,2026-11-01
bob@example.org,Bob Wu,no,,
cy@example.org,Cy Chan,,,
"""
CONFIRM = re.compile(r"http://127\.0\.0\.1:\d+/confirm/\S+")


def _campaign_mails(sink: Sink, subject: str) -> list:  # type: ignore[type-arg]
    return [r for r in sink.received if r.message["Subject"] == subject]


async def test_an_email_only_shop_from_import_to_unsubscribe_and_bounces(
    db_url: str, tmp_path: Path, sink: Sink
) -> None:
    inbound, web = free_port(), free_port()
    shop = Shop(
        tmp_path,
        shop_env(tmp_path, db_url, sink, RAPPORT_INBOUND_SMTP_PORT=str(inbound),
                 RAPPORT_WEB_PORT=str(web)),
    )  # fmt: skip
    (tmp_path / "customers.csv").write_text(CSV, encoding="utf-8")

    async with running(shop) as log, ClientSession() as http:
        assert "RAPPORT_PUBLIC_URL is not set" in log.read_text()  # the start-up warning

        imported = await shop.rapport("customers", "import", "customers.csv")
        assert "3 row(s): 3 new customer(s)" in imported and "1 email consent(s)" in imported

        invited = await shop.rapport("customers", "invite", "dee@example.org", "--name", "Dee")
        assert "confirmation mail sent to dee@example.org" in invited
        [confirmation] = sink.received
        link = CONFIRM.search(confirmation.message.get_body(("plain",)).get_content())
        assert link is not None
        async with http.get(link.group(0)) as page:  # opening it changes nothing
            assert page.status == 200 and "Yes, subscribe me" in await page.text()
        assert "dee@example.org" not in await shop.rapport("customers", "list")
        async with http.post(link.group(0), data={"confirm": "yes"}) as page:
            assert page.status == 200 and "Subscribed" in await page.text()
        listing = await shop.rapport("customers", "list", "--format", "csv")
        rows = list(csv.DictReader(io.StringIO(listing)))
        assert [r["contact"] for r in rows if r["consent"] == "email"] == [
            "ann@example.org",
            "dee@example.org",
        ]  # Ann (imported with consent) and Dee (confirmed)

        await shop.rapport("segments", "create", "everyone", "--rule", '{"all": []}')
        await shop.rapport("campaigns", "create", "Winter offer", "--kind", "announcement",
                           "--segment", "everyone", "--channel", "email",
                           "--template", "Hi {{ first_name }}, 10% off this week.")  # fmt: skip
        preview = await shop.rapport("campaigns", "preview", "Winter offer", "--customer", "1")
        assert "Subject: Winter offer" in preview and "Hi Ann, 10% off" in preview
        tested = await shop.rapport(
            "campaigns", "test", "Winter offer", "--email", "owner@corner-shop.example"
        )
        assert "counts in no report" in tested
        assert sink.received[-1].message["Subject"] == "[TEST] Winter offer"

        ran = await shop.rapport("campaigns", "run-now", "Winter offer")
        assert "2 queued, skipped: no_consent 2" in ran and "sent 2," in ran
        mails = _campaign_mails(sink, "Winter offer")
        assert sorted(m.message["To"] for m in mails) == ["ann@example.org", "dee@example.org"]
        for mail in mails:
            assert mail.message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
            header = mail.message["List-Unsubscribe"]
            assert header.startswith(f"<http://127.0.0.1:{web}/u/")
            body = mail.message.get_body(("plain",)).get_content()
            assert header[1:-1] in body  # the visible link is the same one
            # what a mail client's unsubscribe button does (RFC 8058)
            async with http.post(header[1:-1], data={"List-Unsubscribe": "One-Click"}) as done:
                assert done.status == 200 and "Unsubscribed" in await done.text()

        again = await shop.rapport("campaigns", "run-now", "Winter offer", "--again")
        assert "0 queued, skipped: no_consent 4" in again
        assert len(_campaign_mails(sink, "Winter offer")) == 2  # nobody got a second one

        # the mail system reports back, to the inbound SMTP server
        ann_mail = next(m for m in mails if m.message["To"] == "ann@example.org")
        bounce = dsn("ann@example.org", "5.1.1", original_id=ann_mail.message["Message-ID"])
        await send(inbound, bounce, mail_from="")  # a bounce: the null sender
        await shop.rapport("consent", "grant", "2", "--source", "asked at the till, 2026-11-25")
        assert "1 would be queued" in await shop.rapport(
            "campaigns", "run-now", "Winter offer", "--dry-run"
        )
        await send(inbound, arf("bob@example.org"), mail_from="fbl@fbl.example.net")
        assert "0 would be queued" in await shop.rapport(
            "campaigns", "run-now", "Winter offer", "--dry-run"
        )
        reports = await shop.rapport("mail", "reports")
        assert "unreachable (5.1.1)" in reports and "consent withdrawn" in reports
        names = await shop.rapport("customers", "list")
        assert "postmaster" not in names.lower() and "mailer-daemon" not in names.lower()

    db = Database(db_url)
    try:
        with db.session() as s:
            ann = s.scalar(select(Identity).where(Identity.external_id == "ann@example.org"))
            assert ann is not None and ann.unreachable_reason == "bounced 5.1.1"
            assert len(s.scalars(select(Customer)).all()) == 4
    finally:
        db.dispose()
