"""Settings for every process of kefu-flow, read from KEFU_* environment variables."""

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent
TEMPLATES_DIR = PROJECT_ROOT / "templates"
# A time of day, "HH:MM".
CLOCK_PATTERN = r"^([01]\d|2[0-3]):[0-5]\d$"
# Public, so only for development and tests; production refuses it.
DEVELOPMENT_SECRET_KEY = "kefu-flow-development-secret-key"
# The demo organisation's login, printed by `make up` and in the README; production refuses it.
DEMO_PASSWORD = "kefu-demo-2026"


class Settings(BaseSettings):
    """Everything a kefu-flow process needs to know about its surroundings."""

    # "off" in the environment unsets an optional setting (KEFU_NOTIFY_MERGE_WINDOW_SECONDS=off).
    model_config = SettingsConfigDict(
        env_prefix="KEFU_", env_file=".env", extra="ignore", env_parse_none_str="off"
    )

    environment: Literal["development", "test", "production"] = "development"
    data_dir: Path = PROJECT_ROOT / "data"
    database_url: str = ""
    public_base_url: str = "http://127.0.0.1:8000"
    default_locale: Literal["zh_CN", "en"] = "zh_CN"
    default_timezone: str = "Asia/Shanghai"

    api_token_hours: int = Field(default=12, ge=1)
    # A form posted after its session ended waits this long for the person to log in again.
    form_draft_hours: int = Field(default=24, ge=1)
    # Flow-run processes the local runner (`make up`) runs at once; more runs wait, scheduled, for
    # a free slot. Each is a Python process that imports Prefect and the flows (~2 s of CPU,
    # ~113 MiB): six keep two cores busy without thrashing, leave room for the minute sweep,
    # outbox sender and watchdog beside people's runs, and cap the runs at ~700 MiB.
    runner_process_limit: int = Field(default=6, ge=1)
    # Flow-run processes fork from a server that has imported Prefect and the flows once, rather
    # than each importing them again (see launch/runner.py).
    runner_warm_starts: bool = True
    # A completion whose resume failed is retried by the sweep after this many seconds, so the
    # sweep never races the inbox's own immediate resume.
    resume_retry_after_seconds: int = Field(default=30, ge=0)
    # The watchdog starts a flow run over once it has been starting, late or running this long
    # (see domain/watchdog.py); a person's step is paused, so it never counts.
    watchdog_stuck_after_seconds: int = Field(default=15 * 60, ge=30)

    # Outgoing mail. The URL carries the SMTP password, so it is a secret and never logged.
    smtp_url: SecretStr | None = None
    mail_from: str = "kefu-flow <kefu@localhost>"
    outbox_max_attempts: int = Field(default=5, ge=1)
    # A message left "sending" longer than this ended in an unknown state (the process died
    # mid-send); it is not re-sent blindly.
    outbox_sending_lease_seconds: int = Field(default=300, ge=10)

    # Signs the deep links in notifications (and anything else that needs signing). The default
    # is public, so it is refused outside development and test.
    secret_key: SecretStr = SecretStr(DEVELOPMENT_SECRET_KEY)
    task_link_max_age_days: int = Field(default=14, ge=1)

    # WeCom (企业微信). The base URL is a setting so tests can point it at a local server. The
    # corp secret (KEFU_WECOM_CORP_SECRET), a bot's key (KEFU_WECOM_BOT_<NAME>) and the SMTP
    # URL come from the environment or else a Prefect Secret block of the same name in kebab
    # case (notify/secrets.py); tables hold only the bot's name.
    wecom_api_base_url: str = "https://qyapi.weixin.qq.com"
    wecom_corp_id: str | None = None
    wecom_agent_id: int | None = None
    wecom_corp_secret: SecretStr | None = None
    wecom_timeout_seconds: float = Field(default=10.0, gt=0)
    # WeCom allows 20 messages a minute per group bot; the overflow waits for the next minute.
    wecom_bot_messages_per_minute: int = Field(default=20, ge=1)

    # Default quiet hours ("HH:MM", site time) for people without their own, e.g. 22:00 and
    # 07:30; urgent messages ignore them. Off unless set: the 24-hour front desk works nights.
    quiet_hours_start: str | None = Field(default=None, pattern=CLOCK_PATTERN)
    quiet_hours_end: str | None = Field(default=None, pattern=CLOCK_PATTERN)
    # Low-urgency messages to one person are held this many seconds and a burst goes out as one
    # message; "off" sends every message on its own, at once.
    notify_merge_window_seconds: int | None = Field(default=120, ge=0)
    # The daily digest: site time of day, and the working calendar that says which days count.
    # The flow runs every quarter hour; a site's digest goes out on the first run after its
    # digest time, or later within the catch-up window (the service was down) — never at noon.
    digest_time: str = Field(default="08:30", pattern=CLOCK_PATTERN)
    digest_calendar: str = "day_shift"
    digest_catch_up_minutes: int = Field(default=120, ge=15)

    # Onboarding policy for hires registered from now on (a copy of rules/onboarding.yaml, e.g.
    # with `strict: true` or `exam_working_day: 10`); each hire keeps the policy they began with.
    onboarding_policy_file: Path | None = None

    # Files attached to tasks: the largest accepted upload (10 MiB: phone photos and scans fit).
    # An upload's request may be that large (plus its form); any other request body is refused
    # past max_request_bytes before it is read (the largest form or JSON body is a few KiB).
    attachment_max_bytes: int = Field(default=10 * 1024 * 1024, ge=1)
    max_request_bytes: int = Field(default=1024 * 1024, ge=1024)

    @property
    def attachments_dir(self) -> Path:
        """Return the folder that holds attachment files, named by storage key."""
        return self.data_dir / "attachments"

    @model_validator(mode="after")
    def _refuse_default_secret_key(self) -> "Settings":
        if (
            self.environment not in ("development", "test")
            and self.secret_key.get_secret_value() == DEVELOPMENT_SECRET_KEY
        ):
            raise ValueError("set KEFU_SECRET_KEY: the default secret key is public")
        return self

    @model_validator(mode="after")
    def _default_database(self) -> "Settings":
        if not self.database_url:
            self.database_url = f"sqlite:///{self.data_dir / 'kefu.db'}"
        return self


@lru_cache
def get_settings() -> Settings:
    """Return the process-wide settings, read once from the environment."""
    return Settings()
