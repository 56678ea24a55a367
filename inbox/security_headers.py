"""Security headers on every response: a content security policy that allows no inline script,
no framing, no MIME sniffing, a same-origin referrer, and HSTS when the product is served on https.
"""

import base64
import hashlib
import re

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

HSTS = "max-age=31536000; includeSubDomains"
# Styles may be inline (the dashboard's charts and Redoc set them); scripts never are. Redoc
# renders in a web worker it starts from a blob.
POLICY = (
    "default-src 'self'; script-src 'self'{script_hashes}; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; worker-src 'self' blob:; object-src 'none'; base-uri 'self'; "
    "form-action 'self'; frame-ancestors 'none'"
)
INLINE_SCRIPT = re.compile(rb"<script>(.*?)</script>", re.DOTALL)


class SecurityHeaders:
    """ASGI middleware adding the security headers; the API docs page (whose only inline script
    is Swagger UI's start-up, written by FastAPI) gets that script allowed by its hash."""

    def __init__(self, app: ASGIApp, docs_url: str, public_base_url: str) -> None:
        self.app = app
        self.docs_url = docs_url
        self.hsts = public_base_url.startswith("https://")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["path"] == self.docs_url:
            await self.app(scope, receive, self._docs_page(send))
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                self._add(MutableHeaders(scope=message), "")
            await send(message)

        await self.app(scope, receive, send_with_headers)

    def _add(self, headers: MutableHeaders, script_hashes: str) -> None:
        headers["Content-Security-Policy"] = POLICY.format(script_hashes=script_hashes)
        headers["X-Frame-Options"] = "DENY"
        headers["X-Content-Type-Options"] = "nosniff"
        headers["Referrer-Policy"] = "same-origin"
        if self.hsts:
            headers["Strict-Transport-Security"] = HSTS

    def _docs_page(self, send: Send) -> Send:
        """Return `send` that holds the (small, single-part) page back to hash its scripts."""
        held: list[Message] = []

        async def send_docs(message: Message) -> None:
            if message["type"] == "http.response.start":
                held.append(message)
                return
            if held:
                hashes = "".join(
                    f" 'sha256-{base64.b64encode(hashlib.sha256(script).digest()).decode()}'"
                    for script in INLINE_SCRIPT.findall(message.get("body", b""))
                )
                self._add(MutableHeaders(scope=held[0]), hashes)
                await send(held.pop())
            await send(message)

        return send_docs
