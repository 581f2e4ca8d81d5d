"""`inv exec` and `inv shell` for an environment on Swarm: a command in a running
task's container of the service on this engine's node (`docker exec`: Swarm has no
exec of its own), the newest one when there are several; its exit code is the task's.
A service whose tasks all run on other nodes is an error naming them."""

from __future__ import annotations

from collections.abc import Sequence

from stackyard.commands import compose
from stackyard.commands import swarm as swarmcmds
from stackyard.engine import swarm as engine
from stackyard.errors import StackyardError
from stackyard.session import Session
from stackyard.swarm.run import require_manager


def run(s: Session, service: str, command: Sequence[str], *, tty: bool) -> int:
    """Run `command` in a running task of `service` on this node; return its exit code."""
    return s.run(swarmcmds.exec_(container(s, service), command, tty=tty), mode="interactive", check=False).returncode


def shell(s: Session, service: str, *, tty: bool) -> int:
    """A shell (bash where the image has it, else sh) in a running task of `service`."""
    return run(s, service, compose.SHELL, tty=tty)


def container(s: Session, service: str) -> str:
    """The name of the newest running container of `service`'s tasks on this node; else
    an error saying why there is none: an unknown name (the known ones listed), a
    service not deployed, its tasks on other nodes (named), or none running."""
    client = s.engine()
    found = engine.task_containers(client, s.env.project, service)
    if found:
        return found[0]["Names"][0].lstrip("/")
    s.check_services([service])
    require_manager(s)  # where the service's tasks run, only a manager knows
    this = engine.node_name(client)
    spec = next(
        (x for x in engine.services(client, s.env.project) if x["Spec"]["Name"] == f"{s.env.project}_{service}"), None
    )
    if spec is None:
        raise StackyardError(
            f"service {service} is not deployed in stack {s.env.project} ({s.env.name})",
            f"`inv up --env {s.env.name}` deploys it; `inv ps --env {s.env.name}` lists what runs",
        )
    tasks = engine.tasks(client, spec["ID"])
    running = [t for t in tasks if t["Status"]["State"] == "running"]
    if running:
        names = engine.node_names(client)
        where = sorted({names.get(t.get("NodeID", ""), t.get("NodeID", "?")) for t in running})
        raise StackyardError(
            f"service {service} has no running task on this node ({this}): its tasks run on {', '.join(where)}",
            f"run it there: point --host at that node's engine (ssh://USER@ADDRESS of {where[0]})",
        )
    if any(mode.endswith("Job") for mode in spec["Spec"].get("Mode") or {}):  # ReplicatedJob, GlobalJob
        raise StackyardError(
            f"service {service} is a job of stack {s.env.project}: its tasks ran once and exited, none runs now",
            f"`inv logs --env {s.env.name} -s {service}` shows what it did",
        )
    last = tasks[0]["Status"] if tasks else None
    newest = f" (its newest task: {last['State']}{', ' + last['Err'] if last.get('Err') else ''})" if last else ""
    raise StackyardError(
        f"service {service} has no running task in stack {s.env.project}{newest}",
        f"`inv ps --env {s.env.name}` and `inv logs --env {s.env.name} -s {service}` say why",
    )
