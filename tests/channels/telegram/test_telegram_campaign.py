"""A CSAT survey sent by the campaign dispatcher through the real Telegram channel,
answered with its inline buttons (twice), counted once in the report."""

from __future__ import annotations

from rapport.channels.telegram.service import TelegramService
from rapport.channels.telegram.testing import BotApiStandIn
from rapport.crm.campaigns.runs import start_run
from rapport.crm.database import Database
from rapport.crm.dispatch.dispatcher import Dispatcher
from rapport.crm.privacy.consent import set_marketing_consent
from rapport.crm.reports.programmes import programme_metrics
from tests.support.campaign_fixtures import campaign, everyone
from tests.support.tg_helpers import replies


async def test_button_answer_reaches_the_report_once(
    api: BotApiStandIn, service: TelegramService, db: Database
) -> None:
    api.user(501, "Ann")
    await api.send_text(501, "hello, is my order ready?")
    await api.wait_for(replies(api, 501)(1))
    set_marketing_consent(db, "telegram", "501", granted=True, source="test")
    everyone(db)
    survey = campaign(
        db, "CSAT", kind="feedback", survey_kind="csat", template="How did we do, {{ first_name }}?"
    )
    start_run(db, survey.id)
    before = len(api.sent_to(501))

    stats = await Dispatcher(db, {"telegram": service.channel}).drain()

    assert stats.sent == 1
    question = api.sent_to(501)[before]
    # one labelled button per row, so the words fit: "1 = very dissatisfied" … "5 = very satisfied"
    assert [row for row in question.buttons] == [
        [("1 = very dissatisfied", "1")],
        [("2 = dissatisfied", "2")],
        [("3 = neutral", "3")],
        [("4 = satisfied", "4")],
        [("5 = very satisfied", "5")],
    ]
    await api.tap(question, "4")
    await api.tap(question, "2")  # a second tap on the same survey
    await api.wait_for(lambda: not api.pending)
    metrics = programme_metrics(db, campaign_ids=[survey.id])
    assert (metrics.delivered, metrics.survey_answers, metrics.csat_mean) == (1, 1, 4.0)
