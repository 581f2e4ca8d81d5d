"""`inv logs`: one stream for all services, with filters; Ctrl-C ends it cleanly."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from stackyard.commands import compose
from stackyard.errors import StackyardError
from stackyard.session import Session
from stackyard.stack.status import env_option
from stackyard.swarm import logs as swarm

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def matcher(grep: str | None) -> Callable[[str], bool] | None:
    """Case-insensitive substring match on the line without its colours."""
    if not grep:
        return None
    needle = grep.lower()
    return lambda line: needle in ANSI.sub("", line).lower()


def stream(
    s: Session,
    services: Sequence[str] = (),
    *,
    follow: bool = False,
    since: str | None = None,
    tail: int | None = None,
    grep: str | None = None,
) -> None:
    """Stream the logs of what has containers (running or not). Compose prints
    nothing for a project without containers: that is an error saying so."""
    if s.env.orchestrator == "swarm":
        return swarm.stream(s, services, follow=follow, since=since, tail=tail, keep=matcher(grep))
    s.check_services(services)
    present = {c.service for c in s.containers()}
    if not (present & set(services) if services else present):
        what = f"no container of {', '.join(services)}" if services else "no containers"
        raise StackyardError(
            f"{what} in project {s.env.project} ({s.env.name}): no logs to show",
            f"start it with `inv up{' -s ' + ','.join(services) if services else ''}{env_option(s)}`",
        )
    color = s.out.isatty()
    cmd = compose.logs(s.env, services, follow=follow, since=since, tail=tail, color=color)
    try:
        for line in s.lines(cmd, keep=matcher(grep)):
            s.out.write(line)
            s.out.flush()
    except BrokenPipeError:  # `inv logs | head`: the reader left; not an error
        return
