"""Prefect calls made while a person waits for a page: answered in bounded time, finished later.

An overloaded Prefect server answers 503 and its client backs off for a minute or more. What the
person did is already stored by then (a decision, a new process), so their page answers after
`PERSON_WAITS_SECONDS` and the call goes on in the background; the sweep takes over whatever
the background could not finish.
"""

import contextvars
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as StillUnderWay
from typing import TypeVar

T = TypeVar("T")
logger = logging.getLogger(__name__)

PERSON_WAITS_SECONDS = 20.0
# As many at once as the web server runs requests: one slow call must not queue the others.
_background = ThreadPoolExecutor(max_workers=40, thread_name_prefix="for-person")


def within_person_wait(call: Callable[[], T], what: str) -> T | None:
    """Return `call()` if it ends within `PERSON_WAITS_SECONDS`, else None while it goes on."""
    context = contextvars.copy_context()  # the request's Prefect settings go with it
    pending = _background.submit(context.run, call)
    try:
        return pending.result(timeout=PERSON_WAITS_SECONDS)
    except StillUnderWay:
        logger.warning("%s still under way; the person was answered", what)
        return None
