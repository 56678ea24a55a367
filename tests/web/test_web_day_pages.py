"""The web inbox's ordinary paths that used to dead-end, page by page without a browser:
filters and search, forms with list fields, error pages, a session ending mid-form, stale pages."""

import re
import uuid

import httpx
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from db.base import utcnow
from db.models import ApiToken, FormDraft, InboxTask, ProcessKind, Site, User
from db.session import transaction
from domain.errors import Invalid
from domain.people import revoke_tokens
from domain.validation import validate_form
from flows.catalog import STEPS
from forms.training_plan import AssessmentDecision, PlanDocument, TrainingPlanCreate
from i18n import gettext_for
from inbox.web.form_fields import errors_by_path, form_fields
from inbox.web.rendering import templates
from launch.demo import DEMO_PASSWORD, DEMO_SITE_CODE
from tests.support.factories import complaint_task, new_staff, person, step_task
from tests.support.web import csrf_of, logged_in

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def complaint_of(resident: str, by: str = "zhangmin") -> int:
    with transaction() as session:
        return complaint_task(session, utcnow(), by=by, resident_name=resident).id


def test_inbox_filters_left_at_any_list_tasks_and_search_finds_the_resident(app: object) -> None:
    resident = f"住户{uuid.uuid4().hex[:6]}"
    task_id = complaint_of(resident)
    lead = logged_in(app, "lihua")
    blank = "&process=&urgency=&due=&site="
    for address in (f"/inbox?view=team{blank}&q={resident}", f"/inbox?view=team&q={resident}"):
        page = lead.get(address)
        assert page.status_code == 200, page.text[:300]
        assert f'href="/tasks/{task_id}"' in page.text
    partial = lead.get(f"/inbox?view=team{blank}&q={resident}", headers={"HX-Target": "task-list"})
    assert partial.status_code == 200
    assert partial.text.lstrip().startswith('<section id="task-list">')
    # A filter value nobody offers is an error page, in Chinese with the navigation, not JSON.
    wrong = lead.get("/inbox?view=team&process=nonsense")
    assert wrong.status_code == 422
    assert wrong.headers["content-type"].startswith("text/html")
    assert 'class="mainnav"' in wrong.text and "返回" in wrong.text


def test_the_plan_form_renders_its_list_fields_with_their_defaults() -> None:
    fields = {f.path: f for f in form_fields(PlanDocument, {}, {}, gettext_for("zh_CN"), [])}
    assert fields["items"].kind == "rows" and len(fields["items"].rows) == 1
    assert fields["budget"].kind == "rows"
    row = {f.path: f for f in fields["items"].rows[0]}
    assert row["items.0.attendee_ids"].value == []


def test_a_form_posted_after_the_session_ended_comes_back_after_login(app: object) -> None:
    staff = logged_in(app, "zhangmin")
    task_id = open_task = complaint_of("王先生")
    token = csrf_of(staff, f"/tasks/{open_task}")
    with transaction() as session:
        zhangmin = person(session, "zhangmin")
        session.execute(
            update(ApiToken).where(ApiToken.user_id == zhangmin.id).values(expires_at=utcnow())
        )
    note = f"已电话联系业主 {uuid.uuid4().hex[:6]}"
    ended = staff.post(
        f"/tasks/{task_id}/complete",
        data={"csrf_token": token, "response_note": note},
        follow_redirects=False,
    )
    assert ended.status_code == 303
    assert ended.headers["location"] == f"/login?next=/tasks/{task_id}"
    login_token = csrf_of(staff, ended.headers["location"])
    back = staff.post(
        "/login",
        data={
            "username": "zhangmin",
            "password": "kefu-demo-2026",
            "csrf_token": login_token,
            "next": f"/tasks/{task_id}",
        },
    )
    assert back.url.path == f"/tasks/{task_id}"
    assert note in back.text
    # Kept once: the next visit shows the form as the task has it.
    assert note not in staff.get(f"/tasks/{task_id}").text
    with transaction() as session:
        assert session.get_one(InboxTask, task_id).state == "open"


def _complaint_form_whose_session_ends(
    app: object, username: str, user_id: int
) -> tuple[TestClient, str]:
    """Open the complaint form logged in as `username`, then end that login server-side; return
    the browser and the form's CSRF token."""
    client = logged_in(app, username)
    token = csrf_of(client, "/start/complaint")
    with transaction() as session:
        revoke_tokens(session, session.get_one(User, user_id))
    return client, token


def _post_complaint(client: TestClient, token: str) -> tuple[httpx.Response, str]:
    """Post the complaint form and check it is sent to log in again; return the answer and the
    description typed."""
    description = f"楼上漏水 {uuid.uuid4().hex}"
    ended = client.post(
        "/start/complaint",
        data={"csrf_token": token, "resident_name": "王先生", "description": description},
        follow_redirects=False,
    )
    assert ended.headers["location"] == "/login?next=/start/complaint"
    return ended, description


def _log_in_again(client: TestClient, username: str, login_page: str) -> httpx.Response:
    login_token = csrf_of(client, login_page)
    return client.post(
        "/login",
        data={"username": username, "password": DEMO_PASSWORD, "csrf_token": login_token,
              "next": "/start/complaint"},
    )  # fmt: skip


def test_a_draft_kept_over_an_ended_session_is_not_given_to_the_next_person(app: object) -> None:
    (author_id, author), (_, colleague) = new_staff("起草人"), new_staff("同事")
    client, token = _complaint_form_whose_session_ends(app, author, author_id)
    ended, description = _post_complaint(client, token)
    with transaction() as session:
        draft = session.scalars(select(FormDraft).where(FormDraft.user_id == author_id)).one()
        # Only the key is in the cookie; the draft keeps what was typed, not the CSRF token.
        assert draft.page == "/start/complaint" and draft.key not in ended.headers["set-cookie"]
        assert ["description", description] in draft.fields
        assert all(name != "csrf_token" for name, _ in draft.fields)

    # Someone else logs in on the same browser: the form is empty and the draft is gone.
    back = _log_in_again(client, colleague, ended.headers["location"])
    assert back.url.path == "/start/complaint"
    assert description not in back.text
    with transaction() as session:
        assert session.scalars(select(FormDraft).where(FormDraft.user_id == author_id)).all() == []


def test_a_form_posted_after_a_page_found_the_session_ended_is_kept_for_its_author(
    app: object,
) -> None:
    author_id, author = new_staff("起草人")
    client, token = _complaint_form_whose_session_ends(app, author, author_id)
    # Another tab's page load finds the session ended first: the cookie loses the login.
    assert client.get("/inbox", follow_redirects=False).status_code == 303
    ended, description = _post_complaint(client, token)
    with transaction() as session:
        draft = session.scalars(select(FormDraft).where(FormDraft.user_id == author_id)).one()
        assert ["description", description] in draft.fields
    back = _log_in_again(client, author, ended.headers["location"])
    assert back.url.path == "/start/complaint" and description in back.text


def test_a_form_address_reloaded_goes_back_to_its_page(app: object) -> None:
    staff = logged_in(app, "zhangmin")
    task_id = complaint_of("王先生")
    reloaded = staff.get(f"/tasks/{task_id}/complete", follow_redirects=False)
    assert reloaded.status_code == 303
    assert reloaded.headers["location"] == f"/tasks/{task_id}"


def test_error_pages_keep_the_navigation_and_a_way_back(app: object) -> None:
    staff = logged_in(app, "zhangmin")
    task_id = complaint_of("王先生")
    token = csrf_of(staff, f"/tasks/{task_id}")
    refused = staff.post(
        f"/tasks/{task_id}/attachments",
        data={"csrf_token": token},
        files={"file": ("photo.png", b"MZ not a picture", "image/png")},
    )
    assert refused.status_code == 422
    assert 'class="mainnav"' in refused.text
    assert f'href="/tasks/{task_id}" data-testid="error-back"' in refused.text
    missing = staff.get("/no-such-page")
    assert missing.status_code == 404 and 'class="mainnav"' in missing.text


def test_a_bulk_action_with_nothing_ticked_says_so_on_the_inbox(app: object) -> None:
    lead = logged_in(app, "lihua")
    token = csrf_of(lead, "/inbox?view=team")
    answer = lead.post(
        "/inbox/bulk", data={"csrf_token": token, "action": "claim", "back": "/inbox?view=team"}
    )
    assert answer.url.path == "/inbox"
    assert "先勾选任务" in answer.text
    # Nothing was done, and nothing is counted below zero.
    assert "已处理 0 项" in answer.text and "已处理 -1 项" not in answer.text


def test_task_pages_are_not_kept_and_choose_no_delegate(app: object) -> None:
    staff = logged_in(app, "zhangmin")
    task_id = complaint_of("王先生")
    page = staff.get(f"/tasks/{task_id}")
    assert page.headers["cache-control"] == "no-store"
    delegate = re.search(r'data-testid="delegate-to">(.*?)</select>', page.text, re.S)
    assert delegate is not None
    assert re.findall(r"<option[^>]*selected", delegate.group(1)) == ['<option value="" selected']


def test_the_start_pages_offer_only_the_forms_the_person_may_use(app: object) -> None:
    staff = logged_in(app, "zhangmin")
    index = staff.get("/start").text
    assert 'href="/start/complaint"' in index and 'href="/start/resignation"' in index
    assert 'href="/start/onboarding"' not in index and 'href="/start/training_plan"' not in index
    refused = staff.get("/start/onboarding")
    assert refused.status_code == 403
    assert "您无权发起此流程" in refused.text and 'class="mainnav"' in refused.text
    assert 'data-testid="intake-form"' not in refused.text
    hr = logged_in(app, "sunli")
    assert "登记新员工" in hr.get("/start").text


def test_chinese_pages_name_the_phone_channel_and_list_errors_in_chinese(app: object) -> None:
    staff = logged_in(app, "zhangmin")
    form = staff.get("/start/complaint").text
    assert re.search(r'<option value="phone"[^>]*>电话</option>', form)
    gettext = gettext_for("zh_CN")
    try:
        validate_form(AssessmentDecision, {"assessed_on": "2026-12-01", "scores": []})
    except Invalid as refusal:
        assert errors_by_path(refusal.problems, gettext) == {"scores": "至少填写 1 项"}
    else:
        raise AssertionError("an assessment without scores was accepted")
    assert gettext("Description") == "描述"  # a handover item's, not only a complaint's


def test_the_new_hire_form_offers_the_sites_by_name(app: object) -> None:
    # The site was a bare number box ("site_id") the HR had to fill with a database id.
    with transaction() as session:
        site = session.scalars(select(Site).where(Site.code == DEMO_SITE_CODE)).one()
        site_id, site_name = site.id, site.name
        other = Site(code=f"other-{uuid.uuid4().hex[:6]}", name="另一管理处")
        session.add(other)
    hr = logged_in(app, "sunli")
    form = hr.get("/start/onboarding").text
    assert 'name="site_id" type="number"' not in form
    choice = re.search(r'<select id="f-site_id" name="site_id"[^>]*>(.*?)</select>', form, re.S)
    assert choice is not None, "the site is not a choice"
    # Only the HR's own site: another site's hires are not theirs to register.
    offered = re.findall(r'<option value="(\d+)"[^>]*>([^<]*)</option>', choice.group(1))
    assert offered == [(str(site_id), site_name)]


def test_a_choice_reads_in_its_own_words_where_the_english_is_shared() -> None:
    # A budget's "Venue" read 地点 and a cadence's "Monthly" 月度: each took the translation
    # of the same English word elsewhere (a session's venue, a monthly plan).
    fields = {f.path: f for f in form_fields(PlanDocument, {}, {}, gettext_for("zh_CN"), [])}
    budget = dict(
        next(f for f in fields["budget"].rows[0] if f.path == "budget.0.category").options
    )
    assert budget["venue"] == "场地"
    item = {f.path: f for f in fields["items"].rows[0]}
    assert dict(item["items.0.cadence"].options)["monthly"] == "每月"
    assert item["items.0.venue"].label == "地点"
    gettext = gettext_for("zh_CN")
    start = {f.path: f for f in form_fields(TrainingPlanCreate, {}, {}, gettext, [])}
    assert dict(start["kind"].options)["monthly"] == "月度"
    assert (gettext("Venue"), gettext("Monthly")) == ("地点", "月度")
    assert gettext_for("en")("Venue") == "Venue"


def test_the_plan_document_reads_a_budget_venue_and_a_monthly_cadence(app: object) -> None:
    plan = {
        "items": [{"topic": "消防演练", "cadence": "monthly", "venue": "三楼会议室"}],
        "budget": [{"category": "venue", "description": "会议室租金", "amount": 300}],
    }
    page = templates.get_template("_plan.html").render(
        _=gettext_for("zh_CN"), plan_context={"document": plan, "period": "2026-12"}, names={}
    )
    sessions = re.search(r'data-testid="plan-sessions">(.*?)</table>', page, re.S)
    budget = re.search(r'data-testid="plan-budget">(.*?)</table>', page, re.S)
    assert sessions is not None and budget is not None, page[:500]
    assert '<th scope="col">地点</th>' in sessions.group(1) and "每月" in sessions.group(1)
    assert "<td>场地</td>" in budget.group(1) and "地点" not in budget.group(1)


def test_a_complaint_task_names_its_first_responder_once(app: object) -> None:
    # The header and the case facts both said 首问责任人 with the same person.
    staff = logged_in(app, "zhangmin")
    page = staff.get(f"/tasks/{complaint_of('王先生')}").text
    assert page.count("首问责任人") == 1


def test_only_a_complaint_names_a_first_responder_other_cases_an_owner(app: object) -> None:
    # 首问负责 is the complaint's rule: a resignation's handover named its supervisor 首问责任人.
    with transaction() as session:
        supervisor = person(session, "zhaolei")
        step = STEPS["resignation.inventory"]
        task_id = step_task(session, step, ProcessKind.RESIGNATION, supervisor, utcnow()).id
    page = logged_in(app, "zhaolei").get(f"/tasks/{task_id}").text
    assert "流程负责人" in page and "首问责任人" not in page


def _live_answer(client: TestClient) -> httpx.Response:
    """Ask for the live push and return the answer's head without reading on (a stream given
    to the wrong browser would never end, and the test would hang instead of failing)."""
    with client.stream("GET", "/live", follow_redirects=False) as answer:
        return answer


def test_the_live_push_is_behind_the_same_login_as_the_pages(app: object) -> None:
    """Only a logged-in person gets the event stream of unread counts and task changes; a
    browser without a session, with a forged cookie or with a session that has ended is sent to
    log in like on any page, and gets no event."""
    staff = logged_in(app, "zhangmin")
    with staff.stream("GET", "/live", follow_redirects=False) as live:
        assert live.status_code == 200
        assert live.headers["content-type"].startswith("text/event-stream")
        # The first event tells the bell its count, at once.
        assert next(line for line in live.iter_lines() if line) == "event: notices"

    forged = TestClient(app)  # type: ignore[arg-type]
    forged.cookies.set("kefu_session", "forged")
    author_id, author = new_staff("下班的同事")
    ended = logged_in(app, author)
    with transaction() as session:
        revoke_tokens(session, session.get_one(User, author_id))
    for who, client in (
        ("no session", TestClient(app)),  # type: ignore[arg-type]
        ("a forged cookie", forged),
        ("an ended session", ended),
    ):
        answer = _live_answer(client)
        assert answer.status_code == 303, f"{who}: {answer.status_code}"
        assert answer.headers["location"].startswith("/login"), who
        assert "event-stream" not in answer.headers.get("content-type", ""), who


def _html_lang(page: httpx.Response) -> str:
    found = re.search(r'<html lang="([^"]+)"', page.text)
    assert found, page.text[:200]
    return found.group(1)


def test_the_page_language_follows_the_persons_choice(app: object) -> None:
    """`<html lang>` names the language the page is in: English for a person whose language is
    English, Chinese for the others, and the language switch changes both."""
    english_id, english = new_staff("外籍同事")
    with transaction() as session:
        session.get_one(User, english_id).locale = "en"
    inbox = logged_in(app, english).get("/inbox")
    assert _html_lang(inbox) == "en" and "My tasks" in inbox.text

    staff = logged_in(app, "zhangmin")
    inbox = staff.get("/inbox")
    assert _html_lang(inbox) == "zh-CN" and "我的任务" in inbox.text
    switched = staff.post(
        "/locale", data={"csrf_token": csrf_of(staff, "/inbox"), "locale": "en", "next": "/inbox"}
    )
    assert _html_lang(switched) == "en" and "My tasks" in switched.text
