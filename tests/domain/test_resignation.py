"""Resignation services against the real database: checklist rules, re-homing, offboarding, KB."""

import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models import (
    Complaint,
    Event,
    InboxTask,
    OutboxMessage,
    Resignation,
    Role,
    Site,
    TaskState,
    User,
    UserRole,
)
from db.models.complaint import ComplaintState
from db.models.resignation import ItemState, ResignationState
from domain import inbox, knowledge
from domain import resignation as resignations
from domain.complaints import record_complaint
from domain.errors import Conflict, Forbidden, Invalid, NotAuthenticated
from domain.people import authenticate, hash_password, issue_token, user_for_token
from domain.steps import HumanRequest
from flows.catalog import STEPS
from flows.resignation import CONFIRM_ITEMS
from forms.complaint import ComplaintCreate
from forms.resignation import (
    DisputeResolutionDecision,
    HandoverPlanDecision,
    InventoryDecision,
    ItemConfirmationDecision,
    KbArticleCreate,
    ResignationCreate,
)
from launch.demo import DEMO_SITE_CODE
from rules.resignation import load_policy

NOW = datetime(2026, 9, 1, 2, 0, tzinfo=UTC)  # 10:00 in Beijing, a Tuesday
LAST_DAY = date(2026, 9, 30)
PASSWORD = "leaver-password-1"


def make_user(session: Session, *roles: Role, name: str = "") -> User:
    """Add an active user at the demo site with `roles`."""
    site = session.scalars(select(Site).where(Site.code == DEMO_SITE_CODE)).one()
    username = f"u{uuid.uuid4().hex[:10]}"
    user = User(
        username=username,
        display_name=name or username,
        password_hash=hash_password(PASSWORD),
        site_id=site.id,
        email=f"{username}@test.kefu.local",
    )
    user.roles = [UserRole(role=role) for role in roles]
    session.add(user)
    session.flush()
    return user


def notice(leaver: User, session: Session) -> str:
    """Record `leaver`'s own resignation; return its process id."""
    intake = ResignationCreate(last_working_day=LAST_DAY, reason="回老家发展")
    return resignations.record_resignation(session, leaver, intake, load_policy(), NOW).id


def plan(successor: User, supervisor: User) -> HandoverPlanDecision:
    return HandoverPlanDecision(
        successor_id=successor.id,
        supervisor_id=supervisor.id,
        handover_starts_on=date(2026, 9, 7),
        handover_ends_on=date(2026, 9, 25),
    )


@pytest.fixture
def people(session: Session) -> dict[str, User]:
    return {
        "leaver": make_user(session, Role.STAFF, name="离职人"),
        "successor": make_user(session, Role.STAFF, name="接替人"),
        "supervisor": make_user(session, Role.SUPERVISOR, name="监交人"),
    }


def approved(session: Session, people: dict[str, User]) -> str:
    process_id = notice(people["leaver"], session)
    decision = plan(people["successor"], people["supervisor"])
    assert resignations.plan_problems(session, process_id, decision) == []
    resignations.approve_plan(session, process_id, decision, "approve-plan-1", NOW)
    return process_id


def test_recording_rules(session: Session, people: dict[str, User]) -> None:
    leaver, colleague = people["leaver"], people["successor"]
    with pytest.raises(Forbidden):
        resignations.record_resignation(
            session,
            colleague,
            ResignationCreate(leaver_id=leaver.id, last_working_day=LAST_DAY),
            load_policy(),
            NOW,
        )
    with pytest.raises(Invalid) as past:
        resignations.record_resignation(
            session,
            leaver,
            ResignationCreate(last_working_day=date(2026, 8, 31)),
            load_policy(),
            NOW,
        )
    assert past.value.problems[0].loc == ("last_working_day",)

    hr = make_user(session, Role.HR)
    process_id = resignations.record_resignation(
        session,
        hr,
        ResignationCreate(leaver_id=leaver.id, last_working_day=LAST_DAY),
        load_policy(),
        NOW,
    ).id
    recorded = session.get_one(Resignation, process_id)
    assert recorded.leaver_id == leaver.id and recorded.recorded_by_id == hr.id
    # The account closes at midnight after the last working day, Beijing time.
    assert recorded.offboard_at == datetime(2026, 9, 30, 16, 0, tzinfo=UTC)
    with pytest.raises(Conflict):
        notice(leaver, session)
    told = session.scalars(
        select(OutboxMessage.recipient_id).where(
            OutboxMessage.process_id == process_id, OutboxMessage.event == "resignation_recorded"
        )
    ).all()
    assert leaver.id in told and hr.id in told


def test_plan_problems_come_back_to_the_approver(session: Session, people: dict[str, User]) -> None:
    process_id = notice(people["leaver"], session)
    bad = HandoverPlanDecision(
        successor_id=people["leaver"].id,
        supervisor_id=people["successor"].id,  # staff cannot supervise a handover
        handover_starts_on=date(2026, 9, 7),
        handover_ends_on=date(2026, 10, 9),  # after the last working day
    )
    assert resignations.plan_problems(session, process_id, bad) == [
        "The successor cannot be the leaver",
        "The supervising person must be a shift lead, supervisor or site manager",
        "The handover must end by the last working day",
    ]


def test_handover_closes_only_when_every_item_is_confirmed(
    session: Session, people: dict[str, User]
) -> None:
    process_id = approved(session, people)
    inventory = InventoryDecision.model_validate(
        {
            "items": [
                {"category": "keys", "description": "前台钥匙 3 把", "location": "前台抽屉"},
                {"category": "files", "description": "业主档案 A-F 栋"},
                {"category": "resident_contacts", "description": "重点业主联系表"},
            ],
            "sessions": [
                {"topic": "投诉升级", "format": "face_to_face", "scheduled_on": "2026-09-10"}
            ],
        }
    )
    resignations.record_inventory(session, process_id, inventory, NOW)
    keys, files, contacts = session.get_one(Resignation, process_id).items
    with pytest.raises(Conflict):
        resignations.close_handover(session, process_id, NOW)  # nothing confirmed yet

    status = resignations.record_verdicts(
        session,
        process_id,
        ItemConfirmationDecision.model_validate(
            {
                "verdicts": [
                    {"item_id": keys.id, "verdict": "accept"},
                    {"item_id": files.id, "verdict": "dispute", "reason": "缺 D 栋档案"},
                ]
            }
        ),
        "confirm-items-1",
        NOW,
    )
    assert (status.confirmed, status.pending, status.disputed_item_ids) == (1, 1, (files.id,))
    assert status.percent == 33
    with pytest.raises(Conflict) as refused:
        resignations.close_handover(session, process_id, NOW)
    assert refused.value.params == {"open": 2, "total": 3}

    # The supervisor sends the dispute back for a second look; the item is pending again.
    status = resignations.record_resolutions(
        session,
        process_id,
        DisputeResolutionDecision.model_validate(
            {
                "resolutions": [
                    {"item_id": files.id, "outcome": "reconfirm", "resolution": "D 栋已补齐"}
                ]
            }
        ),
        "resolve-disputes-1",
        NOW,
    )
    assert files.state == ItemState.PENDING and status.pending == 2
    with pytest.raises(Conflict):
        resignations.close_handover(session, process_id, NOW)

    status = resignations.record_verdicts(
        session,
        process_id,
        ItemConfirmationDecision.model_validate(
            {
                "verdicts": [
                    {"item_id": files.id, "verdict": "accept"},
                    {"item_id": contacts.id, "verdict": "accept"},
                    {"item_id": keys.id, "verdict": "dispute", "reason": "stale, ignored"},
                ]
            }
        ),
        "confirm-items-2",
        NOW,
    )
    assert status.complete and status.percent == 100
    assert keys.state == ItemState.ACCEPTED  # a verdict on a decided item changes nothing
    resignations.close_handover(session, process_id, NOW)
    assert session.get_one(Resignation, process_id).state == ResignationState.HANDED_OVER


def test_a_round_is_refused_unless_every_listed_item_has_one_verdict(
    session: Session, people: dict[str, User]
) -> None:
    process_id = approved(session, people)
    inventory = InventoryDecision.model_validate(
        {
            "items": [
                {"category": "keys", "description": "前台钥匙 3 把"},
                {"category": "files", "description": "业主档案 A-F 栋"},
            ],
            "sessions": [
                {"topic": "投诉升级", "format": "face_to_face", "scheduled_on": "2026-09-10"}
            ],
        }
    )
    resignations.record_inventory(session, process_id, inventory, NOW)
    keys, files = session.get_one(Resignation, process_id).items
    successor = people["successor"]
    task = inbox.open_task(
        session,
        CONFIRM_ITEMS,
        HumanRequest(
            process_id=process_id,
            key="confirm-items-1",
            site_id=successor.site_id,
            assignee_id=successor.id,
            # What the flow lists: the items pending when the round opens.
            context={
                "items": [
                    {"item_id": i.id, "description": i.description}
                    for i in resignations.items_in_state(session, process_id, ItemState.PENDING)
                ]
            },
        ),
        str(uuid.uuid4()),
        NOW,
    )

    def refused(*verdicts: dict[str, object]) -> tuple[str, dict[str, object]]:
        with pytest.raises(Invalid) as error:
            inbox.complete(session, successor, task.id, {"verdicts": list(verdicts)}, STEPS, NOW)
        (problem,) = error.value.problems
        assert problem.loc == ("verdicts",)
        return problem.message, problem.params

    accept_keys = {"item_id": keys.id, "verdict": "accept"}
    accept_files = {"item_id": files.id, "verdict": "accept"}
    assert refused(accept_keys, accept_files, {"item_id": 999999, "verdict": "accept"}) == (
        "Item {items} is not on this list",
        {"items": "#999999"},
    )
    assert refused(accept_keys, accept_files, accept_keys) == (
        "Item {items} has more than one decision",
        {"items": f"#{keys.id}"},
    )
    assert refused(accept_keys) == (
        "Every item needs a decision; missing: {items}",
        {"items": f"#{files.id} 业主档案 A-F 栋"},
    )
    assert task.state == TaskState.OPEN  # nothing half-written

    inbox.complete(
        session, successor, task.id, {"verdicts": [accept_keys, accept_files]}, STEPS, NOW
    )
    assert task.state == TaskState.DONE


def _open_task(session: Session, process_id: str, **fields: object) -> InboxTask:
    site_id = session.scalars(select(Site.id).where(Site.code == DEMO_SITE_CODE)).one()
    task = InboxTask(
        process_id=process_id,
        flow_run_id=str(uuid.uuid4()),
        step_key="first-response",
        step="complaint.first-response",
        site_id=site_id,
        **fields,
    )
    session.add(task)
    session.flush()
    return task


def _complaint(session: Session, owner: User) -> str:
    intake = ComplaintCreate.model_validate(
        {
            "resident_name": "王先生",
            "unit": "3-1201",
            "contact_phone": "13800138000",
            "channel": "phone",
            "category": "noise",
            "urgency": "general",
            "description": "楼上噪音",
        }
    )
    return record_complaint(session, owner, intake, NOW).id


def test_approval_moves_open_work_and_history_keeps_the_leaver(
    session: Session, people: dict[str, User]
) -> None:
    leaver, successor = people["leaver"], people["successor"]
    open_case = _complaint(session, leaver)
    closed_case = _complaint(session, leaver)
    session.get_one(Complaint, closed_case).state = ComplaintState.CLOSED
    held = _open_task(session, open_case, assignee_id=leaver.id, owner_of_record_id=leaver.id)
    queued = _open_task(
        session, open_case, candidate_role="engineering", owner_of_record_id=leaver.id
    )
    process_id = approved(session, people)
    own = _open_task(session, process_id, assignee_id=leaver.id)

    moved = resignations.hand_work_to_successor(session, process_id, NOW)
    again = resignations.hand_work_to_successor(session, process_id, NOW)

    assert set(moved.task_ids) == {held.id, queued.id} and moved.complaint_ids == (open_case,)
    assert again.task_ids == () and again.complaint_ids == ()
    session.expire_all()
    assert session.get_one(Complaint, open_case).owner_of_record_id == successor.id
    assert session.get_one(Complaint, open_case).first_responder_id == leaver.id
    assert session.get_one(Complaint, closed_case).owner_of_record_id == leaver.id
    assert (held.assignee_id, held.owner_of_record_id) == (successor.id, successor.id)
    assert (queued.assignee_id, queued.owner_of_record_id) == (None, successor.id)
    assert own.assignee_id == leaver.id  # the leaver's own handover tasks stay theirs
    history = session.scalars(
        select(Event).where(
            Event.process_id == open_case,
            Event.kind.in_(["owner_of_record_changed", "task_reassigned"]),
        )
    ).all()
    assert len(history) == 3
    assert {e.data["from_name"] for e in history} == {"离职人"}
    assert {e.data["to_name"] for e in history} == {"接替人"}
    told = session.scalars(
        select(OutboxMessage.recipient_id).where(
            OutboxMessage.process_id == process_id, OutboxMessage.event == "handover_work_moved"
        )
    ).all()
    assert successor.id in told


def test_offboarding_disables_the_account_and_escalates_what_is_left(
    session: Session, people: dict[str, User]
) -> None:
    leaver, successor, supervisor = people["leaver"], people["successor"], people["supervisor"]
    process_id = approved(session, people)
    token = issue_token(session, leaver, NOW, timedelta(days=60))
    late_case = _complaint(session, leaver)  # taken after the approval
    late_task = _open_task(session, late_case, assignee_id=leaver.id, owner_of_record_id=leaver.id)
    own = _open_task(session, process_id, assignee_id=leaver.id)
    offboard_at = session.get_one(Resignation, process_id).offboard_at

    assert process_id not in resignations.offboard_due_leavers(
        session, offboard_at - timedelta(seconds=1)
    )
    assert process_id in resignations.offboard_due_leavers(session, offboard_at)
    assert process_id not in resignations.offboard_due_leavers(session, offboard_at)

    session.expire_all()
    assert not leaver.active
    with pytest.raises(NotAuthenticated):
        user_for_token(session, token, offboard_at)
    assert authenticate(session, leaver.username, PASSWORD, offboard_at).user is None
    assert late_task.assignee_id == successor.id
    assert session.get_one(Complaint, late_case).owner_of_record_id == successor.id
    assert own.assignee_id == supervisor.id
    event = session.scalars(
        select(Event).where(Event.process_id == process_id, Event.kind == "leaver_offboarded")
    ).one()
    assert set(event.data["escalated_task_ids"]) == {late_task.id, own.id}


def test_offboarding_before_a_plan_gives_the_work_to_a_supervisor(session: Session) -> None:
    leaver = make_user(session, Role.STAFF)
    process_id = notice(leaver, session)
    case = _complaint(session, leaver)
    offboard_at = session.get_one(Resignation, process_id).offboard_at
    resignations.offboard_due_leavers(session, offboard_at)
    owner = session.get_one(User, session.get_one(Complaint, case).owner_of_record_id)
    assert owner.has_role(Role.SUPERVISOR) and owner.active


def test_knowledge_base_search(session: Session) -> None:
    author = make_user(session, Role.STAFF)
    marker = uuid.uuid4().hex[:8]
    write = knowledge.write_article
    first = write(
        session,
        author,
        KbArticleCreate(
            title=f"Night Noise {marker}", body="先安抚业主，再联系施工方", tags=["噪音", "流程"]
        ),
        NOW,
    )
    second = write(
        session,
        author,
        KbArticleCreate(title=f"门禁卡补办 {marker}", body="押金 100% 退还", tags=["门禁"]),
        NOW + timedelta(minutes=1),
    )
    assert [a.id for a in knowledge.search_articles(session, marker)] == [second.id, first.id]
    assert [a.id for a in knowledge.search_articles(session, f"night {marker}")] == [first.id]
    assert [a.id for a in knowledge.search_articles(session, f"{marker} 施工方")] == [first.id]
    assert [a.id for a in knowledge.search_articles(session, marker, tag="噪音")] == [first.id]
    assert [a.id for a in knowledge.search_articles(session, f"{marker} 100%")] == [second.id]
    # "%" and "_" are searched for literally, not as wildcards.
    assert knowledge.search_articles(session, f"{marker} 1_0%") == []
    assert first.tags == sorted(["噪音", "流程"])


def test_work_reaching_a_handed_over_leaver_moves_on(
    session: Session, people: dict[str, User]
) -> None:
    leaver, successor = people["leaver"], people["successor"]
    process_id = approved(session, people)
    resignations.hand_work_to_successor(session, process_id, NOW)
    stale_case = _complaint(session, successor)
    late = _open_task(session, stale_case, assignee_id=leaver.id, owner_of_record_id=leaver.id)
    assert resignations.rehome_late_work(session, NOW) >= 1
    assert resignations.rehome_late_work(session, NOW) == 0
    session.expire_all()
    assert (late.assignee_id, late.owner_of_record_id) == (successor.id, successor.id)
