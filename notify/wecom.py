"""Send WeCom (企业微信) app messages to a person and group-robot messages, checking errcode.

We call the HTTP API directly rather than through Apprise: Apprise's `wecombot://` reports success
when WeCom answers HTTP 200 with an error code and counts characters where WeCom counts bytes, and
its `wechat://` has the API host built in, so neither can be pointed at a local test server. Here
the base URL is a setting, every answer's errcode is checked, and a timeout after the request was
sent is reported as uncertain (the message may have arrived), never as a plain failure.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx

from notify.errors import DeliveryError, DeliveryUncertain
from notify.redaction import HTTP_LOGGERS, redact, redacted_logs

# WeCom's limits, in UTF-8 bytes of the content.
BOT_TEXT_LIMIT_BYTES = 2048
BOT_MARKDOWN_LIMIT_BYTES = 4096
APP_MARKDOWN_LIMIT_BYTES = 2048

ERRCODE_OK = 0
RATE_LIMITED = 45009
# The access token is missing, invalid or expired: fetch a new one on the next attempt.
TOKEN_ERRCODES = frozenset({40014, 41001, 42001})
# Renew the token this long before WeCom says it expires, so a send never races its expiry.
TOKEN_RENEW_MARGIN = timedelta(minutes=5)
MAX_ERRMSG_CHARS = 200

TOKEN_PATH = "/cgi-bin/gettoken"
APP_SEND_PATH = "/cgi-bin/message/send"
BOT_SEND_PATH = "/cgi-bin/webhook/send"


class WeComError(DeliveryError):
    """WeCom refused the message with a non-zero errcode."""

    def __init__(self, errcode: int, errmsg: str) -> None:
        super().__init__(f"WeCom errcode {errcode}: {errmsg[:MAX_ERRMSG_CHARS]}")
        self.errcode = errcode


def clip_utf8(text: str, limit: int, suffix: str = "") -> str:
    """Return `text` cut to `limit` UTF-8 bytes with `suffix` appended, whole characters only."""
    encoded = text.encode("utf-8")
    if len(encoded) <= limit:
        return text
    tail = suffix.encode("utf-8")[:limit].decode("utf-8", errors="ignore")
    room = limit - len(tail.encode("utf-8"))
    # Decoding with "ignore" drops a multibyte character cut in half rather than garbling it.
    return encoded[:room].decode("utf-8", errors="ignore") + tail


@dataclass
class WeComClient:
    """One sender's connection to WeCom: an HTTP client and the app's cached access token."""

    http: httpx.Client
    base_url: str
    clock: Callable[[], datetime]
    _tokens: dict[tuple[str, int], tuple[str, datetime]] = field(default_factory=dict)

    def _url(self, path: str) -> str:
        return f"{self.base_url.rstrip('/')}{path}"

    def _call(
        self, method: str, path: str, secrets: Sequence[str], **kwargs: Any
    ) -> dict[str, Any]:
        try:
            with redacted_logs(HTTP_LOGGERS, secrets):
                response = self.http.request(method, self._url(path), **kwargs)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as error:
            # Nothing reached WeCom: safe to try again.
            raise DeliveryError(redact(f"WeCom unreachable: {error}", secrets)) from None
        except httpx.TransportError as error:
            raise DeliveryUncertain(
                redact(f"no answer from WeCom after sending ({type(error).__name__})", secrets)
            ) from None
        if response.status_code != httpx.codes.OK:
            raise DeliveryError(f"WeCom answered HTTP {response.status_code}")
        try:
            answer = response.json()
        except ValueError:
            raise DeliveryError("WeCom answered with something other than JSON") from None
        if not isinstance(answer, dict):
            raise DeliveryError("WeCom answered with something other than a JSON object")
        errcode = int(answer.get("errcode", ERRCODE_OK))
        if errcode != ERRCODE_OK:
            raise WeComError(errcode, redact(str(answer.get("errmsg", "")), secrets))
        return answer

    def _token(self, corp_id: str, agent_id: int, secret: str) -> str:
        cached = self._tokens.get((corp_id, agent_id))
        if cached is not None and self.clock() < cached[1]:
            return cached[0]
        answer = self._call(
            "GET", TOKEN_PATH, [secret], params={"corpid": corp_id, "corpsecret": secret}
        )
        token = str(answer.get("access_token", ""))
        if not token:
            raise DeliveryError("WeCom gave no access token")
        lifetime = timedelta(seconds=int(answer.get("expires_in", 0))) - TOKEN_RENEW_MARGIN
        self._tokens[(corp_id, agent_id)] = (token, self.clock() + lifetime)
        return token

    def send_app_markdown(
        self, *, corp_id: str, agent_id: int, secret: str, userid: str, content: str
    ) -> None:
        """Send markdown to one person through the corp's app; raise DeliveryError if refused."""
        token = self._token(corp_id, agent_id, secret)
        body = {
            "touser": userid,
            "msgtype": "markdown",
            "agentid": agent_id,
            "markdown": {"content": content},
        }
        try:
            answer = self._call(
                "POST", APP_SEND_PATH, [secret, token], params={"access_token": token}, json=body
            )
        except WeComError as error:
            if error.errcode in TOKEN_ERRCODES:
                self._tokens.pop((corp_id, agent_id), None)
            raise
        if answer.get("invaliduser"):
            raise DeliveryError(f"WeCom does not know the user {userid!r}")

    def send_bot_markdown(self, *, key: str, content: str) -> None:
        """Post markdown to a group robot; raise DeliveryError if WeCom refused it."""
        body = {"msgtype": "markdown", "markdown": {"content": content}}
        self._call("POST", BOT_SEND_PATH, [key], params={"key": key}, json=body)
