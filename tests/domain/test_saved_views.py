"""Saved inbox views against the real database: kept keys, one view per name, own views only."""

import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models import Role, SavedView, Site, User, UserRole
from domain import saved_views
from domain.errors import Invalid, NotFound
from domain.saved_views import (
    MAX_NAME_CHARS,
    MAX_QUERY_CHARS,
    clean_query,
    delete_view,
    save_view,
    views_for,
)
from launch.demo import DEMO_SITE_CODE

NOW = datetime(2026, 9, 1, 2, 0, tzinfo=UTC)  # 10:00 in Beijing, a Tuesday


def make_user(session: Session) -> User:
    """Add an active staff member at the demo site, with no saved views yet."""
    site = session.scalars(select(Site).where(Site.code == DEMO_SITE_CODE)).one()
    username = f"u{uuid.uuid4().hex[:10]}"
    user = User(username=username, display_name=username, password_hash="-", site_id=site.id)
    user.roles = [UserRole(role=Role.STAFF)]
    session.add(user)
    session.flush()
    return user


def test_only_the_inbox_filter_keys_are_kept() -> None:
    kept = clean_query("?view=team&page=3&urgency=urgent&csrf=abc&q=漏水&due=&site=2")

    assert parse_qsl(kept) == [
        ("view", "team"),
        ("urgency", "urgent"),
        ("q", "漏水"),
        ("site", "2"),
    ]


def test_a_view_is_saved_with_its_cleaned_query(session: Session) -> None:
    user = make_user(session)

    view = save_view(session, user, "  紧急投诉  ", "view=mine&urgency=urgent&token=x", NOW)

    assert (view.user_id, view.name, view.created_at) == (user.id, "紧急投诉", NOW)
    assert view.query == "view=mine&urgency=urgent"


def test_saving_a_name_again_replaces_that_view(session: Session) -> None:
    user = make_user(session)
    first = save_view(session, user, "本周到期", "due=week", NOW)

    again = save_view(
        session, user, "本周到期", "due=week&process=complaint", NOW + timedelta(days=1)
    )

    assert again.id == first.id
    assert again.created_at == NOW
    assert [(v.name, v.query) for v in views_for(session, user)] == [
        ("本周到期", "due=week&process=complaint")
    ]


def test_two_people_may_use_the_same_name(session: Session) -> None:
    zhang, wang = make_user(session), make_user(session)

    mine = save_view(session, zhang, "我的", "view=mine", NOW)
    theirs = save_view(session, wang, "我的", "view=queue", NOW)

    assert mine.id != theirs.id
    assert [v.query for v in views_for(session, zhang)] == ["view=mine"]


def test_a_save_racing_another_of_the_same_name_updates_it(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = make_user(session)
    winner = save_view(session, user, "逾期", "due=overdue", NOW)
    real_lookup = saved_views._view_named
    lookups: list[str] = []

    def first_lookup_misses(session: Session, user_id: int, name: str) -> SavedView | None:
        # As if the other request's row was not committed yet when this one looked.
        lookups.append(name)
        return None if len(lookups) == 1 else real_lookup(session, user_id, name)

    monkeypatch.setattr(saved_views, "_view_named", first_lookup_misses)

    loser = save_view(session, user, "逾期", "due=overdue&view=team", NOW)

    assert loser.id == winner.id
    assert lookups == ["逾期", "逾期"]  # the insert was tried, refused, and the row looked up
    assert [v.query for v in views_for(session, user)] == ["due=overdue&view=team"]


@pytest.mark.parametrize("name", ["", "   "], ids=["empty", "blank"])
def test_a_view_needs_a_name(session: Session, name: str) -> None:
    user = make_user(session)

    with pytest.raises(Invalid) as refused:
        save_view(session, user, name, "view=mine", NOW)

    assert refused.value.problems[0].loc == ("name",)
    assert views_for(session, user) == []


def test_a_name_longer_than_the_limit_is_invalid(session: Session) -> None:
    user = make_user(session)
    save_view(session, user, "名" * MAX_NAME_CHARS, "view=mine", NOW)

    with pytest.raises(Invalid) as refused:
        save_view(session, user, "名" * (MAX_NAME_CHARS + 1), "view=mine", NOW)

    assert refused.value.problems[0].loc == ("name",)
    assert len(views_for(session, user)) == 1


def test_a_query_too_long_to_store_is_invalid(session: Session) -> None:
    user = make_user(session)

    with pytest.raises(Invalid) as refused:
        save_view(session, user, "长搜索", "q=" + "x" * MAX_QUERY_CHARS, NOW)

    assert refused.value.problems[0].loc == ("query",)
    assert views_for(session, user) == []


def test_views_are_listed_in_the_order_first_saved(session: Session) -> None:
    user = make_user(session)
    later = save_view(session, user, "A 后存", "view=queue", NOW + timedelta(hours=1))
    earlier = save_view(session, user, "B 先存", "view=mine", NOW)

    assert [v.id for v in views_for(session, user)] == [earlier.id, later.id]


def test_a_person_deletes_their_own_view(session: Session) -> None:
    user = make_user(session)
    keep = save_view(session, user, "保留", "view=mine", NOW)
    drop = save_view(session, user, "删除", "view=queue", NOW)

    delete_view(session, user, drop.id)

    assert [v.id for v in views_for(session, user)] == [keep.id]


def test_another_persons_view_does_not_exist_for_them(session: Session) -> None:
    owner, other = make_user(session), make_user(session)
    view = save_view(session, owner, "我的", "view=mine", NOW)

    with pytest.raises(NotFound):
        delete_view(session, other, view.id)

    assert session.get(SavedView, view.id) is not None


def test_deleting_an_unknown_view_is_not_found(session: Session) -> None:
    with pytest.raises(NotFound):
        delete_view(session, make_user(session), 1_000_000_000)
