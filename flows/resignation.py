"""Resignation: handover → knowledge transfer → follow-up evaluation (工作交接与知识传承), per
domain.md §4.

0. The employee (or HR) records the resignation with the last working day (the inbox API).
1. Handover plan: a supervisor (a site manager when the leaver is a supervisor) names the
   successor, the handover dates and the supervising person; a plan that cannot work comes back.
   On approval the leaver's open tasks and the complaints they own move to the successor.
2. Inventory: the leaver lists work in progress, files, data, keys, equipment and resident
   contacts (the handover checklist) and the knowledge-transfer sessions to give.
3. Checklist: the successor accepts or disputes each item; the supervising person settles the
   disputes; rounds repeat until every item is confirmed. Then the handover closes.
4. Knowledge transfer: for each session the leaver reports it (and writes the key procedures as
   knowledge-base articles), the successor confirms it or asks for it again.
5. Follow-up: after the follow-up period, on a working day, the supervising person evaluates the
   handover and the successor.
6. Closed.
Apart from the flow: when the last working day ends, the sweep disables the leaver's account
and escalates whatever they still hold (domain.resignation.offboard_due_leavers).
"""

from datetime import datetime
from typing import Any

from prefect import flow

from db.models import Role
from db.models.resignation import ItemState
from domain.resignation import SUPERVISING_ROLES
from domain.steps import HumanRequest, HumanStep, Party
from forms.resignation import (
    DisputeResolutionDecision,
    FollowUpEvaluationDecision,
    HandoverPlanDecision,
    InventoryDecision,
    ItemConfirmationDecision,
    SessionConfirmationDecision,
    SessionHeldDecision,
)
from tasks.human import await_human
from tasks.resignation import (
    ResignationCase,
    SessionBrief,
    approve_plan,
    check_plan,
    close_handover,
    close_resignation,
    hand_work_to_successor,
    items_in_state,
    load_resignation,
    load_session,
    record_inventory,
    record_resolutions,
    record_session_confirmation,
    record_session_held,
    record_verdicts,
    schedule_follow_up,
)
from tasks.run_names import process_run_name

# The leaver and the successor never judge their own handover.
INTERESTED = (Party.LEAVER, Party.SUCCESSOR)
APPROVE_PLAN = HumanStep(
    "resignation.approve-plan",
    "Approve the handover plan",
    HandoverPlanDecision,
    approval=True,
    # A supervisor; the site manager's queue when the leaver is a supervisor.
    decided_by=(Role.SUPERVISOR,),
    not_by=INTERESTED,
)
INVENTORY = HumanStep(
    "resignation.inventory",
    "List the work to hand over",
    InventoryDecision,
    decided_by=SUPERVISING_ROLES,  # the leaver, or the supervising side once they are gone
    not_by=(Party.SUCCESSOR,),
)
CONFIRM_ITEMS = HumanStep(
    "resignation.confirm-items",
    "Confirm the handover items",
    ItemConfirmationDecision,
    decided_by=(),  # only the successor the plan names
    not_by=(Party.LEAVER,),
)
RESOLVE_DISPUTES = HumanStep(
    "resignation.resolve-disputes",
    "Resolve the handover disputes",
    DisputeResolutionDecision,
    approval=True,
    decided_by=SUPERVISING_ROLES,
    not_by=INTERESTED,
)
HOLD_SESSION = HumanStep(
    "resignation.hold-session",
    "Give the knowledge-transfer session",
    SessionHeldDecision,
    decided_by=SUPERVISING_ROLES,  # the leaver, or the supervising side once they are gone
    not_by=(Party.SUCCESSOR,),
)
CONFIRM_SESSION = HumanStep(
    "resignation.confirm-session",
    "Confirm the knowledge-transfer session",
    SessionConfirmationDecision,
    decided_by=(),  # only the successor the plan names
    not_by=(Party.LEAVER,),
)
FOLLOW_UP = HumanStep(
    "resignation.follow-up-evaluation",
    "Evaluate the handover after the follow-up period",
    FollowUpEvaluationDecision,
    decided_by=SUPERVISING_ROLES,
    not_by=INTERESTED,
)
STEPS = (
    APPROVE_PLAN,
    INVENTORY,
    CONFIRM_ITEMS,
    RESOLVE_DISPUTES,
    HOLD_SESSION,
    CONFIRM_SESSION,
    FOLLOW_UP,
)


def person_request(
    case: ResignationCase,
    key: str,
    assignee_id: int,
    due_at: datetime,
    context: dict[str, Any] | None = None,
    available_from: datetime | None = None,
) -> HumanRequest:
    """Return a request for one person; the supervising person stays on it as owner of record."""
    return HumanRequest(
        process_id=case.process_id,
        key=key,
        site_id=case.site_id,
        assignee_id=assignee_id,
        owner_of_record_id=case.supervisor_id,
        due_at=due_at,
        available_from=available_from,
        context={"leaver": case.leaver_name, **(context or {})},
    )


def agree_plan(process_id: str) -> HandoverPlanDecision:
    """Return the approved handover plan; a plan with problems goes back to the approvers."""
    problems: list[str] = []
    round_no = 1
    while True:
        case = load_resignation(process_id)
        key = f"approve-plan-{round_no}"
        plan = await_human(
            APPROVE_PLAN,
            HumanRequest(
                process_id=process_id,
                key=key,
                site_id=case.site_id,
                candidate_role=case.approver_role,
                due_at=case.due["approval_working_days"],
                context={
                    "leaver": case.leaver_name,
                    "last_working_day": case.last_working_day.isoformat(),
                    "problems": problems,
                },
            ),
        )
        problems = check_plan(process_id, plan, key)
        if not problems:
            approve_plan(process_id, plan, key)
            return plan
        round_no += 1


def confirm_checklist(process_id: str) -> None:
    """Have the successor confirm every item, the supervising person settling disputes."""
    confirm_round = dispute_round = 0
    while True:
        confirm_round += 1
        case = load_resignation(process_id)
        assert case.successor_id is not None and case.supervisor_id is not None
        pending = items_in_state(process_id, ItemState.PENDING, confirm_round)
        key = f"confirm-items-{confirm_round}"
        verdicts = await_human(
            CONFIRM_ITEMS,
            person_request(
                case,
                key,
                case.successor_id,
                case.due["confirmation_working_days"],
                {"items": pending},
            ),
        )
        status = record_verdicts(process_id, verdicts, key)
        while status.disputed_item_ids:
            dispute_round += 1
            disputed = items_in_state(process_id, ItemState.DISPUTED, dispute_round)
            key = f"resolve-disputes-{dispute_round}"
            resolutions = await_human(
                RESOLVE_DISPUTES,
                person_request(
                    case,
                    key,
                    case.supervisor_id,
                    case.due["dispute_working_days"],
                    {"items": disputed},
                ),
            )
            status = record_resolutions(process_id, resolutions, key)
        if status.complete:
            return


def transfer_knowledge(process_id: str, knowledge_session_id: int) -> None:
    """Run one knowledge-transfer session until the successor confirms it."""
    round_no = 1
    while True:
        case = load_resignation(process_id)
        assert case.successor_id is not None
        brief: SessionBrief = load_session(process_id, knowledge_session_id)
        context = {
            "topic": brief.topic,
            "format": brief.format,
            "scheduled_on": brief.scheduled_on.isoformat(),
        }
        key = f"session-{knowledge_session_id}-held-{round_no}"
        held = await_human(
            HOLD_SESSION,
            person_request(case, key, case.leaver_or_supervisor, brief.due_at, context),
        )
        record_session_held(process_id, knowledge_session_id, held, key)
        key = f"session-{knowledge_session_id}-confirm-{round_no}"
        confirmation = await_human(
            CONFIRM_SESSION,
            person_request(
                case, key, case.successor_id, brief.due_at, {**context, "summary": held.summary}
            ),
        )
        if record_session_confirmation(process_id, knowledge_session_id, confirmation, key):
            return
        round_no += 1


@flow(name="resignation", persist_result=True, flow_run_name=process_run_name)
def resignation(process_id: str) -> str:
    """Run a resignation from the handover plan to the follow-up; return the evaluation."""
    agree_plan(process_id)
    hand_work_to_successor(process_id)

    case = load_resignation(process_id)
    inventory = await_human(
        INVENTORY,
        person_request(
            case, "inventory", case.leaver_or_supervisor, case.due["inventory_working_days"]
        ),
    )
    session_ids = record_inventory(process_id, inventory)
    confirm_checklist(process_id)
    close_handover(process_id)

    for knowledge_session_id in session_ids:
        transfer_knowledge(process_id, knowledge_session_id)

    opens_at, due_at = schedule_follow_up(process_id)
    case = load_resignation(process_id)
    assert case.supervisor_id is not None
    evaluation = await_human(
        FOLLOW_UP,
        person_request(
            case, "follow-up-evaluation", case.supervisor_id, due_at, available_from=opens_at
        ),
    )
    close_resignation(process_id, evaluation)
    return (
        f"closed: handover {evaluation.handover_effect}, "
        f"successor {evaluation.successor_assessment}"
    )
