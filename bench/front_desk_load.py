"""The front-desk day as locust users, and the driver that runs them for `bench.load`.

`python -m bench.front_desk_load --host URL --accounts FILE --out FILE [...]` runs locust as a
library (Environment + LocalRunner) in a process of its own, then writes the figures as JSON.
It is a process of its own because importing locust monkeypatches the standard library for
gevent: the product (SQLAlchemy, Prefect, threads) must never run under that patch, and the load
generator must not share an interpreter, and so a GIL, with the stack it measures.

Front-desk staff file complaints, list their tasks and their role's queue, open and complete the
steps they hold (first response, resolution, return visit) with valid decisions, and comment.
Engineering staff take dispatched work from their queue (claim), complete it and comment. The
REST API has no comment route, so comments go through the web form (session cookie and CSRF
token), as the inbox page posts them.
"""

import argparse
import functools
import itertools
import json
import random
import re
import resource
import sys
import time
import urllib.parse
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

# locust first: importing it monkeypatches sockets, threads and ssl for gevent.
import gevent
from locust import FastHttpUser, between, task
from locust.contrib.fasthttp import ResponseContextManager
from locust.env import Environment

API = "/api/v1"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
# How often something other than a request happened: lost claim races, completions answered
# before the flow took the decision, a turn with nothing to do. Written out with the stats.
OUTCOMES: Counter[str] = Counter()
CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')
CSRF_HEADER = re.compile(r'"X-CSRF-Token": "([^"]+)"')
# The accounts `bench.load` created; each simulated person logs in as one of them, in turn.
ACCOUNTS: dict[str, Any] = {"password": "", "front_desk": [], "engineering": []}
_taken: dict[str, "itertools.count[int]"] = {
    "front_desk": itertools.count(),
    "engineering": itertools.count(),
}
CATEGORIES = ("complaint", "repair", "noise", "parking", "environment", "security", "other")
CHANNELS = ("phone", "front_desk", "wechat", "walk_in")


def duty(weight: int) -> Callable[[Callable[[Any], None]], Callable[[Any], None]]:
    """Mark a task of the day (locust's @task), done once the person is logged in."""

    def wrap(action: Callable[[Any], None]) -> Callable[[Any], None]:
        @functools.wraps(action)
        def when_logged_in(user: Any) -> None:
            if user.logged_in():
                action(user)

        return task(weight)(when_logged_in)

    return wrap


class Staff(FastHttpUser):
    """A person at the REST API (bearer token) and at the web inbox (session cookie).

    FastHttpUser rather than HttpUser: its client costs a fraction of the CPU per request, and
    on two cores the generator competes with the stack it measures.
    """

    abstract = True
    kind = ""  # which list of ACCOUNTS this person logs in from
    wait_time = between(3, 12)  # replaced by the driver's --think
    network_timeout = 120.0  # a completion may wait ~20 s for Prefect; never cut it short

    def on_start(self) -> None:
        """Log in once at the API and once in the browser, as staff do at the start of a shift."""
        names: list[str] = ACCOUNTS[self.kind]
        self.username = names[next(_taken[self.kind]) % len(names)]
        self.mine: list[dict[str, Any]] = []
        self.token = ""
        self.csrf = ""
        self.logged_in()

    def logged_in(self) -> bool:
        """Log in where not yet logged in; a login that failed under load is tried next turn."""
        if not self.token and not self._log_in_api():
            return False
        return bool(self.csrf) or self._log_in_web()

    def _log_in_api(self) -> bool:
        form = {"username": self.username, "password": ACCOUNTS["password"]}
        with self.client.post(f"{API}/auth/token", data=urllib.parse.urlencode(form),
                              headers=FORM, name="POST /auth/token",
                              catch_response=True) as response:  # fmt: skip
            body = _json_if(response, 200)
            if body is None:
                return False
            self.token = body["access_token"]
        return True

    def _log_in_web(self) -> bool:
        with self.client.get("/login", name="GET /login (web)", catch_response=True) as response:
            found = CSRF_FIELD.search(response.text or "") if response.status_code == 200 else None
            if found is None:
                response.failure(f"login page {response.status_code} without a CSRF token")
                return False
        form = {"username": self.username, "password": ACCOUNTS["password"],
                "csrf_token": found.group(1), "next": "/inbox"}  # fmt: skip
        with self.client.post("/login", data=urllib.parse.urlencode(form), headers=FORM,
                              name="POST /login (web)", allow_redirects=False,
                              catch_response=True) as response:  # fmt: skip
            if response.status_code != 303:
                response.failure(f"web login answered {response.status_code}")
                return False
        # A fresh session gets a fresh CSRF token: the page the login lands on carries it.
        with self.client.get("/inbox", name="GET /inbox (web)", catch_response=True) as response:
            found = CSRF_HEADER.search(response.text or "") if response.status_code == 200 else None
            if found is None:
                response.failure(f"inbox page {response.status_code} without a CSRF token")
                return False
            self.csrf = found.group(1)
        return True

    def api(self, method: str, path: str, name: str, **kwargs: Any) -> ResponseContextManager:
        """Call the REST API as this person; `name` groups the stats by route."""
        headers = {"Authorization": f"Bearer {self.token}", "Accept-Language": "zh-CN"}
        return self.client.request(method, f"{API}{path}", name=name, headers=headers,
                                   catch_response=True, **kwargs)  # fmt: skip

    def list_tasks(self, scope: str) -> list[dict[str, Any]]:
        """List my tasks or my role's queue; remember my own for the next comment."""
        name = f"GET /tasks?scope={scope}"
        with self.api("GET", f"/tasks?scope={scope}", name) as response:
            tasks = _json_if(response, 200)
        if tasks is None:
            return []
        if scope == "mine":
            self.mine = tasks
        return tasks

    def open_and_complete(self, steps: dict[str, Any]) -> None:
        """Open one of my tasks whose step is in `steps` and submit that step's decision."""
        held = [t for t in self.list_tasks("mine") if t["step"] in steps]
        if not held:
            OUTCOMES["turn without a task to complete"] += 1
            return
        chosen = random.choice(held)
        with self.api("GET", f"/tasks/{chosen['id']}", "GET /tasks/{id}") as response:
            if _json_if(response, 200) is None:
                return
        decision = steps[chosen["step"]]()
        path = f"/tasks/{chosen['id']}/complete"
        with self.api("POST", path, "POST /tasks/{id}/complete", json=decision) as response:
            completion = _json_if(response, 200)
        if completion is not None and not completion["resumed"]:
            # The decision is stored; the flow takes it later (background or sweep).
            OUTCOMES["completion answered before its flow took it"] += 1

    def comment(self) -> None:
        """Add a note to one of my tasks through the web form, as the task page posts it."""
        if not self.mine:
            OUTCOMES["turn without a task to comment on"] += 1
            return
        chosen = random.choice(self.mine)
        form = urllib.parse.urlencode({"body": f"已电话联系住户 {time.strftime('%H:%M')}"})
        headers = {**FORM, "X-CSRF-Token": self.csrf}
        with self.client.post(f"/tasks/{chosen['id']}/comments", data=form, headers=headers,
                              name="POST /tasks/{id}/comments (web)", allow_redirects=False,
                              catch_response=True) as response:  # fmt: skip
            if response.status_code != 303:
                response.failure(f"comment answered {response.status_code}")


class FrontDesk(Staff):
    """前台: records complaints and carries each one she owns to its close."""

    kind = "front_desk"
    weight = 4  # overridden by the driver's fixed count of engineers: the rest are front desk

    @duty(6)
    def my_tasks(self) -> None:
        self.list_tasks("mine")

    @duty(2)
    def role_queue(self) -> None:
        self.list_tasks("queue")

    @duty(4)
    def work_a_task(self) -> None:
        self.open_and_complete(FRONT_DESK_DECISIONS)

    @duty(2)
    def comment_on_a_task(self) -> None:
        self.comment()

    @duty(1)
    def file_a_complaint(self) -> None:
        with self.api("POST", "/complaints", "POST /complaints", json=intake()) as response:
            _json_if(response, 201)


class Engineer(Staff):
    """工程维修: takes dispatched work from the engineering queue and reports it done."""

    kind = "engineering"
    fixed_count = 1  # set by the driver

    @duty(4)
    def role_queue(self) -> None:
        self.list_tasks("queue")

    @duty(3)
    def claim_from_queue(self) -> None:
        queued = self.list_tasks("queue")
        if not queued:
            OUTCOMES["turn without a queued task to claim"] += 1
            return
        chosen = random.choice(queued)
        path = f"/tasks/{chosen['id']}/claim"
        with self.api("POST", path, "POST /tasks/{id}/claim") as response:
            if response.status_code == 409:
                # A colleague claimed it between the list and the click: the product's answer.
                response.success()
                OUTCOMES["claim lost to a colleague (409)"] += 1
            elif response.status_code == 404:
                # Also a colleague first, most likely (a claimed task leaves my view), but the
                # API promises 409 for that: counted as an error, and said what it likely is.
                response.failure("404 for a task my queue listed moments ago (claimed first?)")
            else:
                _json_if(response, 200)

    @duty(4)
    def work_a_task(self) -> None:
        self.open_and_complete(ENGINEER_DECISIONS)

    @duty(2)
    def my_tasks(self) -> None:
        self.list_tasks("mine")

    @duty(2)
    def comment_on_a_task(self) -> None:
        self.comment()


def intake() -> dict[str, str]:
    """Return a valid complaint intake for a unit of its own."""
    return {
        "resident_name": random.choice(("王先生", "李女士", "陈阿姨", "赵先生")),
        "unit": f"{random.randint(1, 12)}-{random.randint(1, 3)}-{uuid.uuid4().hex[:4]}",
        "contact_phone": f"138{random.randint(0, 99_999_999):08d}",
        "channel": random.choice(CHANNELS),
        "category": random.choice(CATEGORIES),
        "urgency": "urgent" if random.random() < 0.2 else "general",
        "description": "住户来电反映问题，请跟进",
    }


def _resolution() -> dict[str, Any]:
    # Three in ten go to engineering, so that its queue has work to claim.
    if random.random() < 0.3:
        return {"outcome": "dispatch", "summary": "派工程维修", "department": "engineering"}
    return {"outcome": "resolved", "summary": "已现场处理"}


def _return_visit() -> dict[str, Any]:
    # One in ten rates it poorly, which reopens the case: the product's loop, exercised.
    return {"satisfaction": 2 if random.random() < 0.1 else random.choice((4, 5)), "comment": ""}


FRONT_DESK_DECISIONS = {
    "complaint.first-response": lambda: {"response_note": "已联系住户，约定上门时间"},
    "complaint.resolution": _resolution,
    "complaint.return-visit": _return_visit,
}
ENGINEER_DECISIONS = {"complaint.department-work": lambda: {"work_done": "已更换损坏部件"}}


def _json_if(response: ResponseContextManager, status: int) -> Any:
    """Return the JSON body of a response with `status`, else mark it failed and return None."""
    if response.status_code != status:
        text = (response.text or "")[:200] if response.status_code else str(response.error)
        if not response.status_code and "connection closed" in text:
            # uvicorn drops a connection after a request that raised (its 500 already sent);
            # the next request on it fails so, without reaching the server.
            text += " (the connection a 500 left behind?)"
        response.failure(f"{response.status_code}: {text}")
        return None
    try:
        return response.json()
    except ValueError:
        response.failure("not JSON")
        return None


def figures(environment: Environment, full_from: float, ended: float) -> dict[str, Any]:
    """Return per-route and total figures of a finished run.

    Counts, failures and percentiles (ms) cover the whole run, logins during the ramp included;
    requests per second cover only the time at full strength (from `full_from`, epoch seconds).
    """
    window = range(int(full_from), int(ended))

    def entry(stats: Any) -> dict[str, Any]:
        count = stats.num_requests
        at_full_strength = sum(stats.num_reqs_per_sec.get(second, 0) for second in window)
        return {
            "requests": count,
            "failures": stats.num_failures,
            "per_second": at_full_strength / max(1, len(window)),
            "p50_ms": stats.get_response_time_percentile(0.5) if count else None,
            "p95_ms": stats.get_response_time_percentile(0.95) if count else None,
            "max_ms": stats.max_response_time if count else None,
        }

    stats = environment.stats
    return {
        "seconds": ended - (stats.start_time or full_from),
        "full_strength_seconds": len(window),
        "routes": {name: entry(e) for (name, _method), e in sorted(stats.entries.items())},
        "total": entry(stats.total),
        "errors": [
            {"route": e.name, "error": str(e.error), "count": e.occurrences}
            for e in sorted(stats.errors.values(), key=lambda e: -e.occurrences)
        ],
        "outcomes": dict(OUTCOMES),
        "generator_cpu_s": time.process_time(),
        "generator_peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main() -> None:
    """Ramp the users up against `--host`, keep them all at it for `--seconds`, write figures."""
    parser = argparse.ArgumentParser(prog="python -m bench.front_desk_load")
    parser.add_argument("--host", required=True)
    parser.add_argument("--accounts", type=Path, required=True, help="JSON written by bench.load")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--engineers", type=int, default=40, help="of --users; the rest front desk")
    parser.add_argument("--spawn-rate", type=float, default=2, help="users starting a second")
    parser.add_argument("--seconds", type=float, default=300, help="at full strength")
    parser.add_argument("--think", default="3,12", help="seconds between a person's actions")
    args = parser.parse_args()
    ACCOUNTS.update(json.loads(args.accounts.read_text(encoding="utf-8")))
    low, high = (float(part) for part in args.think.split(","))
    Staff.wait_time = between(low, high)  # type: ignore[assignment]
    Engineer.fixed_count = args.engineers
    environment = Environment(user_classes=[FrontDesk, Engineer], host=args.host)
    runner = environment.create_local_runner()
    full_from: list[float] = []
    environment.events.spawning_complete.add_listener(
        lambda user_count: full_from.append(time.time())
    )
    runner.start(args.users, spawn_rate=args.spawn_rate)
    # The ramp does not count towards --seconds: the whole team works for that long.
    gevent.spawn_later(args.users / args.spawn_rate + args.seconds, runner.quit)
    runner.greenlet.join()
    result = figures(environment, full_from[0] if full_from else time.time(), time.time())
    args.out.write_text(json.dumps(result, ensure_ascii=False, indent=1), encoding="utf-8")
    sys.exit(0)


if __name__ == "__main__":
    main()
