"""Factories for tests: demo people, new colleagues, complaints and their open tasks, and cases
naming their people."""

import re
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models import (
    DeliveryState,
    InboxTask,
    NewHire,
    OutboxMessage,
    Process,
    ProcessKind,
    ProcessState,
    Resignation,
    Role,
    Site,
    TrainingPlan,
    User,
    UserRole,
)
from db.session import transaction
from domain.complaints import record_complaint
from domain.inbox import open_task
from domain.people import hash_password
from domain.sla import ladder_key
from domain.steps import HumanRequest, HumanStep
from flows.complaint import FIRST_RESPONSE
from forms.complaint import ComplaintCreate
from launch.demo import DEMO_PASSWORD, DEMO_SITE_CODE


def person(session: Session, username: str) -> User:
    """Return a demo person by username."""
    return session.scalars(select(User).where(User.username == username)).one()


def complaint_task(
    session: Session,
    received_at: datetime,
    *,
    urgency: str = "urgent",
    category: str = "noise",
    step: HumanStep[Any] = FIRST_RESPONSE,
    by: str = "zhangmin",
    opened_at: datetime | None = None,
    available_from: datetime | None = None,
    resident_name: str = "王先生",
) -> InboxTask:
    """Record a complaint received at `received_at` and open its first step, clock running."""
    staff = person(session, by)
    intake = complaint_intake(resident_name=resident_name, category=category, urgency=urgency)
    process = record_complaint(session, staff, intake, received_at)
    # The test drives this case itself: left "starting", the sweep of a stack sharing the
    # database would start a real flow run for it, which opens the same step again.
    process.state = ProcessState.RUNNING
    request = HumanRequest(
        process_id=process.id,
        key="first-response",
        site_id=staff.site_id,
        assignee_id=staff.id,
        owner_of_record_id=staff.id,
        sla_ladder=ladder_key("complaint", category, urgency),
        sla_started_at=received_at,
        available_from=available_from,
    )
    return open_task(session, step, request, str(uuid.uuid4()), opened_at or received_at)


def complaint_intake(
    *, resident_name: str = "王先生", category: str = "noise", urgency: str = "urgent"
) -> ComplaintCreate:
    """Return a resident's complaint as the front desk records it, at a unit of its own."""
    return ComplaintCreate(
        resident_name=resident_name,
        unit=f"3-1-{uuid.uuid4().hex[:4]}",
        contact_phone="13800138000",
        channel="phone",
        category=category,
        urgency=urgency,
        description="楼上深夜装修噪音",
    )


def step_task(
    session: Session,
    step: HumanStep[Any],
    kind: ProcessKind,
    holder: User,
    now: datetime,
    context: dict[str, Any] | None = None,
) -> InboxTask:
    """Open `step` of a new case of `kind`, held by `holder`, without a flow run behind it.

    A complaint is recorded by the demo front desk; any other case names newcomers as its
    parties (leaver, ...), so that no party rule bars `holder`.
    """
    if kind is ProcessKind.COMPLAINT:
        process = record_complaint(session, person(session, "zhangmin"), complaint_intake(), now)
        process.state = ProcessState.RUNNING  # driven by the test (see complaint_task)
    else:
        process = case(session, kind, holder, leaver=colleague(session, Role.STAFF))
    request = HumanRequest(
        process_id=process.id,
        key=re.sub(r"[^a-z0-9-]+", "-", step.name.lower()),
        site_id=holder.site_id,
        assignee_id=holder.id,
        owner_of_record_id=holder.id,
        context=context,
    )
    return open_task(session, step, request, str(uuid.uuid4()), now)


def colleague(session: Session, *roles: Role, site_id: int | None = None) -> User:
    """Add an active colleague holding `roles`, at the demo site unless `site_id` is given."""
    if site_id is None:
        site_id = session.scalars(select(Site.id).where(Site.code == DEMO_SITE_CODE)).one()
    username = f"u{uuid.uuid4().hex[:10]}"
    user = User(username=username, display_name=username, password_hash="-", site_id=site_id)
    user.roles = [UserRole(role=role) for role in roles]
    session.add(user)
    session.flush()
    return user


def case(
    session: Session,
    kind: ProcessKind,
    started_by: User,
    *,
    drafter: User | None = None,
    leaver: User | None = None,
    successor: User | None = None,
    new_hire: User | None = None,
) -> Process:
    """Add a process of `kind` at `started_by`'s site whose own row names the people given."""
    process = Process(
        kind=kind,
        site_id=started_by.site_id,
        subject="测试案例",
        started_by_id=started_by.id,
        # Driven by the test, never by a flow run (see complaint_task).
        state=ProcessState.RUNNING,
    )
    session.add(process)
    session.flush()
    # Far-off periods and days: one per case, so cases never meet on a unique key.
    day = date(2200, 1, 1) + timedelta(days=uuid.uuid4().int % 50_000)
    if kind is ProcessKind.TRAINING_PLAN:
        session.add(
            TrainingPlan(
                process_id=process.id, site_id=process.site_id, kind="monthly",
                period_starts_on=day, period_ends_on=day, opens_on=day, draft_due_on=day,
                approval_due_on=day, deadline_rule="test", drafter_id=drafter and drafter.id,
            )
        )  # fmt: skip
    elif kind is ProcessKind.RESIGNATION:
        session.add(
            Resignation(
                process_id=process.id, leaver_id=(leaver or started_by).id,
                recorded_by_id=started_by.id, last_working_day=day,
                offboard_at=datetime(2200, 1, 1, tzinfo=UTC),
                successor_id=successor and successor.id,
            )
        )  # fmt: skip
    elif kind is ProcessKind.ONBOARDING:
        session.add(
            NewHire(
                process_id=process.id, name="新员工", post="前台", start_date=day,
                user_id=new_hire and new_hire.id, trainer_id=started_by.id, cohort="test",
                registered_by_id=started_by.id, policy={},
            )
        )  # fmt: skip
    session.flush()
    return process


def user_id(username: str) -> int:
    """Return the id of the person with `username`."""
    with transaction() as session:
        return session.scalars(select(User.id).where(User.username == username)).one()


def new_staff(display_name: str, role: Role = Role.STAFF) -> tuple[int, str]:
    """Add (and commit) a colleague at the demo site who signs in with the demo password (front
    desk unless `role` says otherwise); return their id and username."""
    username = f"staff-{uuid.uuid4().hex[:8]}"
    with transaction() as session:
        site_id = session.scalars(select(Site.id).where(Site.code == DEMO_SITE_CODE)).one()
        user = User(
            username=username,
            display_name=display_name,
            password_hash=hash_password(DEMO_PASSWORD),
            site_id=site_id,
            email=f"{username}@test.kefu.local",
        )
        user.roles = [UserRole(role=role)]
        session.add(user)
        session.flush()
        return user.id, username


def dead_email(subject: str, last_error: str, to: str = "zhangmin") -> int:
    """A 【待办】 email to `to` that failed on every attempt, as a refusing mail server leaves
    it; return its outbox id."""
    with transaction() as session:
        message = OutboxMessage(
            dedup_key=f"test:{uuid.uuid4()}",
            event="task_assigned",
            channel="email",
            recipient_id=person(session, to).id,
            subject=subject,
            body="…",
            state=DeliveryState.DEAD,
            attempts=5,
            last_error=last_error,
        )
        session.add(message)
        session.flush()
        return message.id
