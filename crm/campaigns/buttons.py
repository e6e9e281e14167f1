"""Which buttons Rapport sent: a tap is taken only under a survey question of ours.

A button tap names the message it sits under and carries the button's data.
Clients can send any data for any message (and Telegram delivers taps on
messages Rapport no longer knows: a database restored from an older backup,
a message sent by an earlier bot), so a tap counts only when the message is a
survey question Rapport sent to this very chat (a campaign delivery or the
satisfaction question after a complaint) and the data is one of its scores.
Anything else is answered "no longer active" and stored nowhere.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from rapport.crm.campaigns.definitions import SURVEY_SCALES
from rapport.crm.database import Database
from rapport.crm.models import (
    Campaign,
    ConversationSurvey,
    Delivery,
    DeliveryStatus,
    Identity,
    SurveyKind,
    SurveyResponse,
)


@dataclass(frozen=True, slots=True)
class TappedQuestion:
    """The survey question a tap answers, and whether it was answered already."""

    kind: str
    """"campaign" (a delivery's CSAT or NPS) or "resolution" (the CSAT after a complaint)."""
    answered: bool


def _on_scale(data: str, scale: tuple[int, int]) -> bool:
    low, high = scale
    return data.isdigit() and low <= int(data) <= high


def tapped_question(
    db: Database, channel: str, external_id: str, message_key: str, data: str
) -> TappedQuestion | None:
    """The question Rapport sent as `message_key` to this address, if `data` is its button."""
    with db.session() as session:
        campaign = session.execute(
            select(Delivery.id, Campaign.survey_kind)
            .join(Campaign, Campaign.id == Delivery.campaign_id)
            .join(Identity, Identity.id == Delivery.identity_id)
            .where(
                Delivery.message_key == message_key,
                Delivery.status == DeliveryStatus.SENT.value,
                Identity.channel == channel,
                Identity.external_id == external_id,
                Campaign.survey_kind.is_not(None),
            )
        ).first()
        if campaign is not None:
            if not _on_scale(data, SURVEY_SCALES[campaign.survey_kind]):
                return None
            answered = session.scalar(
                select(SurveyResponse.id).where(SurveyResponse.delivery_id == campaign.id)
            )
            return TappedQuestion("campaign", answered is not None)
        resolution = session.execute(
            select(ConversationSurvey.answered_at)
            .join(Identity, Identity.customer_id == ConversationSurvey.customer_id)
            .where(
                ConversationSurvey.message_key == message_key,
                ConversationSurvey.channel == channel,
                Identity.channel == channel,
                Identity.external_id == external_id,
            )
        ).first()
        if resolution is None or not _on_scale(data, SURVEY_SCALES[SurveyKind.CSAT]):
            return None
        return TappedQuestion("resolution", resolution.answered_at is not None)
