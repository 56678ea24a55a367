"""The permission matrix: every declared step × every role × see, claim, complete, reassign-to and
delegate-to, against the real database.

The cases come from the step catalogue, so a new step is covered without a new test. What each
role may do is worked out here from the step's declaration alone (`decided_by`, `not_by`), the
way a reader of the declaration would; the services must agree, allowed and refused alike.
"""

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import update
from sqlalchemy.orm import Session

from db.models import InboxTask, ProcessKind, Role, User
from db.models.people import MANAGING_ROLES
from domain import inbox
from domain.errors import Conflict, Forbidden, Invalid, NotFound
from domain.steps import HumanRequest, HumanStep, Party
from domain.task_access import get_task
from flows.catalog import STEPS
from tests.support.factories import case, colleague

NOW = datetime(2026, 9, 1, 2, 0, tzinfo=UTC)
ACTIONS = ("see", "claim", "complete", "reassign-to", "delegate-to")
# Whoever records or registers a case owns it; HR owns onboardings and resignations.
OWNER_ROLE = Role.HR


@dataclass
class Scene:
    """One open task of a step, its case's people, and one fresh colleague per role."""

    step: HumanStep[Any]
    task: InboxTask
    queue_role: Role | None  # None: the task is held by a named person, nobody's queue
    named: User  # the person the flow named (the holder, or who holds it for delegate-to)
    owner: User
    manager: User  # reassigns (an ops admin oversees every task)
    people: dict[Role, User]
    parties: dict[Party, User]

    @property
    def deciding(self) -> set[Role]:
        """Return the roles the declaration lets decide the task (and its queue's role)."""
        return set(self.step.decided_by) | ({self.queue_role} if self.queue_role else set())


def build(session: Session, step: HumanStep[Any]) -> Scene:
    """Open a task of `step`: in the queue of its first deciding role, or held by a named person."""
    queue_role = step.decided_by[0] if step.decided_by else None
    owner = colleague(session, OWNER_ROLE)
    # Each party holds every deciding role, so only the segregation rule can keep them out.
    parties = {party: colleague(session, *step.decided_by) for party in step.not_by}
    process = case(
        session,
        ProcessKind(step.name.split(".")[0]),
        owner,
        drafter=parties.get(Party.DRAFTER),
        leaver=parties.get(Party.LEAVER),
        successor=parties.get(Party.SUCCESSOR),
        new_hire=parties.get(Party.NEW_HIRE),
    )
    named = colleague(session, queue_role or Role.STAFF)
    request = HumanRequest(
        process_id=process.id,
        key="matrix",
        site_id=owner.site_id,
        assignee_id=None if queue_role else named.id,
        candidate_role=str(queue_role) if queue_role else None,
        owner_of_record_id=owner.id,
    )
    task = inbox.open_task(session, step, request, str(uuid.uuid4()), NOW)
    return Scene(
        step=step,
        task=task,
        queue_role=queue_role,
        named=named,
        owner=owner,
        manager=colleague(session, Role.OPS_ADMIN),
        people={role: colleague(session, role) for role in Role},
        parties=parties,
    )


def expected(scene: Scene, role: Role, action: str) -> bool:
    """Return what the declaration says a colleague holding only `role` may do."""
    in_queue = scene.queue_role is not None and role == scene.queue_role
    sees = in_queue or role in MANAGING_ROLES
    return {
        "see": sees,
        "claim": in_queue,
        "complete": scene.queue_role is not None and sees and role in scene.deciding,
        "reassign-to": role in scene.deciding,
        "delegate-to": role in scene.deciding,
    }[action]


def held_by(session: Session, task: InboxTask, user: User) -> None:
    session.execute(update(InboxTask).where(InboxTask.id == task.id).values(assignee_id=user.id))
    session.refresh(task)


def act(session: Session, scene: Scene, user: User, action: str) -> bool:
    """Try `action` for `user` in a savepoint that is rolled back; return whether it was allowed."""
    task, step = scene.task, scene.step
    attempts: dict[str, Callable[[], object]] = {
        "see": lambda: get_task(session, user, task.id),
        "claim": lambda: inbox.claim(session, user, task.id, NOW),
        # An empty form is refused as Invalid only after the permission check has passed.
        "complete": lambda: inbox.complete(session, user, task.id, {}, STEPS, NOW),
        "reassign-to": lambda: inbox.reassign(
            session, scene.manager, task.id, user.id, "调整", step, NOW
        ),
        "delegate-to": lambda: (
            held_by(session, task, scene.named),
            inbox.delegate(session, scene.named, task.id, user.id, "请代办", step, NOW),
        ),
    }
    savepoint = session.begin_nested()
    try:
        attempts[action]()
    except Invalid:
        # A refused form means the person got past the gate; a refused person is to_user_id.
        return action == "complete"
    except (Forbidden, NotFound, Conflict):
        return False
    else:
        return True
    finally:
        savepoint.rollback()
        session.expire_all()


@pytest.mark.parametrize("step", list(STEPS.values()), ids=list(STEPS))
def test_each_role_may_do_with_each_step_what_its_declaration_says(
    session: Session, step: HumanStep[Any]
) -> None:
    scene = build(session, step)
    wrong = [
        f"{role}: {action} should be {'allowed' if want else 'refused'}"
        for role in Role
        for action in ACTIONS
        if act(session, scene, scene.people[role], action)
        != (want := expected(scene, role, action))
    ]
    assert wrong == []


@pytest.mark.parametrize("step", list(STEPS.values()), ids=list(STEPS))
def test_the_owner_of_record_follows_but_decides_only_with_a_deciding_role(
    session: Session, step: HumanStep[Any]
) -> None:
    scene = build(session, step)
    assert act(session, scene, scene.owner, "see")
    may_decide = scene.queue_role is not None and OWNER_ROLE in scene.deciding
    assert act(session, scene, scene.owner, "complete") == may_decide
    # The person the flow names decides, whatever their roles.
    held_by(session, scene.task, scene.named)
    assert act(session, scene, scene.named, "complete")


@pytest.mark.parametrize(
    ("step", "party"),
    [(step, party) for step in STEPS.values() for party in step.not_by],
    ids=[f"{name}-{party}" for name, step in STEPS.items() for party in step.not_by],
)
def test_a_party_the_step_bars_can_neither_decide_it_nor_be_handed_it(
    session: Session, step: HumanStep[Any], party: Party
) -> None:
    scene = build(session, step)
    barred = scene.parties[party]
    outcomes = {action: act(session, scene, barred, action) for action in ACTIONS[1:]}
    assert outcomes == dict.fromkeys(ACTIONS[1:], False)
    # Not even as the task's holder.
    held_by(session, scene.task, barred)
    assert not act(session, scene, barred, "complete")


# Who decides each step, as docs/audit.md reads it from the source documents: the roles that may
# take it (besides the person the flow names and the queue it waits in) and the parties it bars.
# A change to a declaration must change this table, and the audit with it.
SOURCE_ROLES: dict[str, tuple[tuple[Role, ...], tuple[Party, ...]]] = {
    # 首问负责制 and the escalation chain: staff → shift lead → supervisor → manager → quality.
    "complaint.first-response": (
        (Role.STAFF, Role.SHIFT_LEAD, Role.SUPERVISOR, Role.SITE_MANAGER, Role.QUALITY),
        (),
    ),
    "complaint.resolution": (
        (Role.STAFF, Role.SHIFT_LEAD, Role.SUPERVISOR, Role.SITE_MANAGER, Role.QUALITY),
        (),
    ),
    "complaint.department-work": ((), ()),  # the department it was dispatched to (its queue)
    "complaint.return-visit": (
        (Role.STAFF, Role.SHIFT_LEAD, Role.SUPERVISOR, Role.SITE_MANAGER, Role.QUALITY),
        (),
    ),
    # 客服主管制定计划，管理处经理/主任审批; 人事部负责培训过程的跟进及记录.
    "training_plan.draft": ((Role.SUPERVISOR,), ()),
    "training_plan.revise": ((Role.SUPERVISOR,), ()),
    "training_plan.approve": ((Role.SITE_MANAGER,), (Party.DRAFTER,)),
    "training_plan.record-session": ((Role.SUPERVISOR, Role.HR), ()),
    "training_plan.assess": ((Role.SUPERVISOR,), ()),
    "training_plan.analyse": ((Role.SUPERVISOR,), ()),
    # 客服主管安排试岗 (the mentor); 主管/班长 train; 人事部组织考试; 讲师 revises the training.
    "onboarding.choose-mentor": ((Role.SUPERVISOR,), ()),
    "onboarding.training-day": ((Role.SHIFT_LEAD, Role.SUPERVISOR), (Party.NEW_HIRE,)),
    "onboarding.mentor-shift": (
        (Role.STAFF, Role.SHIFT_LEAD, Role.SUPERVISOR),
        (Party.NEW_HIRE,),
    ),
    "onboarding.exam": ((Role.HR,), (Party.NEW_HIRE,)),
    "onboarding.retraining": ((Role.SHIFT_LEAD, Role.SUPERVISOR), (Party.NEW_HIRE,)),
    "onboarding.dismissal-decision": ((Role.SITE_MANAGER,), (Party.NEW_HIRE,)),
    "onboarding.revise-training": ((Role.SHIFT_LEAD, Role.SUPERVISOR), (Party.NEW_HIRE,)),
    # 离职员工梳理、传授; 接替人员确认; 安排专人监督 (the supervising person).
    "resignation.approve-plan": ((Role.SUPERVISOR,), (Party.LEAVER, Party.SUCCESSOR)),
    "resignation.inventory": (
        (Role.SHIFT_LEAD, Role.SUPERVISOR, Role.SITE_MANAGER),
        (Party.SUCCESSOR,),
    ),
    "resignation.confirm-items": ((), (Party.LEAVER,)),
    "resignation.resolve-disputes": (
        (Role.SHIFT_LEAD, Role.SUPERVISOR, Role.SITE_MANAGER),
        (Party.LEAVER, Party.SUCCESSOR),
    ),
    "resignation.hold-session": (
        (Role.SHIFT_LEAD, Role.SUPERVISOR, Role.SITE_MANAGER),
        (Party.SUCCESSOR,),
    ),
    "resignation.confirm-session": ((), (Party.LEAVER,)),
    "resignation.follow-up-evaluation": (
        (Role.SHIFT_LEAD, Role.SUPERVISOR, Role.SITE_MANAGER),
        (Party.LEAVER, Party.SUCCESSOR),
    ),
}


def test_each_step_is_decided_by_the_roles_the_audit_reads_in_the_sources() -> None:
    declared = {name: (tuple(step.decided_by), tuple(step.not_by)) for name, step in STEPS.items()}
    assert declared == SOURCE_ROLES
