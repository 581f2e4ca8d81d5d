"""`inv logs` for an environment on Swarm: one stream for the stack's services, as
Compose gives one for a project's containers.

`docker service logs` shows one service (every task of it): one runs per service,
all at once, and their lines are merged as they come (stdout and stderr: a
service logs on both). Each line is prefixed with its service and task slot,
`api.2 | <timestamp> <text>`, and with the node too when the swarm has several.
Without --follow the lines are put in time order; following, they are shown as
they come."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from stackyard.commands import swarm as swarmcmds
from stackyard.core.procs import COLOURS
from stackyard.engine import swarm as engine
from stackyard.errors import StackyardError
from stackyard.session import Session
from stackyard.swarm.run import require_manager

#: A line of `docker service logs --timestamps`: `<time> <stack>_<service>.<slot>.<task>@<node>    | <text>`
#: (the slot of a global service's task is its node's id).
#: Seconds without a line after which `inv logs` (not following) takes the streams as
#: ended: `docker service logs` may hang once its lines are out (docker/cli#4678).
IDLE = 5.0
TASK_LINE = re.compile(r"(?P<time>\S+) \S+?\.(?P<slot>[^.\s]+)\.[0-9a-z]+@(?P<node>\S+?) *\| ?(?P<text>.*)")


@dataclass(frozen=True)
class Line:
    """A line of a service's logs: its service, its label as shown (`api.2`), time and text."""

    service: str
    label: str
    time: str
    text: str


def stream(
    s: Session,
    services: Sequence[str] = (),
    *,
    follow: bool = False,
    since: str | None = None,
    tail: int | None = None,
    keep: Callable[[str], bool] | None = None,
) -> None:
    """The logs of the stack's services (or those named), merged into one stream;
    `keep` filters the lines as shown (--grep)."""
    names = deployed(s, services)
    nodes = engine.node_names(s.engine())
    several = len(nodes) > 1
    cmds = {
        name: swarmcmds.service_logs(f"{s.env.project}_{name}", follow=follow, since=since, tail=tail) for name in names
    }
    colours = {name: COLOURS[i % len(COLOURS)] for i, name in enumerate(names)} if s.out.isatty() else {}
    # `.1`: a replica's slot; `@node` on a swarm of several
    width = max(len(name) for name in names) + 2 + (1 + max(len(n) for n in nodes.values()) if several else 0)
    try:
        found = s.merged_lines(cmds, idle=None if follow else IDLE)
        lines = (parse(name, text, nodes=several) for name, text in found)
        shown = lines if follow else in_time_order(lines)
        for line in shown:
            width = max(width, len(line.label))  # a slot of two digits, a global service's node
            text = render(line, width, colours.get(line.service))
            if keep is None or keep(text):
                s.out.write(text)
                s.out.flush()
    except BrokenPipeError:  # `inv logs | head`: the reader left; not an error
        return


def deployed(s: Session, services: Sequence[str]) -> list[str]:
    """The services to show: those named (each known to the environment and deployed),
    or every service of the stack."""
    require_manager(s)
    s.check_services(services)
    have = [
        service["Spec"]["Name"].removeprefix(f"{s.env.project}_")
        for service in engine.services(s.engine(), s.env.project)
    ]
    if not have:
        raise StackyardError(
            f"no services in stack {s.env.project} ({s.env.name}): no logs to show",
            f"start it with `inv up --env {s.env.name}`",
        )
    missing = [name for name in services if name not in have]
    if missing:
        raise StackyardError(
            f"{', '.join(missing)} not deployed in stack {s.env.project} ({s.env.name}): no logs to show",
            f"deployed: {', '.join(have)}; `inv up --env {s.env.name}` deploys the environment's services",
        )
    return list(dict.fromkeys(services)) or have


def parse(service: str, text: str, *, nodes: bool = False) -> Line:
    """A line of `docker service logs` of `service` as shown: labelled with the service
    and the task's slot, and its node when `nodes` (a swarm of several) or when the task
    has no slot (a global service's). A line of the CLI's own (an error) keeps the
    service alone."""
    found = TASK_LINE.fullmatch(text.rstrip("\n"))
    if not found:
        return Line(service, service, "", text.rstrip("\n"))
    slot, node = found["slot"], found["node"]
    label = service + (f".{slot}" if slot.isdigit() else "") + (f"@{node}" if nodes or not slot.isdigit() else "")
    return Line(service, label, found["time"], found["text"])


def in_time_order(lines: Iterable[Line]) -> list[Line]:
    """Every line, sorted by time (Docker writes fixed-width UTC times: their text sorts);
    a line without one (the CLI's own) stays after its service's line before it."""
    out: list[tuple[str, Line]] = []
    latest: dict[str, str] = {}
    for line in lines:
        latest[line.service] = line.time or latest.get(line.service, "")
        out.append((latest[line.service], line))
    return [line for _, line in sorted(out, key=lambda pair: pair[0])]


def render(line: Line, width: int, colour: str | None = None) -> str:
    """`api.2  | 2024-05-01T10:00:00.000000000Z text`, as `docker compose logs --timestamps`
    writes it; the label coloured on a terminal."""
    label = f"{line.label:<{width}} |"
    if colour:
        label = f"\x1b[{colour}m{label}\x1b[0m"
    return f"{label} {line.time + ' ' if line.time else ''}{line.text}\n"
