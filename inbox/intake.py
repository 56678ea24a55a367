"""Starting a process from its intake form, the same way from the REST API and the web pages."""

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy.orm import Session

from db.models import Process, ProcessKind, Role, Site, User
from db.session import transaction
from domain import onboarding, resignation, training_plan
from domain.complaints import RECEIVING_ROLES, record_complaint
from domain.process_starts import claim_start_key, settle_start_key
from forms.complaint import ComplaintCreate
from forms.onboarding import NewHireCreate
from forms.resignation import ResignationCreate
from forms.training_plan import TrainingPlanCreate
from rules import resignation as resignation_rules
from rules import training_plan as training_plan_rules
from tasks.person_waits import within_person_wait
from tasks.process_runs import start_process_run


@dataclass(frozen=True)
class Intake:
    """How one kind of process is recorded: its form, the service that records it, and the
    rules that service reads (loaded at each start, so an edited rules file takes effect)."""

    kind: ProcessKind
    title: str  # English msgid of the "start" page
    form: type[BaseModel]
    record: Callable[..., Process]
    policy: Callable[[], Any] | None = None
    # The roles its service lets start it; None: anyone (a leaver records their own notice).
    roles: tuple[Role, ...] | None = None
    # The sites its form may name, for the person starting it (its service checks the same).
    sites: Callable[[Session, User], list[Site]] | None = None

    def may_start(self, user: User) -> bool:
        """Return whether `user` may start this process (so a page says so before the form)."""
        return self.roles is None or user.has_role(*self.roles)


INTAKES: dict[ProcessKind, Intake] = {
    intake.kind: intake
    for intake in (
        Intake(
            ProcessKind.COMPLAINT,
            "Record a complaint",
            ComplaintCreate,
            record_complaint,
            roles=RECEIVING_ROLES,
        ),
        Intake(
            ProcessKind.ONBOARDING,
            "Register a new hire",
            NewHireCreate,
            onboarding.register_new_hire,
            onboarding.current_policy,
            onboarding.REGISTERING_ROLES,
            onboarding.registration_sites,
        ),
        Intake(
            ProcessKind.RESIGNATION,
            "Record a resignation",
            ResignationCreate,
            resignation.record_resignation,
            resignation_rules.load_policy,
        ),
        Intake(
            ProcessKind.TRAINING_PLAN,
            "Start a training plan",
            TrainingPlanCreate,
            training_plan.start_plan,
            training_plan_rules.load_policy,
            (training_plan.DRAFTING_ROLE,),
        ),
    )
}


def start_process(
    kind: ProcessKind,
    user_id: int,
    intake: BaseModel,
    now: datetime,
    idempotency_key: str | None = None,
) -> Process:
    """Record a process as `user_id` and start its flow run; return the process as it stands.

    The flow run is created after the commit: if Prefect is unreachable the process stays
    "starting" and the sweep starts it later, so what was recorded is never lost; if Prefect is
    slow, the person is answered with the process "starting" while its run is created. A start sent
    again with the same `idempotency_key` records nothing and returns the first one's process.
    """
    spec = INTAKES[kind]
    rules = (spec.policy(),) if spec.policy else ()
    with transaction() as session:
        user = session.get_one(User, user_id)
        first = claim_start_key(session, user, idempotency_key, _digest(kind, intake), now)
        if first is not None:
            return first
        process = spec.record(session, user, intake, *rules, now)
        if idempotency_key is not None:
            settle_start_key(session, user, idempotency_key, process)
        process_id = process.id
    within_person_wait(lambda: start_process_run(process_id), f"Start of process {process_id}")
    with transaction() as session:
        return session.get_one(Process, process_id)


def _digest(kind: ProcessKind, intake: BaseModel) -> str:
    return hashlib.sha256(f"{kind}\n{intake.model_dump_json()}".encode()).hexdigest()
