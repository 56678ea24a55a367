"""Secrets for the senders, read at send time: an environment variable, or else the Prefect
Secret block of the same name in kebab case (KEFU_WECOM_BOT_HY01 → `kefu-wecom-bot-hy01`).

Tables hold only names (a group bot's name), never a key; nothing here is logged.
"""

import os
import re

import httpx
from prefect.exceptions import PrefectHTTPStatusError

from config import Settings
from notify.errors import DeliveryError

BOT_KEY_ENV_PREFIX = "KEFU_WECOM_BOT_"
SMTP_URL_VARIABLE = "KEFU_SMTP_URL"
CORP_SECRET_VARIABLE = "KEFU_WECOM_CORP_SECRET"
# A bot's name becomes part of an environment variable name.
BOT_NAME_PATTERN = re.compile(r"^[A-Z][A-Z0-9_]{0,63}$")


def secret_block_name(variable: str) -> str:
    """Return the Prefect Secret block that may hold the secret of environment `variable`."""
    return variable.lower().replace("_", "-")


def _from_secret_block(variable: str) -> str | None:
    # Imported here: Prefect is slow to import and only this fallback needs the blocks.
    from prefect.blocks.system import Secret

    try:
        value = Secret.load(secret_block_name(variable)).get()  # type: ignore[union-attr]
    except ValueError:  # no such block
        return None
    return str(value).strip() or None


def _required(variable: str, value: str | None, what: str) -> str:
    """Return `value` (read from the environment), else the Secret block's; refuse if neither."""
    if value and value.strip():
        return value.strip()
    unreachable = ""
    try:
        found = _from_secret_block(variable)
    except (httpx.HTTPError, PrefectHTTPStatusError) as exc:
        found, unreachable = None, f" (Prefect unreachable: {type(exc).__name__})"
    if found is None:
        raise DeliveryError(
            f"no {what}: set {variable} or the Prefect Secret block "
            f"{secret_block_name(variable)}{unreachable}"
        )
    return found


def bot_key_variable(bot_name: str) -> str:
    """Return the environment variable that holds the key of group bot `bot_name`."""
    if not BOT_NAME_PATTERN.match(bot_name):
        raise DeliveryError(f"group bot name {bot_name!r} must be A-Z, 0-9 and _ (upper case)")
    return f"{BOT_KEY_ENV_PREFIX}{bot_name}"


def bot_key(bot_name: str) -> str:
    """Return the webhook key of group bot `bot_name`; raise DeliveryError if it is not set."""
    variable = bot_key_variable(bot_name)
    return _required(variable, os.environ.get(variable), f"key for group bot {bot_name}")


def corp_secret(settings: Settings) -> str:
    """Return the WeCom app's corp secret (from the settings' environment or its Secret block)."""
    configured = settings.wecom_corp_secret
    value = configured.get_secret_value() if configured else None
    return _required(CORP_SECRET_VARIABLE, value, "WeCom corp secret")


def smtp_url(settings: Settings) -> str:
    """Return the Apprise mail URL, password included (the settings' or its Secret block's)."""
    configured = settings.smtp_url
    value = configured.get_secret_value() if configured else None
    return _required(SMTP_URL_VARIABLE, value, "SMTP server")
