"""Turn rows into API views, translated into the caller's language."""

from db.models import InboxTask, TaskState
from flows.catalog import STEPS
from i18n import gettext_for
from inbox.api.schemas import PausePublic, TaskPublic

# Columns copied as they are; the rest of TaskPublic is derived below.
ROW_FIELDS = [name for name in TaskPublic.model_fields if name in InboxTask.__table__.columns]


def task_public(task: InboxTask, locale: str, *, with_form: bool = False) -> TaskPublic:
    """Return the API view of `task`; `with_form` adds the JSON schema of its step's form."""
    step = STEPS[task.step]
    view = TaskPublic.model_validate(
        {
            **{name: getattr(task, name) for name in ROW_FIELDS},
            "title": gettext_for(locale)(step.title),
            "resumed": task.resumed_at is not None,
            "paused": any(p.ended_at is None for p in task.pauses),
            "pauses": [PausePublic.model_validate(p) for p in task.pauses],
        }
    )
    if with_form and task.state == TaskState.OPEN:
        view.form_schema = step.form.model_json_schema()
    return view
