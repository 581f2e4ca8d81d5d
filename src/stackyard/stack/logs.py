"""`inv logs`: one stream for all services, with filters; Ctrl-C ends it cleanly."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from stackyard.commands import compose
from stackyard.session import Session

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
    s.check_services(services)
    color = s.out.isatty()
    cmd = compose.logs(s.env, services, follow=follow, since=since, tail=tail, color=color)
    try:
        for line in s.lines(cmd, keep=matcher(grep)):
            s.out.write(line)
            s.out.flush()
    except BrokenPipeError:  # `inv logs | head`: the reader left; not an error
        return
