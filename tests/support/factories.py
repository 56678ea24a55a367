"""Factories for tests: demo people, new colleagues, complaints and their open tasks."""

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models import InboxTask, Role, Site, User, UserRole
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
    intake = ComplaintCreate(
        resident_name=resident_name,
        unit=f"3-1-{uuid.uuid4().hex[:4]}",
        contact_phone="13800138000",
        channel="phone",
        category=category,
        urgency=urgency,
        description="楼上深夜装修噪音",
    )
    process = record_complaint(session, staff, intake, received_at)
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


def new_staff(display_name: str) -> tuple[int, str]:
    """Add (and commit) a front-desk colleague at the demo site; return their id and username."""
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
        user.roles = [UserRole(role=Role.STAFF)]
        session.add(user)
        session.flush()
        return user.id, username
