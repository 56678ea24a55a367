"""What the API returns: XPublic views of the ORM rows."""

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

# A reassignment's reason is a note for the case history, not a document.
REASSIGN_REASON_MAX = 2000


class Token(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_at: datetime


class TaskPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    process_id: str
    step: str
    step_key: str
    title: str
    state: str
    site_id: int
    assignee_id: int | None
    candidate_role: str | None
    owner_of_record_id: int | None
    available_from: datetime
    due_at: datetime | None
    context: dict[str, Any]
    result: dict[str, Any] | None
    completed_by_id: int | None
    completed_at: datetime | None
    resumed: bool
    tier: str
    sla_rule: str | None
    paused: bool
    pauses: list["PausePublic"]
    form_schema: dict[str, Any] | None = None


class CompletionPublic(BaseModel):
    task: TaskPublic
    # False when the Prefect server could not be reached: the decision is kept and the
    # sweep hands it to the flow as soon as the server is back.
    resumed: bool


class ProcessStarted(BaseModel):
    process_id: str
    state: str
    flow_run_id: str | None

    @classmethod
    def of(cls, process: Any) -> "ProcessStarted":
        """Return the view of a just-recorded process."""
        return cls(process_id=process.id, state=process.state, flow_run_id=process.flow_run_id)


class EventPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    kind: str
    at: datetime
    actor_id: int | None
    actor_name: str | None
    task_id: int | None
    data: dict[str, Any]


class ProcessPublic(BaseModel):
    id: str
    kind: str
    state: str
    subject: str
    site_id: int
    current_step: str | None
    flow_run_id: str | None
    flow_run_url: str | None
    started_at: datetime
    closed_at: datetime | None
    details: dict[str, Any]
    open_tasks: list[TaskPublic]
    events: list[EventPublic]


class PauseRequest(BaseModel):
    reason: str = Field(description="waiting_resident | waiting_parts | waiting_third_party")
    note: str = Field(default="", max_length=500)


class PausePublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    reason: str
    note: str
    started_at: datetime
    started_by_id: int
    ended_at: datetime | None


class ReassignRequest(BaseModel):
    to_user_id: int
    reason: str = Field(max_length=REASSIGN_REASON_MAX, title="Reason")


class AssigneePublic(BaseModel):
    """A person a task may be handed to."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    display_name: str


class OnBehalfRequest(BaseModel):
    """An ops admin's entry of a decision someone who may decide the task gave them."""

    on_behalf_of_id: int
    reason: str = Field(max_length=500)
    decision: dict[str, Any] = Field(description="The step's form, as JSON")
