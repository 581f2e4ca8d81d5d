"""The smoke checks: HTTP requests to the stack on 127.0.0.1, each raising
CheckFailed with the response it got and the services whose logs explain it."""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from stackyard.errors import StackyardError


class CheckFailed(StackyardError):
    def __init__(self, check: str, message: str, services: tuple[str, ...] = ()):
        super().__init__(f"smoke check {check!r} failed: {message}")
        self.check = check
        self.services = services


@dataclass
class Target:
    """Where the checks send requests: 127.0.0.1:port, with the Host header of the env's URL."""

    base: str
    host_header: str | None = None
    insecure: bool = False
    service: str = ""  # the service behind the port: its logs are shown when a check fails

    def request(self, method: str, path: str, body: dict | None = None, timeout: float = 10) -> tuple[int, object]:
        data = None if body is None else json.dumps(body).encode()
        headers = {"content-type": "application/json"}
        if self.host_header:
            headers["host"] = self.host_header
        req = urllib.request.Request(self.base + path, data=data, method=method, headers=headers)
        ctx = ssl.create_default_context()
        if self.insecure:  # the proxy's certificate is from its own internal CA
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        try:
            with urllib.request.urlopen(req, timeout=timeout, context=ctx) as resp:
                raw = resp.read()
                status = resp.status
        except urllib.error.HTTPError as exc:
            raw, status = exc.read(), exc.code
        try:
            return status, json.loads(raw or b"null")
        except ValueError:
            return status, raw.decode(errors="replace")[:300]


@dataclass
class Context:
    target: Target
    exec_sql: Callable[[str], str]
    wait: Callable[[Callable[[], object], float], object]
    timings: dict[str, float] = field(default_factory=dict)


# ---- the checks -------------------------------------------------------------------


def _expect(check: str, got: tuple[int, object], status: int, services: tuple[str, ...], what: str):
    code, body = got
    if code != status:
        raise CheckFailed(check, f"{what} -> {code} {json.dumps(body)[:300]}", services)
    return body


def check_health(ctx: Context, health_path: str) -> None:
    _expect("health", ctx.target.request("GET", health_path), 200, ("api",), f"GET {health_path}")


def check_ready(ctx: Context, health_path: str) -> None:
    _expect("ready", ctx.target.request("GET", "/ready"), 200, ("api", "db", "redis"), "GET /ready")


def check_jobs(ctx: Context, health_path: str) -> None:
    body = _expect("jobs", ctx.target.request("POST", "/jobs", {"numbers": [1, 2, 3, 4]}), 202, ("api",), "POST /jobs")
    job = body["id"]
    last = ["no answer"]  # what the last poll got: the wait itself gives back nothing on a timeout

    def done():
        try:
            code, b = ctx.target.request("GET", f"/jobs/{job}")
        except OSError as exc:
            last[0] = f"no answer ({exc})"
            raise
        last[0] = f"{code} {json.dumps(b)[:300]}"
        return isinstance(b, dict) and b.get("status") == "done" and b

    result = ctx.wait(done, 30)
    if not result:
        raise CheckFailed(
            "jobs", f"job {job} not done by the worker in 30 s: last GET /jobs/{job} -> {last[0]}", ("api", "worker")
        )
    if (result.get("result") or {}).get("sum") != 10:
        raise CheckFailed("jobs", f"job {job} done with a wrong result: {json.dumps(result)[:300]}", ("worker",))


def check_cache(ctx: Context, health_path: str) -> None:
    key = "smoke-" + uuid.uuid4().hex[:8]
    _expect("cache", ctx.target.request("PUT", f"/items/{key}", {"value": "before"}), 200, ("api",), "PUT item")
    ctx.target.request("GET", f"/items/{key}")
    _, second = ctx.target.request("GET", f"/items/{key}")
    if not (isinstance(second, dict) and second.get("cached")):
        raise CheckFailed("cache", f"second GET /items/{key} was not served from the cache: {second!r}", ("api",))
    ctx.exec_sql(f"UPDATE items SET value = 'after' WHERE key = '{key}'")

    def fresh():
        _, b = ctx.target.request("GET", f"/items/{key}")
        return isinstance(b, dict) and b.get("value") == "after"

    if not ctx.wait(fresh, 5):
        raise CheckFailed(
            "cache", "the cached item was not invalidated within 5 s of an UPDATE in psql", ("api", "listener", "db")
        )


CHECKS = {"health": check_health, "ready": check_ready, "jobs": check_jobs, "cache": check_cache}
