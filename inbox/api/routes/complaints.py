"""Record a resident's complaint and start its process."""

from fastapi import APIRouter, status

from db.models import ProcessKind
from forms.complaint import ComplaintCreate
from inbox.api.deps import ClockDep, CurrentUser, IdempotencyKey
from inbox.api.schemas import ProcessStarted
from inbox.intake import start_process

router = APIRouter(prefix="/complaints", tags=["complaints"])


@router.post("", response_model=ProcessStarted, status_code=status.HTTP_201_CREATED)
def create_complaint(
    intake: ComplaintCreate, user: CurrentUser, clock: ClockDep, key: IdempotencyKey = None
) -> ProcessStarted:
    """Record a complaint; the caller becomes its first responder and owner of record."""
    return ProcessStarted.of(start_process(ProcessKind.COMPLAINT, user.id, intake, clock(), key))
