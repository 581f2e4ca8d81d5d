"""The smoke checks the package ships, generic to any stack, and the API a
project's own checks use (Context, CheckFailed, expect): each check takes the
Context and raises CheckFailed with what it got and the services whose logs
explain it. A project registers its own in [tool.stackyard.smoke] modules: each
module has CHECKS, a dict of name -> check (smoke/run.py imports them)."""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from stackyard.config import Roles
from stackyard.engine.state import Container
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
    health_path: str  # the web role's, else the environment's
    roles: Roles
    #: One SQL statement run by psql in the database role's service; its rows, unaligned.
    sql: Callable[[str], str]
    #: wait(predicate, timeout): the predicate's first true result, or None after timeout seconds.
    wait: Callable[[Callable[[], object], float], object]
    containers: Callable[[], list[Container]]
    #: The services' logs (all of them for none), no colour.
    logs: Callable[[Sequence[str]], str]
    #: Container name -> how often the engine restarted it.
    restarts: Callable[[], dict[str, int]] = dict
    timings: dict[str, float] = field(default_factory=dict)


Check = Callable[[Context], None]


def expect(check: str, got: tuple[int, object], status: int, services: tuple[str, ...], what: str):
    """The body of a response `got`, which must have `status`; else CheckFailed naming `services`."""
    code, body = got
    if code != status:
        raise CheckFailed(check, f"{what} -> {code} {json.dumps(body)[:300]}", services)
    return body


# ---- the generic checks ---------------------------------------------------------------


def check_health(ctx: Context) -> None:
    """The URL answers its health path with 200."""
    web = (ctx.roles.web.service,) if ctx.roles.web else ()
    expect("health", ctx.target.request("GET", ctx.health_path), 200, web, f"GET {ctx.health_path}")


def check_services(ctx: Context) -> None:
    """Every service runs and is healthy (a one-shot has exited 0)."""
    bad = [
        f"{c.service} {c.state}"
        + (f" ({c.health})" if c.health else "")
        + (f" exit {c.exit_code}" if c.exit_code else "")
        for c in ctx.containers()
        if c.failed or (c.state != "exited" and c.health not in ("healthy", "")) or c.state in ("created", "paused")
    ]
    if bad:
        names = tuple(dict.fromkeys(b.split()[0] for b in bad))
        raise CheckFailed("services", "not running and healthy: " + ", ".join(bad), names)


def check_restarts(ctx: Context) -> None:
    """No container was restarted by the engine (a crash that its restart policy hid)."""
    restarted = {name: n for name, n in ctx.restarts().items() if n}
    if restarted:
        names = tuple(c.service for c in ctx.containers() if c.name in restarted)
        listed = ", ".join(f"{name} ({n}x)" for name, n in sorted(restarted.items()))
        raise CheckFailed("restarts", f"restarted by the engine: {listed}", names)


TRACEBACK = "Traceback (most recent call last)"


def check_tracebacks(ctx: Context) -> None:
    """No Python traceback in any service's logs."""
    found = sorted({line.split("|", 1)[0].strip() for line in ctx.logs(()).splitlines() if TRACEBACK in line})
    if found:
        raise CheckFailed("tracebacks", f"a Python traceback in the logs of {', '.join(found)}", tuple(found))


CHECKS: dict[str, Check] = {
    "health": check_health,
    "services": check_services,
    "restarts": check_restarts,
    "tracebacks": check_tracebacks,
}
