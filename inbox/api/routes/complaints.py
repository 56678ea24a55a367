"""Record a resident's complaint and start its process."""

from fastapi import APIRouter, status

from db.models import Process, User
from db.session import transaction
from domain.complaints import record_complaint
from forms.complaint import ComplaintCreate
from inbox.api.deps import ClockDep, CurrentUser
from inbox.api.schemas import ProcessStarted
from tasks.process_runs import start_process_run

router = APIRouter(prefix="/complaints", tags=["complaints"])


@router.post("", response_model=ProcessStarted, status_code=status.HTTP_201_CREATED)
def create_complaint(intake: ComplaintCreate, user: CurrentUser, clock: ClockDep) -> ProcessStarted:
    """Record a complaint; the caller becomes its first responder and owner of record."""
    with transaction() as session:
        process = record_complaint(session, session.get_one(User, user.id), intake, clock())
        process_id = process.id
    # After the commit: if Prefect is unreachable the process stays "starting" and the sweep
    # starts it later; the complaint itself is never lost.
    start_process_run(process_id)
    with transaction() as session:
        process = session.get_one(Process, process_id)
        return ProcessStarted(
            process_id=process_id, state=process.state, flow_run_id=process.flow_run_id
        )
