"""The reference app's own smoke checks (`nox -s smoke`), registered in
pyproject.toml: [tool.stackyard.smoke] modules = ["smoke_checks"].

They live in the project, not in stackyard (which ships only generic checks),
and not in app/ (the app never imports the toolkit). Each takes the smoke
Context: requests go to ctx.target, SQL to the database role's service."""

from __future__ import annotations

import json
import uuid

from stackyard.smoke.checks import CheckFailed, Context, expect


def check_ready(ctx: Context) -> None:
    """The API reaches PostgreSQL and Redis."""
    expect("ready", ctx.target.request("GET", "/ready"), 200, ("api", "db", "redis"), "GET /ready")


def check_jobs(ctx: Context) -> None:
    """A job posted to the API is done by the worker, with the right result."""
    body = expect("jobs", ctx.target.request("POST", "/jobs", {"numbers": [1, 2, 3, 4]}), 202, ("api",), "POST /jobs")
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


def check_cache(ctx: Context) -> None:
    """An item is cached, and the listener invalidates it when its row changes behind the API's back."""
    key = "smoke-" + uuid.uuid4().hex[:8]
    expect("cache", ctx.target.request("PUT", f"/items/{key}", {"value": "before"}), 200, ("api",), "PUT item")
    ctx.target.request("GET", f"/items/{key}")
    _, second = ctx.target.request("GET", f"/items/{key}")
    if not (isinstance(second, dict) and second.get("cached")):
        raise CheckFailed("cache", f"second GET /items/{key} was not served from the cache: {second!r}", ("api",))
    ctx.sql(f"UPDATE items SET value = 'after' WHERE key = '{key}'")

    def fresh():
        _, b = ctx.target.request("GET", f"/items/{key}")
        return isinstance(b, dict) and b.get("value") == "after"

    if not ctx.wait(fresh, 5):
        raise CheckFailed(
            "cache", "the cached item was not invalidated within 5 s of an UPDATE in psql", ("api", "listener", "db")
        )


CHECKS = {"ready": check_ready, "jobs": check_jobs, "cache": check_cache}
