"""The web inbox on the real server: one person's slow step does not hold up anybody else."""

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import httpx
import pytest
from prefect.client.orchestration import get_client
from prefect.states import Scheduled
from sqlalchemy import update

from db.base import utcnow
from db.models import InboxTask, TaskState
from db.session import transaction
from launch.demo import DEMO_PASSWORD
from launch.embedded import Stack, eventually
from tasks.human import SUSPEND_SETTLE_SECONDS
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


def test_a_completion_waiting_for_its_flow_run_does_not_hold_up_other_requests(
    stack: Stack,
) -> None:
    # A flow run that has not reached its pause (it is scheduled far ahead): the completion
    # waits up to SUSPEND_SETTLE_SECONDS for it before leaving the hand-back to the sweep.
    with get_client(sync_client=True) as client:
        deployment = client.read_deployment_by_name("sla-sweep/sla-sweep")
        later = Scheduled(scheduled_time=utcnow() + timedelta(days=3650))
        run = client.create_flow_run_from_deployment(deployment.id, state=later)
    with transaction() as session:
        task = complaint_task(session, utcnow())
        task.flow_run_id = str(run.id)
        session.flush()
        task_id = task.id
    browser = web_login(stack.config.api_url, "zhangmin")
    token = csrf_of(browser, f"/tasks/{task_id}")
    try:
        with ThreadPoolExecutor(max_workers=1) as pool:
            completion = pool.submit(
                browser.post,
                f"/tasks/{task_id}/complete",
                data={"csrf_token": token, "response_note": "已电话联系"},
            )
            eventually(lambda: task_state(task_id) == TaskState.DONE, "the completion")

            # The completion now waits on Prefect; everyone else is still served meanwhile.
            health = httpx.get(f"{stack.config.api_url}/healthz", timeout=SUSPEND_SETTLE_SECONDS)
            assert health.json() == {"status": "ok"}
            assert not completion.done(), "served only after the completion had finished"
            page = completion.result()
        assert page.url.path == "/inbox"
        assert "流程服务恢复后将自动继续。" in page.text
    finally:
        with transaction() as session:  # keep later sweeps from retrying the made-up run
            session.execute(
                update(InboxTask).where(InboxTask.id == task_id).values(state=TaskState.CANCELLED)
            )
        with get_client(sync_client=True) as client:
            client.delete_flow_run(run.id)
