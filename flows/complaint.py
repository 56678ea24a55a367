"""Resident complaint (投诉处理), per domain.md §3.

1. The staff member who receives the complaint records it and owns it (首问负责).
2. First response: the owner contacts the resident.
3. Resolution: the owner resolves it, or dispatches it to a department's queue
   (engineering, security, cleaning, greening), whose report comes back to the owner.
4. Return visit (回访): the owner asks the resident's satisfaction (1–5).
   A rating of 2 or lower reopens the case: back to resolution, same owner.
5. Closed.
"""

from prefect import flow

from db.models import Role
from domain.steps import HumanRequest, HumanStep
from forms.complaint import (
    DepartmentWorkDecision,
    FirstResponseDecision,
    ResolutionDecision,
    ReturnVisitDecision,
)
from tasks.complaint import (
    ComplaintCase,
    close_complaint,
    load_complaint,
    record_dispatch,
    record_first_response,
    record_resolution,
    reopen_complaint,
)
from tasks.human import await_human
from tasks.run_names import process_run_name

# Whoever first receives a complaint owns it (首问负责), and the tiers of the escalation ladder
# above them may take it over; a department's work is decided by the department it went to.
FRONT_LINE = (Role.STAFF, Role.SHIFT_LEAD, Role.SUPERVISOR, Role.SITE_MANAGER, Role.QUALITY)
FIRST_RESPONSE = HumanStep(
    "complaint.first-response",
    "Respond to the resident",
    FirstResponseDecision,
    sla_target="first_response",
    decided_by=FRONT_LINE,
)
RESOLUTION = HumanStep(
    "complaint.resolution",
    "Resolve the complaint",
    ResolutionDecision,
    sla_target="resolution",
    decided_by=FRONT_LINE,
)
DEPARTMENT_WORK = HumanStep(
    "complaint.department-work",
    "Do the dispatched work",
    DepartmentWorkDecision,
    sla_target="arrival",
    decided_by=(),  # only the queue of the department it was dispatched to
)
RETURN_VISIT = HumanStep(
    "complaint.return-visit", "Return visit", ReturnVisitDecision, decided_by=FRONT_LINE
)
STEPS = (FIRST_RESPONSE, RESOLUTION, DEPARTMENT_WORK, RETURN_VISIT)


def owner_request(case: ComplaintCase, key: str, *, since_receipt: bool = False) -> HumanRequest:
    """Return a request for the owner of record; `since_receipt` runs its clock from intake."""
    return HumanRequest(
        process_id=case.process_id,
        key=key,
        site_id=case.site_id,
        assignee_id=case.owner_of_record_id,
        owner_of_record_id=case.owner_of_record_id,
        context={"urgency": case.urgency, "category": case.category},
        sla_ladder=case.sla_ladder,
        sla_started_at=case.received_at if since_receipt else None,
    )


def department_request(case: ComplaintCase, key: str, department: str, brief: str) -> HumanRequest:
    """Return a request for a department's role queue; the owner of record stays on it."""
    return HumanRequest(
        process_id=case.process_id,
        key=key,
        site_id=case.site_id,
        candidate_role=department,
        owner_of_record_id=case.owner_of_record_id,
        context={"urgency": case.urgency, "category": case.category, "brief": brief},
        sla_ladder=case.sla_ladder,
    )


def resolve(process_id: str, round_no: int) -> ResolutionDecision:
    """Return the owner's resolution of this round, after any department work it dispatched."""
    attempt = 1
    while True:
        case = load_complaint(process_id)
        key = f"{round_no}-{attempt}"
        # The first round's resolution limit runs from receipt; a reopened round from the reopen.
        request = owner_request(case, f"resolution-{key}", since_receipt=round_no == 1)
        decision = await_human(RESOLUTION, request)
        if decision.outcome == "resolved":
            return decision
        assert decision.department is not None  # the form requires it for a dispatch
        record_dispatch(process_id, decision.department, key)
        await_human(
            DEPARTMENT_WORK,
            department_request(case, f"department-{key}", decision.department, decision.summary),
        )
        attempt += 1


@flow(name="complaint", persist_result=True, flow_run_name=process_run_name)
def complaint(process_id: str) -> str:
    """Run one complaint from first response to closing; return how it closed."""
    case = load_complaint(process_id)
    response = await_human(
        FIRST_RESPONSE, owner_request(case, "first-response", since_receipt=True)
    )
    record_first_response(process_id, response.response_note)

    round_no = 1
    while True:
        resolution = resolve(process_id, round_no)
        record_resolution(process_id, resolution.summary, str(round_no))
        visit = await_human(
            RETURN_VISIT, owner_request(load_complaint(process_id), f"return-visit-{round_no}")
        )
        if not visit.is_poor:
            break
        reopen_complaint(process_id, visit.satisfaction, visit.comment, str(round_no))
        round_no += 1

    close_complaint(process_id, visit.satisfaction, visit.comment)
    return f"closed after {round_no} round(s), satisfaction {visit.satisfaction}"
