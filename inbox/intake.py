"""Starting a process from its intake form, the same way from the REST API and the web pages."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy.orm import Session

from db.models import Process, ProcessKind, User
from db.session import transaction
from domain import onboarding, resignation, training_plan
from domain.complaints import record_complaint
from forms.complaint import ComplaintCreate
from forms.onboarding import NewHireCreate
from forms.resignation import ResignationCreate
from forms.training_plan import TrainingPlanCreate
from rules import resignation as resignation_rules
from rules import training_plan as training_plan_rules
from tasks.process_runs import start_process_run


@dataclass(frozen=True)
class Intake:
    """How one kind of process is recorded: its form and the service that records it."""

    kind: ProcessKind
    title: str  # English msgid of the "start" page
    form: type[BaseModel]
    record: Callable[[Session, User, Any, datetime], Process]


INTAKES: dict[ProcessKind, Intake] = {
    ProcessKind.COMPLAINT: Intake(
        ProcessKind.COMPLAINT, "Record a complaint", ComplaintCreate, record_complaint
    ),
    ProcessKind.ONBOARDING: Intake(
        ProcessKind.ONBOARDING,
        "Register a new hire",
        NewHireCreate,
        lambda s, u, f, now: onboarding.register_new_hire(
            s, u, f, onboarding.current_policy(), now
        ),
    ),
    ProcessKind.RESIGNATION: Intake(
        ProcessKind.RESIGNATION,
        "Record a resignation",
        ResignationCreate,
        lambda s, u, f, now: resignation.record_resignation(
            s, u, f, resignation_rules.load_policy(), now
        ),
    ),
    ProcessKind.TRAINING_PLAN: Intake(
        ProcessKind.TRAINING_PLAN,
        "Start a training plan",
        TrainingPlanCreate,
        lambda s, u, f, now: training_plan.start_plan(
            s, u, f, training_plan_rules.load_policy(), now
        ),
    ),
}


def start_process(kind: ProcessKind, user_id: int, intake: BaseModel, now: datetime) -> Process:
    """Record a process as `user_id` and start its flow run; return the process as it stands.

    The flow run is created after the commit: if Prefect is unreachable the process stays
    "starting" and the sweep starts it later, so what was recorded is never lost.
    """
    with transaction() as session:
        process_id = INTAKES[kind].record(session, session.get_one(User, user_id), intake, now).id
    start_process_run(process_id)
    with transaction() as session:
        return session.get_one(Process, process_id)
