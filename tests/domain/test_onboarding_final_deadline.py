"""The final deadline after a third failed exam (第三次不合格…如在有效时间仍未合格，辞退),
enforced by the sweep's service against the real database with an injected clock."""

import uuid
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db.models import Event, InboxTask, NewHire, OnboardingState, OutboxMessage, TaskState
from domain import inbox, onboarding
from domain.steps import HumanRequest
from flows.onboarding import EXAM, RETRAINING
from forms.onboarding import DismissalDecision, ExamScore, NewHireCreate
from rules.onboarding import FailAction, load_policy
from tests.support.factories import person

REGISTERED_AT = datetime(2027, 3, 1, 1, 0, tzinfo=UTC)  # 09:00 in Beijing, a Monday
THIRD_FAIL_AT = datetime(2027, 3, 15, 3, 0, tzinfo=UTC)
FAIL = ExamScore(theory=40, discipline=5, note="不合格")
MINUTE = timedelta(minutes=1)


def failed_three_times(session: Session) -> NewHire:
    """Register a hire and record three failed exams; return the hire, now on the final chance."""
    hr = person(session, "sunli")
    intake = NewHireCreate(
        name=f"新员工{uuid.uuid4().hex[:4]}",
        post="前台客服",
        start_date=date(2027, 3, 1),
        trainer_id=person(session, "lihua").id,
        cohort=f"t-{uuid.uuid4().hex[:10]}",
    )
    process = onboarding.register_new_hire(session, hr, intake, load_policy(), REGISTERED_AT)
    for attempt in (1, 2, 3):
        at = THIRD_FAIL_AT - timedelta(days=3 - attempt)
        onboarding.record_exam(session, process.id, attempt, FAIL, f"exam-{attempt}", at)
    hire = onboarding.get_new_hire(session, process.id)
    assert hire.state == OnboardingState.RETRAINING and hire.final_deadline is not None
    return hire


def retake_task(session: Session, hire: NewHire, key: str, flow_run_id: str) -> InboxTask:
    """Open the step the flow waits on during the final chance (retraining, then the retake)."""
    step, holder = (RETRAINING, hire.trainer_id) if "retraining" in key else (EXAM, None)
    request = HumanRequest(
        process_id=hire.process_id,
        key=key,
        site_id=onboarding.site_of(session, hire),
        assignee_id=holder or hire.registered_by_id,
    )
    return inbox.open_task(session, step, request, flow_run_id, THIRD_FAIL_AT)


def told(session: Session, process_id: str) -> list[int]:
    return sorted(
        session.scalars(
            select(OutboxMessage.recipient_id).where(
                OutboxMessage.process_id == process_id,
                OutboxMessage.event == "onboarding_final_deadline_missed",
                OutboxMessage.channel == "email",
            )
        )
    )


def test_the_deadline_passing_without_a_pass_opens_the_dismissal_decision(
    session: Session,
) -> None:
    hire = failed_three_times(session)
    deadline = hire.final_deadline
    assert deadline is not None
    # Five working days after the third fail, when service ends (Beijing 17:30).
    assert deadline == datetime(2027, 3, 22, 9, 30, tzinfo=UTC)
    retraining = retake_task(session, hire, "retraining-3", str(uuid.uuid4()))

    assert onboarding.enforce_final_deadlines(session, deadline - MINUTE) == []
    assert not onboarding.final_deadline_missed(session, hire.process_id, 4)

    (missed,) = onboarding.enforce_final_deadlines(session, deadline + MINUTE)
    assert missed.process_id == hire.process_id and missed.waiting_keys == ("retraining-3",)
    assert retraining.state == TaskState.CANCELLED  # nobody retrains on a closed chance
    assert onboarding.final_deadline_missed(session, hire.process_id, 4)
    hr_and_trainer = sorted({hire.registered_by_id, hire.trainer_id})
    assert told(session, hire.process_id) == hr_and_trainer
    why = session.scalars(
        select(Event).where(
            Event.process_id == hire.process_id, Event.kind == "final_deadline_missed"
        )
    ).one()
    assert why.data == {
        "attempt": 4,
        "final_deadline": deadline.isoformat(),
        "reason": "Not passed by the final deadline",
    }

    # A second sweep (the flow has not caught up yet) changes nothing twice.
    (again,) = onboarding.enforce_final_deadlines(session, deadline + 2 * MINUTE)
    assert again == missed
    assert told(session, hire.process_id) == hr_and_trainer

    # The flow reads the miss: the retake counts as failed and the site manager decides.
    verdict = onboarding.record_missed_retake(
        session, hire.process_id, 4, "exam-4", deadline + 3 * MINUTE
    )
    assert (verdict.passed, verdict.action) == (False, FailAction.DISMISSAL_DECISION)
    assert hire.state == OnboardingState.DISMISSAL_PENDING
    (attempt,) = [a for a in hire.exam_attempts if a.attempt == 4]
    assert (attempt.late, attempt.scored_by_id, attempt.scored_at) == (True, None, why.at)
    assert onboarding.enforce_final_deadlines(session, deadline + 4 * MINUTE) == []


def test_a_pass_before_the_deadline_closes_it(session: Session) -> None:
    hire = failed_three_times(session)
    deadline = hire.final_deadline
    assert deadline is not None
    passed = ExamScore(theory=70, discipline=8)
    verdict = onboarding.record_exam(session, hire.process_id, 4, passed, "exam-4", deadline)
    assert verdict.passed
    onboarding.take_post(session, hire.process_id, deadline)

    assert onboarding.enforce_final_deadlines(session, deadline + MINUTE) == []
    assert hire.state == OnboardingState.ON_POST
    assert told(session, hire.process_id) == []


def test_a_retake_scored_in_time_is_left_to_the_flow(session: Session) -> None:
    hire = failed_three_times(session)
    deadline = hire.final_deadline
    assert deadline is not None
    exam = retake_task(session, hire, "exam-4", str(uuid.uuid4()))
    hr = person(session, "sunli")
    passed = {"theory": 70, "discipline": 8}
    inbox.complete(session, hr, exam.id, passed, {EXAM.name: EXAM}, deadline - MINUTE)

    # Scored a minute before the deadline; the flow has not recorded it when the sweep looks.
    assert onboarding.enforce_final_deadlines(session, deadline + MINUTE) == []
    missed = session.scalar(
        select(func.count(Event.id)).where(
            Event.process_id == hire.process_id, Event.kind == "final_deadline_missed"
        )
    )
    assert missed == 0


def test_one_more_chance_sets_a_new_final_deadline_that_is_enforced_again(
    session: Session,
) -> None:
    hire = failed_three_times(session)
    first = hire.final_deadline
    assert first is not None
    onboarding.enforce_final_deadlines(session, first + MINUTE)
    onboarding.record_missed_retake(session, hire.process_id, 4, "exam-4", first + MINUTE)
    reprieve = DismissalDecision(decision="one_more_chance", reason="家中变故，再给一次机会")
    dismissed = onboarding.decide_dismissal(
        session, hire.process_id, reprieve, "dismissal-1", first + timedelta(hours=1)
    )
    second = hire.final_deadline
    assert not dismissed and second is not None and second > first
    assert hire.state == OnboardingState.RETRAINING

    assert onboarding.enforce_final_deadlines(session, second - MINUTE) == []
    (missed,) = onboarding.enforce_final_deadlines(session, second + MINUTE)
    assert missed.process_id == hire.process_id
    assert onboarding.final_deadline_missed(session, hire.process_id, 5)
