"""The ORM model of the CRM core, one module per topic, every model re-exported here.

`from rapport.crm.models import Customer` works for every model (as Zulip's
zerver/models/__init__.py does); importing this package registers every
table on `Base.metadata`, which the Alembic environment and
`tests/migrations/test_migrations.py` compare with the migrations. Tables are created
and changed only by the Alembic migrations in `migrations/`.
"""

from rapport.crm.models.base import NAMING as NAMING
from rapport.crm.models.base import Base as Base
from rapport.crm.models.base import BigId as BigId
from rapport.crm.models.base import UtcDateTime as UtcDateTime
from rapport.crm.models.campaigns import Campaign as Campaign
from rapport.crm.models.campaigns import CampaignKind as CampaignKind
from rapport.crm.models.campaigns import CampaignRun as CampaignRun
from rapport.crm.models.campaigns import CampaignStatus as CampaignStatus
from rapport.crm.models.campaigns import Delivery as Delivery
from rapport.crm.models.campaigns import DeliveryStatus as DeliveryStatus
from rapport.crm.models.campaigns import SurveyKind as SurveyKind
from rapport.crm.models.campaigns import SurveyResponse as SurveyResponse
from rapport.crm.models.customers import Customer as Customer
from rapport.crm.models.customers import CustomerMerge as CustomerMerge
from rapport.crm.models.customers import CustomerTag as CustomerTag
from rapport.crm.models.customers import Identity as Identity
from rapport.crm.models.customers import LinkCode as LinkCode
from rapport.crm.models.desk import AnnouncementMessage as AnnouncementMessage
from rapport.crm.models.desk import Conversation as Conversation
from rapport.crm.models.desk import ConversationStatus as ConversationStatus
from rapport.crm.models.desk import ConversationSurvey as ConversationSurvey
from rapport.crm.models.desk import FollowUp as FollowUp
from rapport.crm.models.integrations import ApiKey as ApiKey
from rapport.crm.models.integrations import WebhookDelivery as WebhookDelivery
from rapport.crm.models.integrations import WebhookDeliveryStatus as WebhookDeliveryStatus
from rapport.crm.models.integrations import WebhookEvent as WebhookEvent
from rapport.crm.models.integrations import WebhookSubscription as WebhookSubscription
from rapport.crm.models.interactions import SENTIMENT_INDEX_WHERE as SENTIMENT_INDEX_WHERE
from rapport.crm.models.interactions import Direction as Direction
from rapport.crm.models.interactions import Interaction as Interaction
from rapport.crm.models.operations import DeadLetter as DeadLetter
from rapport.crm.models.operations import HandledCommand as HandledCommand
from rapport.crm.models.operations import TaskHealth as TaskHealth
from rapport.crm.models.outreach import AppSecret as AppSecret
from rapport.crm.models.outreach import MailReport as MailReport
from rapport.crm.models.outreach import OptInRequest as OptInRequest
from rapport.crm.models.privacy import Consent as Consent
from rapport.crm.models.privacy import ConsentEvent as ConsentEvent
from rapport.crm.models.privacy import ConsentPurpose as ConsentPurpose
from rapport.crm.models.privacy import UnsubscribeUse as UnsubscribeUse
from rapport.crm.models.segments import Segment as Segment
from rapport.crm.models.staff import AuditEvent as AuditEvent
from rapport.crm.models.staff import StaffLoginLink as StaffLoginLink
from rapport.crm.models.staff import StaffMember as StaffMember
from rapport.crm.models.staff import StaffRole as StaffRole
from rapport.crm.models.staff import StaffSession as StaffSession
from rapport.crm.models.value import CustomerValue as CustomerValue
from rapport.crm.models.value import Order as Order
from rapport.crm.models.value import PointsEntry as PointsEntry
