"""`inv exec` and `inv shell`: a command in a running service container; its
exit code is the task's."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from stackyard.commands import compose
from stackyard.errors import StackyardError
from stackyard.session import Session
from stackyard.stack.status import env_option
from stackyard.swarm import execs as swarm


def has_tty() -> bool:
    return sys.stdin.isatty() and sys.stdout.isatty()


def run(s: Session, service: str, command: Sequence[str], *, tty: bool | None = None) -> int:
    """Run `command` in `service` and return its exit code; a TTY only when we have
    one (never in CI). A service that is not running is an error before anything runs."""
    if not command:
        raise StackyardError("no command given", f"usage: inv exec {service} -- COMMAND [ARGS...]")
    if s.env.orchestrator == "swarm":
        return swarm.run(s, service, command, tty=has_tty() if tty is None else tty)
    ensure_running(s, service)
    tty = has_tty() if tty is None else tty
    return s.run(compose.exec_(s.env, service, command, tty=tty), mode="interactive", check=False).returncode


def shell(s: Session, service: str, *, tty: bool | None = None) -> int:
    """A shell in `service`; returns the exit code of the shell (its last command's)."""
    if s.env.orchestrator == "swarm":
        return swarm.shell(s, service, tty=has_tty() if tty is None else tty)
    ensure_running(s, service)
    tty = has_tty() if tty is None else tty
    return s.run(compose.shell(s.env, service, tty=tty), mode="interactive", check=False).returncode


def ensure_running(s: Session, service: str) -> None:
    """Raise, naming the fix, unless `service` has a running container (an unknown
    name lists the known ones)."""
    mine = [c for c in s.containers() if c.service == service]
    if any(c.state == "running" for c in mine):
        return
    s.check_services([service])
    now = f"its container is {mine[0].state}" if mine else "it has no container"
    raise StackyardError(
        f"service {service} is not running in {s.env.name} (project {s.env.project}; {now})",
        f"start it with `inv up -s {service}{env_option(s)}`",
    )
