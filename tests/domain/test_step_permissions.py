"""Who may decide a step, be handed it and read its case, against the real database."""

import ast
import inspect
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models import Event, InboxTask, OutboxMessage, ProcessKind, Role, Site, TaskState, User
from domain import inbox, sla
from domain.errors import Forbidden, Invalid, NotFound
from domain.processes import get_process
from domain.steps import HumanRequest, HumanStep
from domain.substitutes import set_substitute
from domain.task_access import eligible_assignees, why_not_take
from domain.training_plan import APPROVAL_LADDER, SUPERVISOR_LADDER
from flows.catalog import STEPS
from flows.complaint import DEPARTMENT_WORK
from flows.onboarding import CHOOSE_MENTOR, DISMISSAL
from flows.training_plan import APPROVE, DRAFT
from i18n import gettext_for
from tests.support.factories import case, colleague, complaint_task, person

NOW = datetime(2026, 9, 1, 2, 0, tzinfo=UTC)  # 10:00 in Beijing, a Tuesday
APPROVAL = {"outcome": "approve", "reason": ""}
DISMISS = {"decision": "dismiss", "reason": "第三次考核仍不合格"}


def open_step(
    session: Session,
    step: HumanStep[object],
    process_id: str,
    site_id: int,
    *,
    assignee: User | None = None,
    role: Role | None = None,
    owner: User | None = None,
) -> InboxTask:
    """Open one occurrence of `step` as its flow would."""
    request = HumanRequest(
        process_id=process_id,
        key=f"k-{uuid.uuid4().hex[:8]}",
        site_id=site_id,
        assignee_id=assignee and assignee.id,
        candidate_role=role and str(role),
        owner_of_record_id=owner and owner.id,
    )
    return inbox.open_task(session, step, request, str(uuid.uuid4()), NOW)


def plan_approval(session: Session, drafter: User, approver: User) -> InboxTask:
    """Return the approval task of a plan `drafter` drafted, held by `approver`."""
    plan = case(session, ProcessKind.TRAINING_PLAN, drafter, drafter=drafter)
    return open_step(
        session, APPROVE, plan.id, drafter.site_id,
        assignee=approver, role=Role.SITE_MANAGER, owner=approver,
    )  # fmt: skip


def new_site(session: Session) -> int:
    """Return the id of a new site."""
    site = Site(code=f"s{uuid.uuid4().hex[:10]}", name="另一个管理处")
    session.add(site)
    session.flush()
    return site.id


def holder(session: Session, task: InboxTask) -> int | None:
    return session.scalar(select(InboxTask.assignee_id).where(InboxTask.id == task.id))


# --- segregation of duties through hand-overs (issue 15, finding 1) -----------------------------


def test_the_drafter_cannot_hand_the_plan_approval_to_the_front_desk(session: Session) -> None:
    drafter, front_desk = person(session, "zhaolei"), person(session, "zhangmin")
    manager = person(session, "chenjing")
    task = plan_approval(session, drafter, manager)

    # The supervisor oversees the site's tasks, but may hand the approval only to an approver.
    with pytest.raises(Invalid) as refused:
        inbox.reassign(session, drafter, task.id, front_desk.id, "她有空", APPROVE, NOW)
    assert refused.value.problems[0].loc == ("to_user_id",)
    assert refused.value.problems[0].message == (
        "This person does not hold a role that decides this step"
    )
    assert holder(session, task) == manager.id
    with pytest.raises(NotFound):  # not hers: she does not even see it
        inbox.complete(session, front_desk, task.id, APPROVAL, STEPS, NOW)

    # The holder cannot pass it on to the drafter either, even one who is a site manager too.
    drafting_manager = colleague(session, Role.SUPERVISOR, Role.SITE_MANAGER)
    task = plan_approval(session, drafting_manager, manager)
    for hand_on in (inbox.delegate, inbox.reassign):
        with pytest.raises(Invalid) as refused:
            hand_on(session, manager, task.id, drafting_manager.id, "请代批", APPROVE, NOW)
        assert refused.value.problems[0].message == (
            "This person is part of the case and may not decide this step"
        )
    assert holder(session, task) == manager.id

    # Another site manager may be handed it, and decides.
    other_manager = colleague(session, Role.SITE_MANAGER)
    inbox.delegate(session, manager, task.id, other_manager.id, "出差", APPROVE, NOW)
    done = inbox.complete(session, other_manager, task.id, APPROVAL, STEPS, NOW)
    assert (done.state, done.completed_by_id) == (TaskState.DONE, other_manager.id)


def test_a_drafter_who_holds_the_approval_anyway_cannot_decide_or_claim_it(
    session: Session,
) -> None:
    drafter = colleague(session, Role.SUPERVISOR, Role.SITE_MANAGER)
    held = plan_approval(session, drafter, drafter)  # e.g. handed over before this rule
    with pytest.raises(Forbidden):
        inbox.complete(session, drafter, held.id, APPROVAL, STEPS, NOW)

    plan = case(session, ProcessKind.TRAINING_PLAN, drafter, drafter=drafter)
    queued = open_step(session, APPROVE, plan.id, drafter.site_id, role=Role.SITE_MANAGER)
    with pytest.raises(Forbidden):
        inbox.claim(session, drafter, queued.id, NOW)
    assert holder(session, queued) is None


def test_eligible_assignees_are_the_approvers_of_the_site_but_never_the_drafter(
    session: Session,
) -> None:
    drafter = colleague(session, Role.SUPERVISOR, Role.SITE_MANAGER)
    manager = person(session, "chenjing")
    other_manager = colleague(session, Role.SITE_MANAGER)
    elsewhere = colleague(session, Role.SITE_MANAGER, site_id=new_site(session))
    task = plan_approval(session, drafter, manager)

    eligible = {u.id for u in eligible_assignees(session, task)}

    assert other_manager.id in eligible
    assert not eligible & {drafter.id, manager.id, elsewhere.id, person(session, "zhangmin").id}
    assert all(u.has_role(Role.SITE_MANAGER) for u in eligible_assignees(session, task))


def test_a_substitute_takes_only_the_tasks_they_may_decide(session: Session) -> None:
    manager = colleague(session, Role.SITE_MANAGER)
    # Someone without the away person's roles is refused as their substitute.
    with pytest.raises(Invalid) as refused:
        set_substitute(
            session, manager, manager.id, person(session, "zhangmin").id,
            NOW - timedelta(hours=1), NOW + timedelta(days=2), "年假", NOW,
        )  # fmt: skip
    assert refused.value.problems[0].loc == ("substitute_id",)

    # A fellow site manager who drafted the plan stands in, but not for its approval.
    drafter = colleague(session, Role.SUPERVISOR, Role.SITE_MANAGER)
    approval = plan_approval(session, drafter, manager)
    complaint = complaint_task(session, NOW, by=manager.username)
    set_substitute(
        session, manager, manager.id, drafter.id,
        NOW - timedelta(hours=1), NOW + timedelta(days=2), "年假", NOW,
    )  # fmt: skip

    assert holder(session, approval) == manager.id
    assert holder(session, complaint) == drafter.id
    kept = session.scalars(
        select(Event).where(Event.task_id == approval.id, Event.kind == "task_kept_from_substitute")
    ).one()
    assert kept.data == {"from_user_id": manager.id, "to_user_id": drafter.id}
    # A new approval opening while the manager is away waits for them too.
    later = plan_approval(session, drafter, manager)
    assert later.assignee_id == manager.id


# --- a role's decision, whoever owns the case (issue 16, finding 2) ------------------------------


def test_hr_owning_the_onboarding_cannot_take_the_site_managers_decisions(
    session: Session,
) -> None:
    hr, manager = person(session, "sunli"), person(session, "chenjing")
    hire = case(session, ProcessKind.ONBOARDING, hr)
    dismissal = open_step(session, DISMISSAL, hire.id, hr.site_id, role=Role.SITE_MANAGER, owner=hr)
    mentor = open_step(session, CHOOSE_MENTOR, hire.id, hr.site_id, role=Role.SUPERVISOR, owner=hr)

    with pytest.raises(Forbidden) as refused:
        inbox.complete(session, hr, dismissal.id, DISMISS, STEPS, NOW)
    assert refused.value.message == "You may not decide this step"
    with pytest.raises(Forbidden):
        inbox.complete(session, hr, mentor.id, {"mentor_id": manager.id}, STEPS, NOW)
    # HR still follows the case: it sees both tasks and the process.
    assert inbox.get_task(session, hr, dismissal.id).state == TaskState.OPEN
    assert get_process(session, hr, hire.id).id == hire.id

    done = inbox.complete(session, manager, dismissal.id, DISMISS, STEPS, NOW)
    assert (done.state, done.completed_by_id) == (TaskState.DONE, manager.id)


def test_an_admin_decides_for_someone_only_through_the_audited_action(session: Session) -> None:
    admin, hr, manager = (person(session, name) for name in ("admin", "sunli", "chenjing"))
    hire = case(session, ProcessKind.ONBOARDING, hr)
    task = open_step(session, DISMISSAL, hire.id, hr.site_id, role=Role.SITE_MANAGER, owner=hr)

    # No back door: the admin can neither decide nor take the task themselves.
    with pytest.raises(Forbidden):
        inbox.complete(session, admin, task.id, DISMISS, STEPS, NOW)
    with pytest.raises(Invalid):
        inbox.reassign(session, admin, task.id, admin.id, "我来", DISMISSAL, NOW)
    # Acting for someone who may not decide it, without a reason, or as a non-admin: refused.
    with pytest.raises(Invalid) as refused:
        inbox.complete_on_behalf(session, admin, task.id, hr.id, "电话授权", DISMISS, STEPS, NOW)
    assert refused.value.problems[0].loc == ("on_behalf_of_id",)
    with pytest.raises(Invalid) as refused:
        inbox.complete_on_behalf(session, admin, task.id, manager.id, " ", DISMISS, STEPS, NOW)
    assert refused.value.problems[0].loc == ("reason",)
    with pytest.raises(Forbidden):
        inbox.complete_on_behalf(session, hr, task.id, manager.id, "电话授权", DISMISS, STEPS, NOW)

    done = inbox.complete_on_behalf(
        session, admin, task.id, manager.id, "经理电话授权", DISMISS, STEPS, NOW
    )

    assert (done.state, done.completed_by_id) == (TaskState.DONE, manager.id)
    event = session.scalars(
        select(Event).where(Event.task_id == task.id, Event.kind == "task_completed")
    ).one()
    assert event.actor_id == admin.id
    assert (event.data["on_behalf_of_id"], event.data["reason"]) == (manager.id, "经理电话授权")


# --- an escalation brings a tier in; the decision stays with the step's role (audit) ------------


def test_an_overdue_draft_goes_to_the_managers_queue_but_only_a_supervisor_drafts(
    session: Session,
) -> None:
    supervisor, manager = person(session, "zhaolei"), person(session, "chenjing")
    plan = case(session, ProcessKind.TRAINING_PLAN, supervisor, drafter=supervisor)
    request = HumanRequest(
        process_id=plan.id, key="draft-1", site_id=supervisor.site_id,
        assignee_id=supervisor.id, owner_of_record_id=supervisor.id,
        sla_ladder=SUPERVISOR_LADDER, sla_started_at=NOW,
    )  # fmt: skip
    task = inbox.open_task(session, DRAFT, request, str(uuid.uuid4()), NOW)
    assert task.due_at is not None
    assert "escalated:site_manager" in sla.apply_clock(session, task.id, task.due_at, STEPS)
    assert (task.candidate_role, task.assignee_id) == ("site_manager", None)

    # The site manager sees it in the queue and may hand it on, but not draft it.
    assert inbox.get_task(session, manager, task.id).id == task.id
    with pytest.raises(Forbidden) as refused:
        inbox.claim(session, manager, task.id, NOW)
    assert refused.value.message == "You may not decide this step"
    with pytest.raises(Forbidden):
        inbox.complete(session, manager, task.id, {}, STEPS, NOW)
    eligible = eligible_assignees(session, task)
    assert eligible and all(u.has_role(Role.SUPERVISOR) for u in eligible)
    # A supervisor still drafts it (an unfit plan is refused later, when it is recorded).
    done = inbox.complete(session, supervisor, task.id, {}, STEPS, NOW)
    assert (done.state, done.completed_by_id) == (TaskState.DONE, supervisor.id)


def test_an_overdue_approval_tells_quality_and_stays_the_site_managers_decision(
    session: Session,
) -> None:
    drafter, manager = person(session, "zhaolei"), person(session, "chenjing")
    quality = person(session, "zhoupin")
    plan = case(session, ProcessKind.TRAINING_PLAN, drafter, drafter=drafter)
    request = HumanRequest(
        process_id=plan.id, key="draft-approval-1-1", site_id=drafter.site_id,
        assignee_id=manager.id, candidate_role="site_manager", owner_of_record_id=manager.id,
        sla_ladder=APPROVAL_LADDER, sla_started_at=NOW,
    )  # fmt: skip
    task = inbox.open_task(session, APPROVE, request, str(uuid.uuid4()), NOW)
    assert task.due_at is not None and task.sla_rule == "training_plan/approval/general/resolution"
    assert "escalated:quality" in sla.apply_clock(session, task.id, task.due_at, STEPS)

    assert inbox.get_task(session, quality, task.id).candidate_role == "quality"
    with pytest.raises(Forbidden):
        inbox.complete(session, quality, task.id, APPROVAL, STEPS, NOW)
    done = inbox.complete(session, manager, task.id, APPROVAL, STEPS, NOW)
    assert (done.state, done.completed_by_id) == (TaskState.DONE, manager.id)


def test_escalated_department_work_is_still_decided_by_its_queue(session: Session) -> None:
    engineer, lead = person(session, "liugong"), person(session, "lihua")
    complaint = case(session, ProcessKind.COMPLAINT, lead)
    task = open_step(session, DEPARTMENT_WORK, complaint.id, lead.site_id, role=Role.ENGINEERING)
    task.tier, task.candidate_role = "shift_lead", "shift_lead"  # as an escalation leaves it
    session.flush()
    # The step names no role of its own: the queue it waits in decides it.
    assert inbox.claim(session, lead, task.id, NOW).assignee_id == lead.id
    with pytest.raises(NotFound):
        inbox.complete(session, engineer, task.id, {}, STEPS, NOW)


# --- reading a case follows current involvement (issue 15, finding 11) --------------------------


def test_reading_a_case_ends_when_the_involvement_ends(session: Session) -> None:
    zhang, wang = person(session, "zhangmin"), person(session, "wangqiang")
    lead = person(session, "lihua")
    task = complaint_task(session, NOW, by=zhang.username)
    step = STEPS[task.step]

    inbox.reassign(session, lead, task.id, wang.id, "张敏请假一小时", step, NOW)
    assert get_process(session, wang, task.process_id).id == task.process_id
    told = session.scalars(
        select(OutboxMessage.id).where(
            OutboxMessage.task_id == task.id, OutboxMessage.recipient_id == wang.id
        )
    ).all()
    assert told  # he was told, with a link to the case

    inbox.reassign(session, lead, task.id, zhang.id, "张敏回来了", step, NOW)

    with pytest.raises(NotFound):
        get_process(session, wang, task.process_id)
    # The owner of record and the site's managers still read it.
    for reader in (zhang, lead, person(session, "chenjing")):
        assert get_process(session, reader, task.process_id).id == task.process_id


def test_every_reason_a_person_may_not_be_handed_a_step_reads_in_chinese() -> None:
    translate = gettext_for("zh_CN")
    returned = {
        node.value.value
        for node in ast.walk(ast.parse(inspect.getsource(why_not_take)))
        if isinstance(node, ast.Return)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
    }
    assert len(returned) == 4
    assert sorted(m for m in returned if translate(m) == m) == []
