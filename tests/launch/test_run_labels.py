"""Every process's flow run is named for its business and tagged; only upkeep is housekeeping."""

import pytest
from sqlalchemy.orm import Session

from db.models import Process, ProcessKind
from launch.stack import declared_deployments
from tasks.run_names import HOUSEKEEPING_TAG, PROCESS_TAG, run_labels
from tests.support.factories import person

# What an operator reads in the Prefect UI's run list, in the product's first language.
KIND_NAMES = {
    ProcessKind.COMPLAINT: "投诉",
    ProcessKind.TRAINING_PLAN: "培训计划",
    ProcessKind.ONBOARDING: "新员工入职",
    ProcessKind.RESIGNATION: "离职交接",
}
SUBJECTS = {
    ProcessKind.COMPLAINT: "3-1-502 漏水",
    ProcessKind.TRAINING_PLAN: "2030年1月培训计划",
    ProcessKind.ONBOARDING: "王小明",
    ProcessKind.RESIGNATION: "王强",
}


@pytest.mark.parametrize("kind", list(ProcessKind))
def test_each_process_runs_under_its_business_name_with_kind_and_site_tags(
    session: Session, kind: ProcessKind
) -> None:
    starter = person(session, "zhangmin")
    process = Process(
        kind=kind, site_id=starter.site_id, subject=SUBJECTS[kind], started_by_id=starter.id
    )
    session.add(process)
    session.flush()

    labels = run_labels(session, process.id)

    assert labels.name == f"{KIND_NAMES[kind]} {SUBJECTS[kind]} #{process.id[:8]}"
    assert labels.tags[:2] == [PROCESS_TAG, kind.value]
    assert labels.tags[2].startswith("site:")
    assert HOUSEKEEPING_TAG not in labels.tags


def test_every_scheduled_deployment_is_housekeeping_and_no_process_is() -> None:
    deployments = declared_deployments()
    processes = {kind.value.replace("_", "-") for kind in ProcessKind}
    for deployment in deployments:
        tags = deployment.get("tags", [])
        if deployment["name"] in processes:
            assert HOUSEKEEPING_TAG not in tags, deployment["name"]
            assert "schedules" not in deployment, deployment["name"]
        else:
            assert deployment.get("schedules") and HOUSEKEEPING_TAG in tags, deployment["name"]
    assert processes <= {deployment["name"] for deployment in deployments}
