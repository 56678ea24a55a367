"""Form drafts kept over an ended session: given back once, to their author, before they expire."""

from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models import FormDraft
from domain.form_drafts import keep_form_draft, take_form_draft
from tests.support.factories import person

NOW = datetime(2026, 9, 1, 2, 0, tzinfo=UTC)
LIFETIME = timedelta(hours=24)
PAGE = "/start/complaint"
# Longer than a cookie could ever carry (~4 KB): 3,000 Chinese characters are 9 KB of UTF-8.
LONG_TEXT = "业主反映楼上漏水" * 375
FIELDS = [("resident_name", "王先生"), ("description", LONG_TEXT), ("tags", "a"), ("tags", "b")]


def test_a_draft_is_given_back_once_to_its_author_on_its_page(session: Session) -> None:
    author = person(session, "zhangmin").id
    key = keep_form_draft(session, PAGE, FIELDS, author, NOW, LIFETIME)
    assert len(key) >= 43  # 32 random bytes
    elsewhere = take_form_draft(session, key, "/tasks/1", author, NOW)
    assert (elsewhere.fields, elsewhere.spent) == (None, False)
    taken = take_form_draft(session, key, PAGE, author, NOW + timedelta(hours=1))
    assert taken.fields == FIELDS and taken.spent
    again = take_form_draft(session, key, PAGE, author, NOW + timedelta(hours=1))
    assert (again.fields, again.spent) == (None, True)


def test_another_persons_draft_is_refused_and_deleted(session: Session) -> None:
    author, colleague = person(session, "zhangmin").id, person(session, "wangqiang").id
    key = keep_form_draft(session, PAGE, FIELDS, author, NOW, LIFETIME)
    refused = take_form_draft(session, key, PAGE, colleague, NOW)
    assert (refused.fields, refused.spent) == (None, True)
    assert session.get(FormDraft, key) is None
    assert take_form_draft(session, key, PAGE, author, NOW).fields is None


def test_a_draft_whose_author_is_unknown_goes_to_whoever_logs_in_on_that_browser(
    session: Session,
) -> None:
    key = keep_form_draft(session, PAGE, FIELDS, None, NOW, LIFETIME)
    assert take_form_draft(session, key, PAGE, person(session, "wangqiang").id, NOW).fields


def test_an_expired_draft_is_not_given_back_and_is_pruned_on_the_next_write(
    session: Session,
) -> None:
    author = person(session, "zhangmin").id
    stale = keep_form_draft(session, PAGE, FIELDS, author, NOW, LIFETIME)
    late = take_form_draft(session, stale, PAGE, author, NOW + LIFETIME)
    assert (late.fields, late.spent) == (None, True)

    forgotten = keep_form_draft(session, PAGE, FIELDS, author, NOW, LIFETIME)
    fresh = keep_form_draft(session, PAGE, FIELDS, author, NOW + LIFETIME, LIFETIME)
    kept = set(session.scalars(select(FormDraft.key).where(FormDraft.key.in_([forgotten, fresh]))))
    assert kept == {fresh}
