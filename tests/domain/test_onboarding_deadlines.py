"""The due times of an onboarding's retraining and retake, from the policy's working days."""

import uuid
from datetime import UTC, date, datetime

from sqlalchemy.orm import Session

from domain import onboarding
from forms.onboarding import ExamScore, NewHireCreate
from rules.onboarding import load_policy
from tests.support.factories import person

REGISTERED_AT = datetime(2027, 3, 1, 1, 0, tzinfo=UTC)  # 09:00 in Beijing, a Monday
FAILED_AT = datetime(2027, 3, 8, 3, 0, tzinfo=UTC)  # Monday 8 March, 11:00 in Beijing


def test_retraining_then_the_retake_are_each_due_two_working_days_later(session: Session) -> None:
    intake = NewHireCreate(
        name=f"新员工{uuid.uuid4().hex[:4]}",
        post="前台客服",
        start_date=date(2027, 3, 1),
        trainer_id=person(session, "lihua").id,
        cohort=f"t-{uuid.uuid4().hex[:10]}",
    )
    policy = load_policy()
    hr = person(session, "sunli")
    process = onboarding.register_new_hire(session, hr, intake, policy, REGISTERED_AT)
    fail = ExamScore(theory=40, discipline=5, note="不合格")
    onboarding.record_exam(session, process.id, 1, fail, "exam-1", FAILED_AT)

    retraining = onboarding.open_retraining(session, process.id, 1, FAILED_AT)
    # Wednesday 10 March when service ends (17:30 in Beijing).
    assert policy.retraining_working_days == 2
    assert retraining.due_at == datetime(2027, 3, 10, 9, 30, tzinfo=UTC)

    retake = onboarding.exam_slot(session, process.id, 2)
    # Not confirmed yet: the retake opens when the retraining is due, and is due on Friday.
    assert policy.retake_within_working_days == 2
    assert (retake.available_from, retake.due_at) == (
        retraining.due_at,
        datetime(2027, 3, 12, 9, 30, tzinfo=UTC),
    )
