"""The web inbox on the real server: one person's slow step does not hold up anybody else."""

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import httpx
import pytest
from prefect.client.orchestration import get_client
from prefect.states import Paused, Scheduled
from sqlalchemy import update

from db.base import utcnow
from db.models import InboxTask, TaskState
from db.session import transaction
from launch.demo import DEMO_PASSWORD
from launch.embedded import Stack, eventually
from tasks.person_waits import PERSON_WAITS_SECONDS
from tests.support.factories import complaint_task
from tests.support.web import csrf_of

pytestmark = pytest.mark.e2e


def web_login(base_url: str, username: str) -> httpx.Client:
    """Return a browser-like client of the real server, logged in through the form."""
    client = httpx.Client(base_url=base_url, follow_redirects=True, timeout=60)
    token = csrf_of(client, "/login")
    response = client.post(
        "/login", data={"username": username, "password": DEMO_PASSWORD, "csrf_token": token}
    )
    assert response.url.path == "/inbox", response.text
    return client


def task_state(task_id: int) -> TaskState:
    with transaction() as session:
        return session.get_one(InboxTask, task_id).state


def handed_back(task_id: int) -> bool:
    with transaction() as session:
        return session.get_one(InboxTask, task_id).resumed_at is not None


def test_a_completion_waiting_for_its_flow_run_holds_up_nobody_and_is_handed_over_later(
    stack: Stack,
) -> None:
    # A flow run that has not reached its pause (it is scheduled far ahead): the completion
    # waits up to PERSON_WAITS_SECONDS for it, then answers while the hand-back goes on.
    with get_client(sync_client=True) as client:
        deployment = client.read_deployment_by_name("sla-sweep/sla-sweep")
        later = Scheduled(scheduled_time=utcnow() + timedelta(days=3650))
        run = client.create_flow_run_from_deployment(deployment.id, state=later)
    with transaction() as session:
        task = complaint_task(session, utcnow())
        task.flow_run_id = str(run.id)
        session.flush()
        task_id, step_key = task.id, task.step_key
    browser = web_login(stack.config.api_url, "zhangmin")
    token = csrf_of(browser, f"/tasks/{task_id}")
    with get_client(sync_client=True) as client:  # no sweep: the hand-back is the person's
        client.pause_deployment(deployment.id)
    try:
        with ThreadPoolExecutor(max_workers=1) as pool:
            completion = pool.submit(
                browser.post,
                f"/tasks/{task_id}/complete",
                data={"csrf_token": token, "response_note": "已电话联系"},
            )
            eventually(lambda: task_state(task_id) == TaskState.DONE, "the completion")

            # The completion now waits on Prefect; everyone else is still served meanwhile.
            health = httpx.get(f"{stack.config.api_url}/healthz", timeout=PERSON_WAITS_SECONDS)
            assert health.json() == {"status": "ok"}
            assert not completion.done(), "served only after the completion had finished"
            page = completion.result()
        assert page.url.path == "/inbox"
        assert "流程服务恢复后将自动继续。" in page.text

        # The run reaches its pause only after the person was answered (a loaded server can
        # take a minute): the hand-back still under way hands the decision over then.
        with get_client(sync_client=True) as client:
            client.set_flow_run_state(run.id, Paused(pause_key=step_key), force=True)
        eventually(lambda: handed_back(task_id), "the background hand-back to catch the pause")
    finally:
        with transaction() as session:  # keep later sweeps from retrying the made-up run
            session.execute(
                update(InboxTask).where(InboxTask.id == task_id).values(state=TaskState.CANCELLED)
            )
        with get_client(sync_client=True) as client:
            client.delete_flow_run(run.id)
            client.resume_deployment(deployment.id)
