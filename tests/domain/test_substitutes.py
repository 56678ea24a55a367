"""Out-of-office substitutes against the real database: who may arrange them, and task routing."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from db.models import (
    Event,
    InboxTask,
    OutboxMessage,
    Process,
    ProcessKind,
    Role,
    Site,
    Substitution,
    TaskState,
    User,
    UserRole,
)
from domain.errors import Conflict, Forbidden, Invalid, NotFound
from domain.inbox import open_task
from domain.steps import HumanRequest
from domain.substitutes import (
    MAX_REASON_CHARS,
    active_substitute,
    cancel_substitute,
    hand_over_open_tasks,
    running_substitutions,
    set_substitute,
    substitutions_for,
)
from flows.complaint import FIRST_RESPONSE
from launch.demo import DEMO_SITE_CODE
from tests.support.factories import complaint_task

NOW = datetime(2026, 9, 1, 2, 0, tzinfo=UTC)  # 10:00 in Beijing, a Tuesday
DAY = timedelta(days=1)
LEAVE = "年假"


def make_site(session: Session) -> Site:
    site = Site(code=f"s{uuid.uuid4().hex[:10]}", name="另一个管理处")
    session.add(site)
    session.flush()
    return site


def make_user(session: Session, *roles: Role, site: Site | None = None) -> User:
    """Add an active user with `roles`, at the demo site unless `site` is given."""
    if site is None:
        site = session.scalars(select(Site).where(Site.code == DEMO_SITE_CODE)).one()
    username = f"u{uuid.uuid4().hex[:10]}"
    user = User(
        username=username,
        display_name=username,
        password_hash="-",
        site_id=site.id,
        email=f"{username}@test.kefu.local",
    )
    user.roles = [UserRole(role=role) for role in roles]
    session.add(user)
    session.flush()
    return user


def away(
    session: Session,
    user: User,
    substitute: User,
    starts_at: datetime = NOW - DAY,
    ends_at: datetime = NOW + 3 * DAY,
    *,
    by: User | None = None,
) -> Substitution:
    """Set `substitute` for `user` over the period, as `by` (the person themselves by default)."""
    return set_substitute(
        session, by or user, user.id, substitute.id, starts_at, ends_at, LEAVE, NOW
    )


def routed_events(session: Session, task_id: int) -> list[Event]:
    return list(
        session.scalars(
            select(Event).where(Event.task_id == task_id, Event.kind == "task_routed_to_substitute")
        )
    )


def assignee_of(session: Session, task_id: int) -> int | None:
    return session.scalar(select(InboxTask.assignee_id).where(InboxTask.id == task_id))


def test_a_current_period_hands_the_open_tasks_to_the_substitute(session: Session) -> None:
    zhang, wang, other = (make_user(session, Role.STAFF) for _ in range(3))
    mine = complaint_task(session, NOW - DAY, by=zhang.username)
    done = complaint_task(session, NOW - DAY, by=zhang.username)
    session.execute(update(InboxTask).where(InboxTask.id == done.id).values(state=TaskState.DONE))
    # Opens only after the period, when zhang is back.
    later = complaint_task(session, NOW - DAY, by=zhang.username)
    session.execute(
        update(InboxTask).where(InboxTask.id == later.id).values(available_from=NOW + 10 * DAY)
    )
    theirs = complaint_task(session, NOW - DAY, by=other.username)

    substitution = away(session, zhang, wang)

    assert (substitution.user_id, substitution.substitute_id) == (zhang.id, wang.id)
    assert (substitution.created_by_id, substitution.created_at) == (zhang.id, NOW)
    assert assignee_of(session, mine.id) == wang.id
    assert [assignee_of(session, t.id) for t in (done, later)] == [zhang.id, zhang.id]
    assert assignee_of(session, theirs.id) == other.id
    [event] = routed_events(session, mine.id)
    assert (event.process_id, event.actor_id, event.at) == (mine.process_id, zhang.id, NOW)
    assert event.data == {
        "from_user_id": zhang.id,
        "to_user_id": wang.id,
        "substitution_id": substitution.id,
    }
    assert routed_events(session, done.id) == routed_events(session, later.id) == []


def test_a_period_set_ahead_moves_nothing_yet(session: Session) -> None:
    zhang, wang = make_user(session, Role.STAFF), make_user(session, Role.STAFF)
    task = complaint_task(session, NOW - DAY, by=zhang.username)

    away(session, zhang, wang, NOW + DAY, NOW + 3 * DAY)

    assert assignee_of(session, task.id) == zhang.id
    assert routed_events(session, task.id) == []


def test_when_a_period_set_ahead_begins_the_held_work_moves_once(session: Session) -> None:
    zhang, wang = make_user(session, Role.STAFF), make_user(session, Role.STAFF)
    task = complaint_task(session, NOW - DAY, by=zhang.username)
    substitution = away(session, zhang, wang, NOW + DAY, NOW + 3 * DAY)
    assert substitution not in running_substitutions(session, NOW)

    begun = NOW + DAY
    assert running_substitutions(session, begun) == [substitution]
    assert hand_over_open_tasks(session, substitution, None, begun) == [task.id]
    assert assignee_of(session, task.id) == wang.id
    # The sweep's next tick finds nothing left to move.
    assert hand_over_open_tasks(session, substitution, None, begun + timedelta(minutes=1)) == []
    assert len(routed_events(session, task.id)) == 1
    assert running_substitutions(session, NOW + 3 * DAY) == []


def test_a_manager_at_the_site_may_arrange_it(session: Session) -> None:
    zhang, wang = make_user(session, Role.STAFF), make_user(session, Role.STAFF)
    lead = make_user(session, Role.SHIFT_LEAD)

    substitution = away(session, zhang, wang, by=lead)

    assert substitution.created_by_id == lead.id


def test_an_ops_admin_may_arrange_it_at_any_site(session: Session) -> None:
    site = make_site(session)
    zhang, wang = (
        make_user(session, Role.STAFF, site=site),
        make_user(session, Role.STAFF, site=site),
    )
    admin = make_user(session, Role.OPS_ADMIN)  # at the demo site

    assert away(session, zhang, wang, by=admin).created_by_id == admin.id


def test_another_staff_member_may_not_arrange_it(session: Session) -> None:
    zhang, wang = make_user(session, Role.STAFF), make_user(session, Role.STAFF)

    with pytest.raises(Forbidden):
        away(session, zhang, wang, by=wang)


def test_a_manager_at_another_site_may_not_arrange_it(session: Session) -> None:
    zhang, wang = make_user(session, Role.STAFF), make_user(session, Role.STAFF)
    elsewhere = make_user(session, Role.SITE_MANAGER, site=make_site(session))

    with pytest.raises(Forbidden):
        away(session, zhang, wang, by=elsewhere)


def test_an_unknown_person_is_not_found(session: Session) -> None:
    lead = make_user(session, Role.SHIFT_LEAD)

    with pytest.raises(NotFound):
        set_substitute(session, lead, 1_000_000_000, lead.id, NOW, NOW + DAY, LEAVE, NOW)


def refused_field(error: pytest.ExceptionInfo[Invalid]) -> tuple[str | int, ...]:
    return error.value.problems[0].loc


def test_an_inactive_substitute_is_invalid(session: Session) -> None:
    zhang, wang = make_user(session, Role.STAFF), make_user(session, Role.STAFF)
    wang.active = False

    with pytest.raises(Invalid) as refused:
        away(session, zhang, wang)

    assert refused_field(refused) == ("substitute_id",)


def test_the_person_cannot_stand_in_for_themselves(session: Session) -> None:
    zhang = make_user(session, Role.STAFF)

    with pytest.raises(Invalid) as refused:
        away(session, zhang, zhang)

    assert refused.value.problems[0].message == "Choose someone other than the person who is away"


def test_a_substitute_at_another_site_is_invalid(session: Session) -> None:
    zhang = make_user(session, Role.STAFF)
    elsewhere = make_user(session, Role.STAFF, site=make_site(session))

    with pytest.raises(Invalid) as refused:
        away(session, zhang, elsewhere)

    assert refused.value.problems[0].message == "This person works at another site"


@pytest.mark.parametrize(
    ("starts_at", "ends_at", "field", "message"),
    [
        (NOW + DAY, NOW + DAY, "ends_at", "The end must be after the start"),
        (NOW + 2 * DAY, NOW + DAY, "ends_at", "The end must be after the start"),
        (NOW - 3 * DAY, NOW - DAY, "ends_at", "This period is already over"),
        (NOW.replace(tzinfo=None), NOW + DAY, "starts_at", "Give the time with its time zone"),
    ],
    ids=["empty", "backwards", "past", "naive"],
)
def test_a_bad_period_is_invalid(
    session: Session, starts_at: datetime, ends_at: datetime, field: str, message: str
) -> None:
    zhang, wang = make_user(session, Role.STAFF), make_user(session, Role.STAFF)

    with pytest.raises(Invalid) as refused:
        away(session, zhang, wang, starts_at, ends_at)

    assert (refused_field(refused), refused.value.problems[0].message) == ((field,), message)


@pytest.mark.parametrize(
    "reason", ["", "  \n ", "假" * (MAX_REASON_CHARS + 1)], ids=["empty", "blank", "too-long"]
)
def test_a_missing_or_long_reason_is_invalid(session: Session, reason: str) -> None:
    zhang, wang = make_user(session, Role.STAFF), make_user(session, Role.STAFF)

    with pytest.raises(Invalid) as refused:
        set_substitute(session, zhang, zhang.id, wang.id, NOW, NOW + DAY, reason, NOW)

    assert refused_field(refused) == ("reason",)


def test_a_substitute_who_is_away_then_is_invalid(session: Session) -> None:
    zhang, wang, li = (make_user(session, Role.STAFF) for _ in range(3))
    away(session, wang, li, NOW + 2 * DAY, NOW + 4 * DAY)

    with pytest.raises(Invalid) as refused:
        away(session, zhang, wang, NOW, NOW + 3 * DAY)

    assert refused.value.problems[0].message == "This person is away themselves during this period"


def test_an_overlapping_period_conflicts(session: Session) -> None:
    zhang, wang, li = (make_user(session, Role.STAFF) for _ in range(3))
    away(session, zhang, wang, NOW, NOW + 3 * DAY)

    with pytest.raises(Conflict):
        away(session, zhang, li, NOW + 2 * DAY, NOW + 5 * DAY)

    # Periods are half-open: the next one may start the moment this one ends.
    assert away(session, zhang, li, NOW + 3 * DAY, NOW + 5 * DAY).substitute_id == li.id


def test_a_cancelled_period_no_longer_conflicts(session: Session) -> None:
    zhang, wang, li = (make_user(session, Role.STAFF) for _ in range(3))
    cancel_substitute(session, zhang, away(session, zhang, wang).id, NOW)

    assert away(session, zhang, li).substitute_id == li.id


def test_cancelling_ends_the_substitution_and_keeps_the_moved_tasks(session: Session) -> None:
    zhang, wang = make_user(session, Role.STAFF), make_user(session, Role.STAFF)
    task = complaint_task(session, NOW - DAY, by=zhang.username)
    substitution = away(session, zhang, wang)
    assert active_substitute(session, zhang.id, NOW) == wang

    cancelled = cancel_substitute(
        session, make_user(session, Role.SUPERVISOR), substitution.id, NOW
    )

    assert cancelled.cancelled_at == NOW
    assert active_substitute(session, zhang.id, NOW) is None
    assert assignee_of(session, task.id) == wang.id


def test_another_staff_member_may_not_cancel(session: Session) -> None:
    zhang, wang = make_user(session, Role.STAFF), make_user(session, Role.STAFF)
    substitution = away(session, zhang, wang)

    with pytest.raises(Forbidden):
        cancel_substitute(session, wang, substitution.id, NOW)

    assert substitution.cancelled_at is None


def test_cancelling_twice_conflicts(session: Session) -> None:
    zhang, wang = make_user(session, Role.STAFF), make_user(session, Role.STAFF)
    substitution = away(session, zhang, wang)
    cancel_substitute(session, zhang, substitution.id, NOW)

    with pytest.raises(Conflict):
        cancel_substitute(session, zhang, substitution.id, NOW + timedelta(hours=1))

    assert substitution.cancelled_at == NOW


def test_cancelling_an_ended_period_conflicts(session: Session) -> None:
    zhang, wang = make_user(session, Role.STAFF), make_user(session, Role.STAFF)
    substitution = away(session, zhang, wang, NOW, NOW + DAY)

    with pytest.raises(Conflict):
        cancel_substitute(session, zhang, substitution.id, NOW + DAY)


def test_cancelling_an_unknown_substitution_is_not_found(session: Session) -> None:
    with pytest.raises(NotFound):
        cancel_substitute(session, make_user(session, Role.OPS_ADMIN), 1_000_000_000, NOW)


def test_the_substitute_counts_only_inside_the_period(session: Session) -> None:
    zhang, wang = make_user(session, Role.STAFF), make_user(session, Role.STAFF)
    away(session, zhang, wang, NOW + DAY, NOW + 2 * DAY)

    assert active_substitute(session, zhang.id, NOW) is None
    assert active_substitute(session, zhang.id, NOW + DAY) == wang
    assert active_substitute(session, zhang.id, NOW + 2 * DAY) is None
    assert active_substitute(session, wang.id, NOW + DAY) is None


def test_an_away_substitute_passes_on_one_hop_and_no_further(session: Session) -> None:
    a, b, c, d = (make_user(session, Role.STAFF) for _ in range(4))
    away(session, a, b)
    # Later, b falls ill too; then c.
    away(session, b, c)
    assert active_substitute(session, a.id, NOW) == c

    away(session, c, d)
    assert active_substitute(session, a.id, NOW) == c


def test_two_people_naming_each_other_never_loop(session: Session) -> None:
    a, b = make_user(session, Role.STAFF), make_user(session, Role.STAFF)
    # set_substitute refuses this; rows written another way must still not loop.
    for user, substitute in ((a, b), (b, a)):
        session.add(
            Substitution(
                user_id=user.id,
                substitute_id=substitute.id,
                starts_at=NOW - DAY,
                ends_at=NOW + DAY,
                reason=LEAVE,
                created_by_id=user.id,
                created_at=NOW,
            )
        )
    session.flush()

    assert active_substitute(session, a.id, NOW) == b
    assert active_substitute(session, b.id, NOW) == a


def test_an_inactive_substitute_stands_in_for_nobody(session: Session) -> None:
    zhang, wang = make_user(session, Role.STAFF), make_user(session, Role.STAFF)
    away(session, zhang, wang)
    wang.active = False
    session.flush()

    assert active_substitute(session, zhang.id, NOW) is None


def test_the_site_page_lists_current_and_upcoming_periods(session: Session) -> None:
    site = make_site(session)
    a, b, c = (make_user(session, Role.STAFF, site=site) for _ in range(3))
    admin = make_user(session, Role.OPS_ADMIN)
    upcoming = away(session, a, b, NOW + 5 * DAY, NOW + 6 * DAY, by=admin)
    current = away(session, c, b, NOW - DAY, NOW + DAY, by=admin)
    cancelled = away(session, a, c, NOW + DAY, NOW + 2 * DAY, by=admin)
    cancel_substitute(session, admin, cancelled.id, NOW)
    ended = away(session, a, b, NOW - DAY, NOW + timedelta(hours=1), by=admin)
    away(session, make_user(session, Role.STAFF), make_user(session, Role.STAFF))  # demo site

    listed = substitutions_for(session, site.id, NOW + timedelta(hours=1))

    assert [s.id for s in listed] == [current.id, upcoming.id]
    assert ended.id not in [s.id for s in listed]


def open_note_task(
    session: Session, assignee: User, available_from: datetime | None = None
) -> InboxTask:
    """Open a first-response task assigned to `assignee`, as a flow would."""
    process = Process(
        kind=ProcessKind.COMPLAINT,
        site_id=assignee.site_id,
        subject="3-1-101 楼上漏水",
        started_by_id=assignee.id,
        started_at=NOW,
    )
    session.add(process)
    session.flush()
    request = HumanRequest(
        process_id=process.id,
        key="note",
        site_id=assignee.site_id,
        assignee_id=assignee.id,
        owner_of_record_id=assignee.id,
        available_from=available_from,
    )
    return open_task(session, FIRST_RESPONSE, request, str(uuid.uuid4()), NOW)


def test_a_new_task_for_someone_away_opens_with_their_substitute(session: Session) -> None:
    zhang, wang = make_user(session, Role.STAFF), make_user(session, Role.STAFF)
    away(session, zhang, wang)

    task = open_note_task(session, zhang)

    assert task.assignee_id == wang.id
    assert task.owner_of_record_id == zhang.id  # the case is still zhang's
    [event] = routed_events(session, task.id)
    assert (event.process_id, event.at) == (task.process_id, NOW)
    assert event.data == {"from_user_id": zhang.id, "to_user_id": wang.id}
    told = session.scalars(
        select(OutboxMessage.recipient_id).where(
            OutboxMessage.task_id == task.id, OutboxMessage.recipient_id.is_not(None)
        )
    ).all()
    assert set(told) == {wang.id}


def test_a_new_task_for_someone_present_stays_with_them(session: Session) -> None:
    zhang, wang = make_user(session, Role.STAFF), make_user(session, Role.STAFF)
    away(session, zhang, wang, NOW + DAY, NOW + 2 * DAY)

    task = open_note_task(session, zhang)

    assert task.assignee_id == zhang.id
    assert routed_events(session, task.id) == []


def test_a_task_opening_after_the_period_stays_with_the_person(session: Session) -> None:
    zhang, wang = make_user(session, Role.STAFF), make_user(session, Role.STAFF)
    away(session, zhang, wang, NOW - DAY, NOW + DAY)

    task = open_note_task(session, zhang, available_from=NOW + 3 * DAY)

    assert task.assignee_id == zhang.id
    assert routed_events(session, task.id) == []
