"""Start the flow run of a recorded process; safe to call again until it succeeds."""

import logging
from uuid import UUID

from prefect.client.orchestration import get_client
from prefect.settings import PREFECT_UI_URL
from sqlalchemy import select, update

from db.models import Process, ProcessState
from db.session import reading, transaction
from tasks.human import RETRYABLE_PREFECT_FAILURES

logger = logging.getLogger(__name__)

# Deployment of each process kind, as named in prefect.yaml ("<flow name>/<deployment name>").
DEPLOYMENTS = {
    "complaint": "complaint/complaint",
    "training_plan": "training-plan/training-plan",
    "onboarding": "onboarding/onboarding",
    "resignation": "resignation/resignation",
}


def start_process_run(process_id: str) -> bool:
    """Create the process's flow run (idempotently, keyed by the process) and record its id."""
    with reading() as session:
        process = session.get_one(Process, process_id)
        if process.flow_run_id is not None:
            return True
        deployment_name = DEPLOYMENTS[process.kind]
    try:
        with get_client(sync_client=True) as client:
            deployment = client.read_deployment_by_name(deployment_name)
            flow_run = client.create_flow_run_from_deployment(
                deployment.id,
                parameters={"process_id": process_id},
                # The same process never gets two runs, however often this is retried.
                idempotency_key=f"process:{process_id}",
            )
    except RETRYABLE_PREFECT_FAILURES as exc:
        logger.warning("Could not start the flow run of process %s: %s", process_id, exc)
        return False
    with transaction() as session:
        session.execute(
            update(Process)
            .where(Process.id == process_id, Process.flow_run_id.is_(None))
            .values(flow_run_id=str(flow_run.id), state=ProcessState.RUNNING)
        )
    return True


def unstarted_processes(limit: int = 100) -> list[str]:
    """Return ids of processes recorded but without a flow run yet."""
    with reading() as session:
        return list(
            session.scalars(
                select(Process.id)
                .where(Process.state == ProcessState.STARTING)
                .order_by(Process.started_at)
                .limit(limit)
            )
        )


def flow_run_url(flow_run_id: str | UUID, ui_url: str) -> str:
    """Return the Prefect UI page of a flow run."""
    return f"{ui_url.rstrip('/')}/runs/flow-run/{flow_run_id}"


def process_run_url(flow_run_id: str | None) -> str | None:
    """Return the Prefect UI page of a process's flow run, when it has one and a UI is known."""
    ui_url = PREFECT_UI_URL.value()
    return flow_run_url(flow_run_id, ui_url) if flow_run_id and ui_url else None
