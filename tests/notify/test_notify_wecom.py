"""WeCom person and group-bot messages against a local server that answers like WeCom's API."""

import logging
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from config import Settings
from db.models import DeliveryState, GroupBot, NotificationPreference, OutboxMessage, User
from notify.delivery import DeliveryReport, deliver_due
from notify.outbox import enqueue, group_bots_for
from notify.wecom import BOT_MARKDOWN_LIMIT_BYTES, clip_utf8
from tests.notify.wecom_peer import APP_SEND_PATH, BOT_SEND_PATH, TOKEN_PATH, WeComPeer

AddUser = Callable[..., User]
Make = Callable[..., Settings]

T0 = datetime(2025, 11, 24, 6, 30, tzinfo=UTC)  # 14:30 in Beijing, outside quiet hours
CORP_SECRET = "corp-secret-Zx9"
BOT_KEY = "bot-key-693a91f6"
ASSIGNED = {
    "step_title": "经理审批",
    "process_subject": "3栋1201 漏水投诉",
    "due_at": datetime(2025, 11, 24, 10, 0, tzinfo=UTC),
}
REOPENED = {
    "process_subject": "漏水投诉",
    "unit": "3栋1201",
    "reason": "仍在渗水",
    "reopen_count": 1,
}


@pytest.fixture
def wecom_settings(make_settings: Make, wecom: WeComPeer) -> Settings:
    return make_settings(
        wecom_api_base_url=wecom.url,
        wecom_corp_id="ww-corp",
        wecom_agent_id=1000002,
        wecom_corp_secret=CORP_SECRET,
    )


@pytest.fixture
def bot_key(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("KEFU_WECOM_BOT_HY01_KEFU", BOT_KEY)
    return BOT_KEY


def add_wecom_users(
    session_factory: sessionmaker[Session], site_id: int, add_user: AddUser, count: int = 1
) -> list[int]:
    """Add people reachable on WeCom only; return their ids."""
    with session_factory.begin() as session:
        ids = []
        for n in range(count):
            user = add_user(session, site_id, f"wx{n}", email=None, display_name="李娜")
            session.add(NotificationPreference(user_id=user.id, wecom_userid=f"LiNa{n}"))
            ids.append(user.id)
        return ids


def queue_to(
    session_factory: sessionmaker[Session],
    user_ids: list[int],
    settings: Settings,
    *,
    event: str = "task_assigned",
    context: dict[str, object] | None = None,
    key: str = "run-1:approval.1",
    process_id: str | None = None,
) -> None:
    with session_factory.begin() as session:
        users = [session.get_one(User, uid) for uid in user_ids]
        enqueue(
            session,
            event=event,
            recipients=users,
            context=context or ASSIGNED,
            dedup_key=key,
            now=T0,
            settings=settings,
            process_id=process_id,
        )


def rows(session_factory: sessionmaker[Session]) -> list[OutboxMessage]:
    with session_factory() as session:
        return list(session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def add_bot(session_factory: sessionmaker[Session], site_id: int) -> None:
    with session_factory.begin() as session:
        session.add(
            GroupBot(
                name="HY01_KEFU",
                label="华苑客服群",
                site_id=site_id,
                events=["complaint_reopened"],
            )
        )


def queue_to_bot(
    session_factory: sessionmaker[Session],
    site_id: int,
    settings: Settings,
    count: int,
    context: dict[str, object] | None = None,
) -> None:
    """Queue `count` complaint_reopened notices that only the site's group bot receives."""
    from db.models import Process, ProcessKind

    with session_factory.begin() as session:
        starter = session.scalars(select(User)).first()
        if starter is None:
            starter = User(username="starter", display_name="x", password_hash="!", site_id=site_id)
            session.add(starter)
            session.flush()
        for n in range(count):
            process = Process(
                kind=ProcessKind.COMPLAINT,
                site_id=site_id,
                subject=f"投诉{n}",
                started_by_id=starter.id,
            )
            session.add(process)
            session.flush()
            enqueue(
                session,
                event="complaint_reopened",
                recipients=[],
                context=context or REOPENED,
                dedup_key=f"{process.id}:reopened",
                process_id=process.id,
                now=T0,
                settings=settings,
            )


def test_person_message_goes_through_the_corp_app(
    session_factory: sessionmaker[Session],
    site_id: int,
    add_user: AddUser,
    wecom: WeComPeer,
    wecom_settings: Settings,
    caplog: pytest.LogCaptureFixture,
) -> None:
    [lina] = add_wecom_users(session_factory, site_id, add_user)
    queue_to(session_factory, [lina], wecom_settings)
    caplog.set_level(logging.DEBUG)

    report = deliver_due(T0, session_factory=session_factory, settings=wecom_settings)

    assert report == DeliveryReport(sent=1)
    [token_request] = [r for r in wecom.received if r.path == TOKEN_PATH]
    assert token_request.query == {"corpid": "ww-corp", "corpsecret": CORP_SECRET}
    [sent] = wecom.messages(APP_SEND_PATH)
    assert sent.query == {"access_token": "token-1"}
    assert sent.body["touser"] == "LiNa0"
    assert sent.body["agentid"] == 1000002
    assert sent.body["msgtype"] == "markdown"
    [row] = rows(session_factory)
    assert row.channel == "wecom" and row.state == DeliveryState.SENT
    assert row.link_url is None  # no task: no link
    assert sent.content.startswith("**【待办】经理审批**")
    # The corp secret and the access token travel in URLs; the HTTP client's logs are masked.
    assert "HTTP Request" in caplog.text
    assert CORP_SECRET not in caplog.text and "token-1" not in caplog.text


def test_group_bots_are_chosen_by_site_team_and_event(
    session_factory: sessionmaker[Session], site_id: int
) -> None:
    with session_factory.begin() as session:
        session.add_all(
            [
                GroupBot(name="SITE", label="全体", site_id=site_id, events=["task_assigned"]),
                GroupBot(
                    name="ENG",
                    label="工程",
                    site_id=site_id,
                    role="engineering",
                    events=["task_assigned"],
                ),  # fmt: skip
                GroupBot(
                    name="QUIET",
                    label="停用",
                    site_id=site_id,
                    events=["task_assigned"],
                    active=False,
                ),  # fmt: skip
                GroupBot(name="OTHER", label="其他", site_id=site_id, events=["task_escalated"]),
            ]
        )

    with session_factory() as session:
        for_engineering = group_bots_for(session, "task_assigned", site_id, "engineering")
        for_staff = group_bots_for(session, "task_assigned", site_id, "staff")

    assert [bot.name for bot in for_engineering] == ["ENG", "SITE"]
    assert [bot.name for bot in for_staff] == ["SITE"]


@pytest.mark.parametrize(
    ("errcode", "errmsg"),
    [(45009, "api freq out of limit"), (40014, "invalid access_token")],
)
def test_http_200_with_an_errcode_is_a_failure_and_is_retried(
    session_factory: sessionmaker[Session],
    site_id: int,
    add_user: AddUser,
    wecom: WeComPeer,
    wecom_settings: Settings,
    errcode: int,
    errmsg: str,
) -> None:
    [lina] = add_wecom_users(session_factory, site_id, add_user)
    queue_to(session_factory, [lina], wecom_settings)
    wecom.answer_next(APP_SEND_PATH, {"errcode": errcode, "errmsg": errmsg})

    assert deliver_due(T0, session_factory=session_factory, settings=wecom_settings) == (
        DeliveryReport(failed=1)
    )
    [row] = rows(session_factory)
    assert (row.state, row.attempts) == (DeliveryState.FAILED, 1)
    assert row.last_error == f"WeCom errcode {errcode}: {errmsg}"
    assert row.next_attempt_at == T0 + timedelta(seconds=30)

    retry = T0 + timedelta(seconds=30)
    assert deliver_due(retry, session_factory=session_factory, settings=wecom_settings) == (
        DeliveryReport(sent=1)
    )
    [row] = rows(session_factory)
    assert (row.state, row.attempts, row.last_error) == (DeliveryState.SENT, 2, None)
    assert len(wecom.messages(APP_SEND_PATH)) == 2


def test_an_invalid_token_is_dropped_and_the_next_message_fetches_a_new_one(
    session_factory: sessionmaker[Session],
    site_id: int,
    add_user: AddUser,
    wecom: WeComPeer,
    wecom_settings: Settings,
) -> None:
    users = add_wecom_users(session_factory, site_id, add_user, count=3)
    queue_to(session_factory, users, wecom_settings)
    wecom.answer_next(APP_SEND_PATH, {"errcode": 40014, "errmsg": "invalid access_token"})

    report = deliver_due(T0, session_factory=session_factory, settings=wecom_settings)

    assert report == DeliveryReport(sent=2, failed=1)
    assert wecom.tokens_issued == 2
    tokens = [r.query["access_token"] for r in wecom.messages(APP_SEND_PATH)]
    assert tokens == ["token-1", "token-2", "token-2"]


def test_a_timeout_after_sending_is_unknown_and_not_resent(
    session_factory: sessionmaker[Session],
    site_id: int,
    add_user: AddUser,
    wecom: WeComPeer,
    wecom_settings: Settings,
) -> None:
    [lina] = add_wecom_users(session_factory, site_id, add_user)
    queue_to(session_factory, [lina], wecom_settings)
    wecom.stall_next(APP_SEND_PATH)
    settings = wecom_settings.model_copy(update={"wecom_timeout_seconds": 0.3})

    report = deliver_due(T0, session_factory=session_factory, settings=settings)
    wecom.release.set()

    assert report == DeliveryReport(unknown=1)
    [row] = rows(session_factory)
    assert row.state == DeliveryState.UNKNOWN
    assert row.last_error == "no answer from WeCom after sending (ReadTimeout)"
    later = T0 + timedelta(hours=1)
    assert deliver_due(later, session_factory=session_factory, settings=settings) == (
        DeliveryReport()
    )


def test_group_bot_gets_the_sites_events_and_its_errcodes_are_checked(
    session_factory: sessionmaker[Session],
    site_id: int,
    wecom: WeComPeer,
    wecom_settings: Settings,
    bot_key: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    add_bot(session_factory, site_id)
    queue_to_bot(session_factory, site_id, wecom_settings, count=1)
    # Apprise's wecombot:// would call this a success: HTTP 200, but WeCom refused it.
    wecom.answer_next(BOT_SEND_PATH, {"errcode": 45009, "errmsg": "api freq out of limit"})
    caplog.set_level(logging.DEBUG)

    assert deliver_due(T0, session_factory=session_factory, settings=wecom_settings) == (
        DeliveryReport(failed=1)
    )
    [row] = rows(session_factory)
    assert (row.channel, row.bot_name, row.recipient_id) == ("wecom_bot", "HY01_KEFU", None)
    assert row.last_error == "WeCom errcode 45009: api freq out of limit"

    retry = T0 + timedelta(seconds=30)
    assert deliver_due(retry, session_factory=session_factory, settings=wecom_settings) == (
        DeliveryReport(sent=1)
    )
    first, second = wecom.messages(BOT_SEND_PATH)
    assert second.query == {"key": bot_key}
    assert second.content.startswith('**<font color="warning">【重新打开·第 1 次】</font>')
    # The key is only ever in the request to WeCom: not in the table, not in the logs.
    for stored in rows(session_factory):
        assert bot_key not in repr(vars(stored))
    assert bot_key not in caplog.text


def test_a_bot_without_a_key_in_the_environment_fails_visibly(
    session_factory: sessionmaker[Session],
    site_id: int,
    wecom: WeComPeer,
    wecom_settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("KEFU_WECOM_BOT_HY01_KEFU", raising=False)
    add_bot(session_factory, site_id)
    queue_to_bot(session_factory, site_id, wecom_settings, count=1)

    deliver_due(T0, session_factory=session_factory, settings=wecom_settings)

    [row] = rows(session_factory)
    assert row.state == DeliveryState.FAILED
    assert row.last_error is not None
    assert row.last_error.startswith(
        "no key for group bot HY01_KEFU: set KEFU_WECOM_BOT_HY01_KEFU"
        " or the Prefect Secret block kefu-wecom-bot-hy01-kefu"
    )
    assert wecom.messages() == []


def test_a_bot_key_kept_in_a_prefect_secret_block_is_used_and_never_stored(
    session_factory: sessionmaker[Session],
    site_id: int,
    wecom: WeComPeer,
    wecom_settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    stack: object,  # a real Prefect server holds the block
) -> None:
    from prefect.blocks.system import Secret

    monkeypatch.delenv("KEFU_WECOM_BOT_HY01_KEFU", raising=False)
    key = f"block-held-{uuid.uuid4().hex}"
    Secret(value=key).save("kefu-wecom-bot-hy01-kefu", overwrite=True)
    try:
        add_bot(session_factory, site_id)
        queue_to_bot(session_factory, site_id, wecom_settings, count=1)

        report = deliver_due(T0, session_factory=session_factory, settings=wecom_settings)

        assert report == DeliveryReport(sent=1)
        [sent] = wecom.messages(BOT_SEND_PATH)
        assert sent.query == {"key": key}
        for stored in rows(session_factory):
            assert key not in repr(vars(stored))
        assert key not in caplog.text
    finally:
        Secret.delete("kefu-wecom-bot-hy01-kefu")


def test_21_messages_to_one_bot_in_a_minute_send_20_and_defer_1_to_the_next_minute(
    session_factory: sessionmaker[Session],
    site_id: int,
    wecom: WeComPeer,
    wecom_settings: Settings,
    bot_key: str,
) -> None:
    add_bot(session_factory, site_id)
    queue_to_bot(session_factory, site_id, wecom_settings, count=21)
    first = deliver_due(
        T0 + timedelta(seconds=5), session_factory=session_factory, settings=wecom_settings
    )

    assert first == DeliveryReport(sent=20, deferred=1)
    assert len(wecom.messages(BOT_SEND_PATH)) == 20
    [waiting] = [row for row in rows(session_factory) if row.state != DeliveryState.SENT]
    # Deferred, not attempted: it waits for the next minute with no attempt used up.
    assert (waiting.state, waiting.attempts) == (DeliveryState.PENDING, 0)
    assert waiting.next_attempt_at == T0 + timedelta(minutes=1)

    # Still the same minute: nothing more goes out.
    same_minute = T0 + timedelta(seconds=59)
    assert deliver_due(same_minute, session_factory=session_factory, settings=wecom_settings) == (
        DeliveryReport()
    )
    next_minute = T0 + timedelta(minutes=1)
    assert deliver_due(next_minute, session_factory=session_factory, settings=wecom_settings) == (
        DeliveryReport(sent=1)
    )
    assert len(wecom.messages(BOT_SEND_PATH)) == 21
    assert all(row.state == DeliveryState.SENT for row in rows(session_factory))


def test_a_long_chinese_message_is_clipped_by_bytes_and_ends_with_the_task_link(
    session_factory: sessionmaker[Session],
    site_id: int,
    wecom: WeComPeer,
    wecom_settings: Settings,
    bot_key: str,
) -> None:
    add_bot(session_factory, site_id)
    long_reason = "业主反映楼上卫生间持续渗水，天花板大面积发霉。" * 200  # ~14 KB of UTF-8
    queue_to_bot(session_factory, site_id, wecom_settings, 1, {**REOPENED, "reason": long_reason})
    with session_factory.begin() as session:
        row = session.scalars(select(OutboxMessage)).one()
        row.link_url = "https://kefu.example.cn/t/token"

    deliver_due(T0, session_factory=session_factory, settings=wecom_settings)

    [sent] = wecom.messages(BOT_SEND_PATH)
    size = len(sent.content.encode("utf-8"))
    assert BOT_MARKDOWN_LIMIT_BYTES - 3 < size <= BOT_MARKDOWN_LIMIT_BYTES
    assert "\ufffd" not in sent.content
    assert sent.content.endswith("[查看完整任务](https://kefu.example.cn/t/token)")
    assert sent.content.startswith("**<font")


@pytest.mark.parametrize("limit", range(20, 30))
def test_clip_never_splits_a_character(limit: int) -> None:
    text = "漏水" * 20  # 3 bytes a character
    suffix = "…链接"

    clipped = clip_utf8(text, limit, suffix)

    encoded = clipped.encode("utf-8")
    assert len(encoded) <= limit and len(encoded) > limit - 3
    assert clipped.endswith(suffix)
    assert clipped.removesuffix(suffix) == text[: len(clipped) - len(suffix)]


def test_clip_leaves_short_text_alone() -> None:
    assert clip_utf8("漏水", 6, "…") == "漏水"
    assert clip_utf8("漏水了", 6, "") == "漏水"
