"""All ORM models, imported here so that Alembic and the session see every table."""

from db.models.admin import AdminAction as AdminAction
from db.models.admin import AdminChange as AdminChange
from db.models.admin import AdminEntity as AdminEntity
from db.models.channels import BotSendWindow as BotSendWindow
from db.models.channels import GroupBot as GroupBot
from db.models.channels import NotificationPreference as NotificationPreference
from db.models.collaboration import SavedView as SavedView
from db.models.collaboration import Substitution as Substitution
from db.models.collaboration import TaskAttachment as TaskAttachment
from db.models.collaboration import TaskComment as TaskComment
from db.models.complaint import Complaint
from db.models.form_draft import FormDraft as FormDraft
from db.models.inbox_task import InboxTask, TaskPause, TaskState
from db.models.notice import Notice as Notice
from db.models.onboarding import ExamAttempt as ExamAttempt
from db.models.onboarding import NewHire as NewHire
from db.models.onboarding import OnboardingState as OnboardingState
from db.models.onboarding import PointEntry as PointEntry
from db.models.onboarding import Retraining as Retraining
from db.models.onboarding import TrainingDay as TrainingDay
from db.models.outbox import DeliveryState, OutboxMessage
from db.models.people import ApiToken, Role, Site, User, UserRole
from db.models.process import Event, Process, ProcessKind, ProcessState
from db.models.process_start import ProcessStartKey as ProcessStartKey
from db.models.resignation import HandoverItem as HandoverItem
from db.models.resignation import KbArticle as KbArticle
from db.models.resignation import KbArticleTag as KbArticleTag
from db.models.resignation import KnowledgeSession as KnowledgeSession
from db.models.resignation import Resignation as Resignation
from db.models.training_plan import AssessmentResult as AssessmentResult
from db.models.training_plan import AttendanceRecord as AttendanceRecord
from db.models.training_plan import TrainingPlan as TrainingPlan
from db.models.training_plan import TrainingPlanDecision as TrainingPlanDecision
from db.models.training_plan import TrainingPlanVersion as TrainingPlanVersion
from db.models.training_plan import TrainingSession as TrainingSession

__all__ = [
    "ApiToken",
    "Complaint",
    "DeliveryState",
    "Event",
    "InboxTask",
    "OutboxMessage",
    "Process",
    "ProcessKind",
    "ProcessState",
    "Role",
    "Site",
    "TaskPause",
    "TaskState",
    "User",
    "UserRole",
]
