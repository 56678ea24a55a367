"""How an operator finds a process's flow run in the Prefect UI: its business name and tags."""

from dataclasses import dataclass

from prefect.runtime import flow_run
from sqlalchemy import select
from sqlalchemy.orm import Session

from config import get_settings
from db.models import Process, ProcessKind, Site
from db.session import reading
from i18n import gettext_for

# Every process run carries it: the Prefect UI's saved filter of cases shows these runs only.
PROCESS_TAG = "process"
# The scheduled upkeep flows carry it (prefect.yaml); the run retention deletes their old runs.
HOUSEKEEPING_TAG = "housekeeping"
SITE_TAG = "site:{code}"
# English msgids (the dashboard's labels), in the default locale: 投诉 3-1-502 漏水 #1a2b3c4d.
KIND_LABELS = {
    ProcessKind.COMPLAINT: "Complaint",
    ProcessKind.TRAINING_PLAN: "Training plan",
    ProcessKind.ONBOARDING: "Onboarding",
    ProcessKind.RESIGNATION: "Resignation",
}
# The process id's first characters: enough to tell two cases of one unit apart and to search by.
REF_CHARS = 8


@dataclass(frozen=True)
class RunLabels:
    """The name and tags of one process's flow run."""

    name: str
    tags: list[str]


def run_labels(session: Session, process_id: str) -> RunLabels:
    """Return the business name and the process, kind and site tags of the process's run."""
    kind, subject, site_code = session.execute(
        select(Process.kind, Process.subject, Site.code)
        .join(Site, Site.id == Process.site_id)
        .where(Process.id == process_id)
    ).one()
    label = gettext_for(get_settings().default_locale)(KIND_LABELS[ProcessKind(kind)])
    return RunLabels(
        name=f"{label} {subject} #{process_id[:REF_CHARS]}",
        tags=[PROCESS_TAG, str(kind), SITE_TAG.format(code=site_code)],
    )


def process_run_name() -> str:
    """Return the running process flow run's business name (a flow's `flow_run_name`)."""
    # A read: it runs as the engine starts, outside any retry, so it must not queue for the
    # SQLite write lock behind a burst of writers.
    with reading() as session:
        return run_labels(session, flow_run.parameters["process_id"]).name
