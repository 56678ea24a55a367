"""Secrets for the senders, read at send time from the environment or a Prefect Secret block.

Tables hold only names (a group bot's name), never a key; nothing here is logged.
"""

import os
import re

from config import Settings
from notify.errors import DeliveryError

BOT_KEY_ENV_PREFIX = "KEFU_WECOM_BOT_"
# A bot's name becomes part of an environment variable name.
BOT_NAME_PATTERN = re.compile(r"^[A-Z][A-Z0-9_]{0,63}$")


def bot_key_variable(bot_name: str) -> str:
    """Return the environment variable that holds the key of group bot `bot_name`."""
    if not BOT_NAME_PATTERN.match(bot_name):
        raise DeliveryError(f"group bot name {bot_name!r} must be A-Z, 0-9 and _ (upper case)")
    return f"{BOT_KEY_ENV_PREFIX}{bot_name}"


def bot_key(bot_name: str) -> str:
    """Return the webhook key of group bot `bot_name`; raise DeliveryError if it is not set."""
    variable = bot_key_variable(bot_name)
    key = os.environ.get(variable, "").strip()
    if not key:
        raise DeliveryError(f"no key for group bot {bot_name}: set {variable}")
    return key


def corp_secret(settings: Settings) -> str:
    """Return the WeCom app's corp secret from the environment or its Prefect Secret block."""
    if settings.wecom_corp_secret is not None:
        return settings.wecom_corp_secret.get_secret_value()
    if settings.wecom_corp_secret_block:
        # Imported here: Prefect is slow to import and only this configuration needs it.
        from prefect.blocks.system import Secret

        value = Secret.load(settings.wecom_corp_secret_block).get()  # type: ignore[union-attr]
        return str(value)
    raise DeliveryError(
        "no WeCom corp secret: set KEFU_WECOM_CORP_SECRET or KEFU_WECOM_CORP_SECRET_BLOCK"
    )
