"""Keep secrets (SMTP passwords, bot keys, corp secrets, access tokens) out of text and logs."""

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

REDACTED = "****"
# Loggers that print request URLs, which carry a bot key or an access token in the query.
HTTP_LOGGERS = (
    "httpx",
    "httpcore.connection",
    "httpcore.http11",
    "httpcore.http2",
    "httpcore.proxy",
)


def redact(text: str, secrets: Sequence[str]) -> str:
    """Return `text` with every secret replaced by a mask."""
    # Longest first, so a URL is masked whole rather than around its masked password.
    for secret in sorted(secrets, key=len, reverse=True):
        if secret:
            text = text.replace(secret, REDACTED)
    return text


class RedactingFilter(logging.Filter):
    """Mask secrets in a logger's records before any handler sees them."""

    def __init__(self, secrets: Sequence[str]) -> None:
        super().__init__()
        self._secrets = secrets

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact(message, self._secrets)
        if redacted != message:
            record.msg, record.args = redacted, ()
        return True


@contextmanager
def redacted_logs(logger_names: Sequence[str], secrets: Sequence[str]) -> Iterator[None]:
    """Mask `secrets` in the records of the named loggers while the block runs."""
    loggers = [logging.getLogger(name) for name in logger_names]
    redactor = RedactingFilter(secrets)
    for logger in loggers:
        logger.addFilter(redactor)
    try:
        yield
    finally:
        for logger in loggers:
            logger.removeFilter(redactor)
