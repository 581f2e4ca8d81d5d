"""The actions of a deploy on Swarm (swarm/deploy.py makes the plan of them): each
part of the release deployed with `docker stack deploy` of a stack file naming only
that part, the job waited for, the updates watched through the Engine API until Swarm
says completed (or rolled back: its reason and the failing task's logs said), the
undo (`docker service rollback`), the backup in the database task's container.

A stop-first service (a volume, a port in host mode: the proxy) whose image is the
same image (by ID) as the one it runs keeps its image reference: a new tag alone
does not stop it."""

from __future__ import annotations

import copy
import json
import os
import pathlib
import re
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from stackyard.commands import swarm as swarmcmds
from stackyard.config import Database
from stackyard.core.command import Command
from stackyard.deploy import actions, releases
from stackyard.deploy import plan as deploy
from stackyard.deploy.actions import Action, Deploy
from stackyard.engine import api
from stackyard.engine import swarm as engine
from stackyard.env.masking import mask
from stackyard.errors import CommandTimeout, StackyardError
from stackyard.session import Session
from stackyard.stack import backups, db
from stackyard.stack.ops import LOG_LINES_ON_FAILURE
from stackyard.swarm import render
from stackyard.swarm import run as swarm

POLL = 1.0  # seconds between two looks at the services
#: UpdateStatus states that end an update which failed: Swarm rolled it back (or is doing so), or paused it.
FAILED = ("rollback_started", "rollback_completed", "rollback_paused", "paused")
#: The update of a service is over, one way or the other (rollback_started: not yet).
SETTLED = ("completed", "unchanged", "rollback_completed", "rollback_paused", "paused")
ROLLING = ("rollback_started", "rollback_completed", "rollback_paused")
TASK_FAILED = ("failed", "rejected")
#: How Swarm names the task that made an update fail, in its UpdateStatus message.
TASK_NAMED = re.compile(r"\btask ([0-9a-z]{25})\b")


@dataclass
class SwarmDeploy(Deploy):
    """What the steps of a deploy on Swarm share: deploy/actions.py's, and the services
    whose spec this deploy changed (the undos roll back those, and only those)."""

    changed: list[str] = field(default_factory=list)


def short(project: str, service: Mapping) -> str:
    """The service's name in the compose files (`shop_api` -> `api`)."""
    return str(service["Spec"]["Name"]).removeprefix(f"{project}_")


def image_of(service: Mapping) -> str:
    """The image the service's spec names, without a digest."""
    return str(service["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"]).split("@")[0]


def image_tag(service: Mapping) -> str:
    return image_of(service).rsplit(":", 1)[-1]


def stack_file(release_part: str) -> pathlib.Path:
    """How the plan shows the file a step writes (its real path is a private temporary one)."""
    return pathlib.Path(f"<stack file: {release_part}>")


def _deploy(x: Deploy, document: Mapping[str, Any], prune: bool, registry: bool) -> None:
    """`docker stack deploy` of `document`, written mode 600 for the command, then gone; a
    stop-first service whose image is the same image (by ID) as the one it runs keeps its
    image reference: a new tag alone does not stop it."""
    s = x.s
    document = same_images(s, document)
    with tempfile.TemporaryDirectory(prefix="stackyard-stack-") as scratch:
        path = pathlib.Path(scratch) / f"{s.env.project}.stack.json"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(document, f, indent=2)
        s.stream(swarmcmds.deploy(s.env.project, path, prune=prune, registry=registry), timeout=x.deadline)


def same_images(s: Session, document: Mapping[str, Any]) -> dict[str, Any]:
    """The document with the image of each stop-first service (a volume, a port in host
    mode: its update stops it) that runs an image by another name with the same ID set
    back to the name it runs. Start-first services take the release's name: theirs says
    what serves."""
    client = s.engine()
    running = {short(s.env.project, svc): image_of(svc) for svc in engine.services(client, s.env.project)}
    out = copy.deepcopy(dict(document))
    for name, svc in out["services"].items():
        new, old = svc.get("image", ""), running.get(name)
        order = ((svc.get("deploy") or {}).get("update_config") or {}).get("order")
        if not old or old == new or order != "stop-first":
            continue
        new_found, old_found = api.inspect_image(client, new), api.inspect_image(client, old)
        if new_found and old_found and new_found.get("Id") == old_found.get("Id"):
            svc["image"] = old
            s.print(f"{name}: {new} is the image it runs ({old}): kept, not restarted")
    return out


def services_of(x: Deploy, names: Sequence[str]) -> dict[str, dict]:
    project = x.s.env.project
    return {short(project, svc): svc for svc in engine.services(x.s.engine(), project) if short(project, svc) in names}


@dataclass(frozen=True)
class MakeSecrets(Action):
    """The Swarm secrets and configs of the release that the swarm lacks; node labels."""

    stack: render.Stack
    config: dict

    def run(self, x: Deploy) -> None:
        swarm.label_nodes(x.s, self.stack)
        swarm.make_secrets(x.s, self.stack, self.config)


@dataclass(frozen=True)
class Ship(Action):
    """The release's images to the engines of the other nodes (swarm/run.py's ship)."""

    config: dict

    def run(self, x: Deploy) -> None:
        swarm.ship_images(x.s, self.config, clock=x.clock)


@dataclass(frozen=True)
class Push(Action):
    """The release's images to the registry (swarm/run.py's push)."""

    pushes: dict

    def run(self, x: Deploy) -> None:
        swarm.push_images(x.s, self.pushes, clock=x.clock)


@dataclass(frozen=True)
class Backup(Action):
    """pg_dump in the database's task container on this engine, checked, kept on the
    engine (stack/backups.py); its name goes to x.backup. A task on another node is
    out of `docker exec`'s reach: the deploy stops, saying which node it is on."""

    project: str
    database: Database
    label: str
    #: A step before starts the database (a first deploy over its volume): none running
    #: when the plan is checked is no error.
    started_before: bool = False

    def run(self, x: Deploy) -> None:
        database_container(x.s, self.database.service)  # its task here, or an error naming its node
        x.backup = backups.take(x.s, self.label, self.database, timeout=x.deadline)

    def check(self, x: Deploy) -> None:
        if not self.started_before or engine.running_tasks(x.s.engine(), x.s.env.project, self.database.service):
            database_container(x.s, self.database.service)

    def commands(self) -> tuple[Command, ...]:
        return (_dump(f"<container of the {self.project}_{self.database.service} task>"),)


def _dump(container: str) -> Command:
    return swarmcmds.exec_(container, ("sh", "-c", db.DUMP, "sh"), tty=False)


def database_container(s: Session, service: str) -> str:
    """The running container of the database service's task on this engine; else an
    error naming the node its task runs on."""
    client = s.engine()
    here = engine.task_containers(client, s.env.project, service)
    if here:
        return str(here[0].get("Id"))
    full = f"{s.env.project}_{service}"
    running = engine.running_tasks(client, s.env.project, service)
    if not running:
        raise StackyardError(
            f"no task of {full} runs: the backup has no database to read",
            f"`inv ps --env {s.env.name}` shows it; `inv logs --env {s.env.name} {service}` says why",
        )
    node = engine.node_names(client).get(running[0].get("NodeID", ""), running[0].get("NodeID", "?"))
    raise StackyardError(
        f"the task of {full} runs on node {node}, not on this engine's ({engine.node_name(client)}): the backup runs "
        "pg_dump in its container with `docker exec`, which reaches this engine's containers only",
        f"pin {service} to the manager's node (the label dev.stackyard.{service}=true on it alone), or run the "
        "deploy against a manager on that node",
    )


@dataclass(frozen=True)
class RunJob(Action):
    """Deploy the job alone; wait until it completes this time (its tasks of the job's
    current iteration: those of earlier runs are still listed)."""

    project: str
    document: dict
    job: str
    registry: bool = False

    def run(self, x: Deploy) -> None:
        _deploy(x, self.document, prune=False, registry=self.registry)
        wait_job(x, self.job)

    def commands(self) -> tuple[Command, ...]:
        return (swarmcmds.deploy(self.project, stack_file(self.job), prune=False, registry=self.registry),)


def wait_job(x: Deploy, job: str) -> None:
    """Until the job's current run completes; its failure, with its last task's lines."""
    until = x.clock() + (x.deadline or float("inf"))
    client = x.s.engine()
    while True:
        service = services_of(x, [job]).get(job)
        if service is None:
            raise StackyardError(f"job {job} is not in the stack after its deploy", "`inv ps` shows the stack")
        said = job_state(service, engine.tasks(client, service["ID"]))
        if said == "complete":
            x.s.print(f"{job}: completed")
            return
        if said.startswith("failed"):
            failed = [
                t
                for t in swarm.this_run(service, engine.tasks(client, service["ID"]))
                if t["Status"]["State"] in TASK_FAILED
            ]
            show_task_logs(x, service, failed[0] if failed else None)
            raise StackyardError(f"job {job} {said}", f"`inv logs --env {x.s.env.name} {job}` shows all of it")
        if x.clock() >= until:
            raise StackyardError(f"job {job} did not complete within {x.deadline:g} s ({said})")
        x.sleep(POLL)


def job_state(service: Mapping, tasks: Sequence[Mapping]) -> str:
    """How far the job's current run is: complete, failed after N attempt(s) (with why) once
    Swarm gave up on it, else how many tasks completed and run."""
    mine = swarm.this_run(service, tasks)
    wanted = int(((service["Spec"].get("Mode") or {}).get("ReplicatedJob") or {}).get("TotalCompletions") or 1)
    done = sum(1 for t in mine if t["Status"]["State"] == "complete")
    if done >= wanted:
        return "complete"
    failed = [t for t in mine if t["Status"]["State"] in TASK_FAILED]
    active = [t for t in mine if t["Status"]["State"] not in (*TASK_FAILED, "complete", "shutdown", "orphaned")]
    policy = service["Spec"].get("TaskTemplate", {}).get("RestartPolicy") or {}
    attempts = int(policy.get("MaxAttempts") or 0)
    if failed and not active and len(failed) > attempts:
        why = failed[0]["Status"].get("Err") or failed[0]["Status"]["State"]
        return f"failed after {len(failed)} attempt(s): {why}"
    return f"{done}/{wanted} complete, {len(active)} running"


def version(service: Mapping) -> int:
    """The service's version: each change of it (its spec, its update's status) raises it."""
    return int((service.get("Version") or {}).get("Index") or 0)


def update_state(service: Mapping) -> str:
    """What Swarm says of the service's update since its spec last changed: "updating",
    "completed", "unchanged" (the spec's tasks are those it runs: nothing to update), or
    how it failed (FAILED). Swarm clears the status at each change of the spec, and sets
    it once its updater starts: until then, a spec whose task template changed is updating."""
    said = str((service.get("UpdateStatus") or {}).get("State") or "")
    if said:
        return said
    return "updating" if changed(service) else "unchanged"


def changed(service: Mapping) -> bool:
    """The service's last spec change changes its tasks (what Swarm's updater compares)."""
    before = service.get("PreviousSpec")
    if not before:
        return False
    now = service["Spec"]
    return before.get("TaskTemplate") != now.get("TaskTemplate") or (before.get("EndpointSpec") or {}) != (
        now.get("EndpointSpec") or {}
    )


@dataclass(frozen=True)
class Update(Action):
    """Deploy these services of the release; watch the update of each whose spec changed
    until Swarm says completed, or fail with Swarm's rollback (the failing task's last
    log lines shown). `serves`: the web service's update (once completed, the release
    serves: the undo must roll it back). `converge`: every service of the stack must
    then run."""

    project: str
    document: dict
    services: tuple[str, ...]
    serves: bool = False
    converge: bool = False
    registry: bool = False

    def run(self, x: Deploy) -> None:
        assert isinstance(x, SwarmDeploy)
        until = x.clock() + (x.deadline or float("inf"))
        before = {n: version(svc) for n, svc in services_of(x, self.services).items()}
        try:
            _deploy(x, self.document, prune=False, registry=self.registry)
        finally:  # what it changed, also when the command failed midway: the undo rolls that back
            now = services_of(x, self.services)
            x.changed += [
                n
                for n in self.services
                if n in now and version(now[n]) > before.get(n, -1) and update_state(now[n]) != "unchanged"
            ]
        if self.serves:
            x.new, x.points_at = f"{self.project}_{self.services[0]}", ""
        watch(x, [n for n in self.services if n in x.changed], until)
        if self.serves:
            x.points_at = x.new  # the new release serves
        if self.converge:
            swarm.converge(x.s, max(1, int(until - x.clock())), x.clock, x.sleep)

    def commands(self) -> tuple[Command, ...]:
        part = stack_file(", ".join(self.services))
        return (swarmcmds.deploy(self.project, part, prune=False, registry=self.registry),)


def watch(x: Deploy, names: Sequence[str], until: float) -> None:
    """Look at the services' updates until each is completed; fail once Swarm has rolled
    one back (or paused it), or at `until`."""
    said: dict[str, str] = {}  # Swarm's message of each failed update, as first seen (a rollback's replaces it)
    while True:
        found = services_of(x, names)
        states = {n: update_state(found[n]) if n in found else "gone" for n in names}
        for n, st in states.items():
            if st in FAILED and n not in said:
                said[n] = str((found[n].get("UpdateStatus") or {}).get("Message") or "")
        verdict = outcome(states)
        if verdict == "completed":
            for n in names:
                x.s.print(f"{n}: update completed")
            return
        if verdict == "failed" or x.clock() >= until:
            raise update_failure(x, found, states, said, timed_out=verdict != "failed")
        x.sleep(POLL)


def outcome(states: Mapping[str, str]) -> str:
    """What the services' update states come to: completed (every update done), failed
    (one failed and Swarm is done with it: rolled back, or paused), else waiting."""
    if all(st in ("completed", "unchanged") for st in states.values()):
        return "completed"
    if any(st in FAILED and st in SETTLED for st in states.values()) or "gone" in states.values():
        return "failed"
    return "waiting"


def update_failure(
    x: Deploy, found: Mapping[str, dict], states: Mapping[str, str], said: Mapping[str, str], *, timed_out: bool
) -> StackyardError:
    """The error of a failed update, after the last log lines of the failing task of each
    service that failed (or, past the deadline, has not finished) are printed."""
    parts = []
    for n, st in states.items():
        if st == "gone":
            parts.append(f"{n} is no longer in the stack")
            continue
        if st in ("completed", "unchanged") or (st not in FAILED and not timed_out):
            continue
        why = said.get(n) or str((found[n].get("UpdateStatus") or {}).get("Message") or "") or "no reason given"
        task = failing_task(x, found[n], why)
        show_task_logs(x, found[n], task)
        err = f"; its task {task['ID'][:12]}: {task['Status'].get('Err') or task['Status']['State']}" if task else ""
        parts.append(FAILURES.get(st, "{n} still {st} ({why})").format(n=n, st=st, why=why) + err)
    head = f"the update did not finish within {x.deadline:g} s: " if timed_out else ""
    return StackyardError(head + "; ".join(parts))


FAILURES = {
    "rollback_completed": "Swarm rolled {n} back by itself ({why})",
    "rollback_started": "Swarm is rolling {n} back ({why})",
    "rollback_paused": "Swarm's rollback of {n} paused ({why}): it may run both releases",
    "paused": "Swarm paused the update of {n} ({why})",
}


def failing_task(x: Deploy, service: Mapping, message: str) -> dict | None:
    """The task Swarm names in its message ("... failure or early termination of task
    ID"), else the newest task of the service that failed or was rejected."""
    tasks = engine.tasks(x.s.engine(), service["ID"])
    named = TASK_NAMED.search(message)
    for task in tasks:
        if named and task["ID"] == named.group(1):
            return task
    for task in tasks:
        status = task.get("Status") or {}
        if status.get("State") in TASK_FAILED or status.get("Err"):
            return task
    return None


def show_task_logs(x: Deploy, service: Mapping, task: Mapping | None) -> None:
    """The task's last log lines, wherever it ran (else the service's), secrets masked.
    Each read has a deadline: a log that does not come is said, not waited for."""
    name = service["Spec"]["Name"]
    if task is None:
        x.s.print(f"--- {name}, every task: last {LOG_LINES_ON_FAILURE} log lines ---")
    else:
        said = task["Status"]["State"] + (f": {task['Status']['Err']}" if task["Status"].get("Err") else "")
        x.s.print(f"--- task {task['ID'][:12]} of {name} ({said}): last {LOG_LINES_ON_FAILURE} log lines ---")
    cmd = swarmcmds.last_logs(task["ID"] if task else name, LOG_LINES_ON_FAILURE)
    try:
        res = x.s.read(cmd, check=False, timeout=deploy.LOGS_DEADLINE)
        text = (res.stdout + res.stderr).rstrip() or "(none: it never started)"
    except CommandTimeout:
        text = f"(its logs did not come within {deploy.LOGS_DEADLINE} s: `{cmd}` shows them)"
    x.s.print(mask(text, x.s.env))


@dataclass(frozen=True)
class RollBack(Action):
    """Undo: roll back each of these services whose spec this deploy changed, unless
    Swarm has (or is doing so); wait until each rollback is done."""

    project: str
    services: tuple[str, ...]

    def run(self, x: Deploy) -> None:
        assert isinstance(x, SwarmDeploy)
        mine = [n for n in self.services if n in x.changed]
        found = services_of(x, mine)
        # Swarm rolls back what failed by itself; a paused update, or one that completed, is rolled back here.
        todo = [
            n for n in mine if n in found and update_state(found[n]) not in ROLLING and found[n].get("PreviousSpec")
        ]
        try:
            for n in todo:
                x.s.run(swarmcmds.rollback_service(f"{self.project}_{n}"), timeout=x.deadline)
            until = x.clock() + (x.deadline or float("inf"))
            while mine:
                states = {n: update_state(s) for n, s in services_of(x, mine).items()}
                if all(st in ("rollback_completed", "unchanged") for st in states.values()):
                    break
                stuck = {n: st for n, st in states.items() if st in ("rollback_paused", "paused")}
                if stuck or x.clock() >= until:
                    raise StackyardError(
                        "the rollback did not finish: " + ", ".join(f"{n} {st}" for n, st in (stuck or states).items())
                    )
                x.sleep(POLL)
        except Exception as exc:
            if x.new and x.points_at == x.new and x.new.removeprefix(f"{self.project}_") in mine:
                why = exc.message if isinstance(exc, StackyardError) else str(exc)
                x.stuck = f"the release may still serve: rolling {', '.join(mine)} back failed: {why}"
            raise
        if x.new.removeprefix(f"{self.project}_") in mine:
            x.points_at = ""  # the old release serves again
        for n in mine:
            x.s.print(f"{n}: rolled back")

    def commands(self) -> tuple[Command, ...]:
        return tuple(swarmcmds.rollback_service(f"{self.project}_{n}") for n in self.services)


@dataclass(frozen=True)
class Start(Action):
    """Deploy this part of the stack file (the whole of it, with `prune`); wait until
    every service of the stack has converged (swarm/run.py: a job complete)."""

    project: str
    document: dict
    timeout: int
    part: tuple[str, ...] = ()
    prune: bool = False
    registry: bool = False

    def run(self, x: Deploy) -> None:
        _deploy(x, self.document, prune=self.prune, registry=self.registry)
        swarm.converge(x.s, self.timeout, x.clock, x.sleep)

    def commands(self) -> tuple[Command, ...]:
        what = stack_file(", ".join(self.part) or "the whole stack")
        return (swarmcmds.deploy(self.project, what, prune=self.prune, registry=self.registry),)


@dataclass(frozen=True)
class RemoveServices(Action):
    services: tuple[str, ...]

    def run(self, x: Deploy) -> None:
        x.s.run(swarmcmds.remove_services(self.services), timeout=x.deadline)

    def commands(self) -> tuple[Command, ...]:
        return (swarmcmds.remove_services(self.services),)


@dataclass(frozen=True)
class Record(Action):
    """Record the release as ok; with `keep`, remove the images of this project's
    releases but the last `keep` good ones, and but those a service of the stack still
    names (a service kept its image by ID: its tag must stay, or a restarted task finds
    no image)."""

    release: str
    kind: releases.Kind
    keep: int | None = None

    def run(self, x: Deploy) -> None:
        actions.Record(self.release, self.kind).run(x)
        if self.keep is None:
            return
        s = x.s
        try:
            history = releases.history(s, skipped=None)
            kept = releases.kept(history, self.keep)
            dropped = {r.version for r in history} - kept
            named = [image_of(svc) for svc in engine.services(s.engine(), s.env.project)]
            for image in actions.release_images(s, self.release):
                repository = image.rsplit(":", 1)[0]
                in_use = {i.rsplit(":", 1)[-1] for i in named if i.rsplit(":", 1)[0] == repository}
                actions.prune_images(s, s.engine(), [image], dropped - in_use)
        except StackyardError as exc:
            raise StackyardError(
                f"{self.release} is recorded, but removing old images failed: {exc.message}", exc.hint
            ) from exc
