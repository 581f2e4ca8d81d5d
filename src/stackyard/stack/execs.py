"""`inv exec` and `inv shell`: a command in a running service container."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from stackyard.commands import compose
from stackyard.errors import StackyardError
from stackyard.session import Session


def has_tty() -> bool:
    return sys.stdin.isatty() and sys.stdout.isatty()


def run(s: Session, service: str, command: Sequence[str], *, tty: bool | None = None) -> int:
    """Run `command` in `service`; a TTY only when we have one (never in CI)."""
    if not command:
        raise StackyardError("no command given", f"usage: inv exec {service} -- COMMAND [ARGS...]")
    s.check_services([service])
    tty = has_tty() if tty is None else tty
    res = s.run(compose.exec_(s.env, service, command, tty=tty), mode="interactive", check=False)
    if res.returncode != 0 and not s.dry:
        # Compose prints why (e.g. the service is not running) on our stderr already.
        raise StackyardError(f"`{' '.join(command)}` in {service} exited {res.returncode}") from None
    return res.returncode


def shell(s: Session, service: str, *, tty: bool | None = None) -> int:
    s.check_services([service])
    tty = has_tty() if tty is None else tty
    res = s.run(compose.shell(s.env, service, tty=tty), mode="interactive", check=False)
    return res.returncode
