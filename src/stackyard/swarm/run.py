"""An environment on Docker Swarm (`orchestrator = "swarm"`): `inv up`, `down`, `ps`
act through `docker stack` and the Engine API instead of Compose.

`up` builds the images with Compose, renders the stack file from the
environment's compose config (swarm/render.py), creates the Swarm secrets and
configs it names (from their values, through the Engine API: never on a command
line, never in a file), deploys it with `docker stack deploy`, then watches the
services converge: every replicated one with all its tasks running (healthy,
where it has a health check: Swarm counts a task as running only then), every
job complete. `down` removes the stack; its volumes stay (Swarm never removes
them)."""

from __future__ import annotations

import json
import os
import pathlib
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence

from stackyard.commands import compose
from stackyard.commands import swarm as swarmcmds
from stackyard.core import table
from stackyard.deploy.engine_changes import change
from stackyard.engine import api, roles, ship
from stackyard.engine import swarm as engine
from stackyard.env import layers
from stackyard.env import ops as envops
from stackyard.errors import StackyardError
from stackyard.session import Session
from stackyard.swarm import render

POLL = 1.0
SHIP_TIMEOUT = 1800  # seconds a node's images may take to arrive
LOG_LINES = 30
FAILED = ("failed", "rejected")


def require_manager(s: Session) -> None:
    """Fail, saying how, unless the target engine manages a swarm."""
    state, is_manager = engine.manager(s.engine())
    if state != "active":
        raise StackyardError(
            f"environment {s.env.name} runs on Swarm, and this engine is in no swarm ({state})",
            "`inv swarm.init` makes it a single-node swarm (README: Docker Swarm)",
        )
    if not is_manager:
        raise StackyardError(
            f"this engine is a swarm worker: {s.env.name} is deployed from a manager",
            "point --host (or the environment's `host`) at a manager node",
        )


def secret_values(s: Session, config: Mapping) -> dict[str, bytes]:
    """Each compose secret's value, from the environment variable it names (the env
    layers, the process environment), or its file; for render to hash, never to print."""
    wanted = [spec["environment"] for spec in (config.get("secrets") or {}).values() if spec.get("environment")]
    found = layers.resolve(layers.read(envops.env_layers(s)), os.environ, wanted)
    out: dict[str, bytes] = {}
    for name, spec in (config.get("secrets") or {}).items():
        if spec.get("environment"):
            value = found.get(spec["environment"])
            if value is None or value.value is None:
                raise StackyardError(
                    f"secret {name}: variable {spec['environment']} is not set",
                    f"`inv env.init --env {s.env.name}` writes it (or set it in the environment)",
                )
            out[name] = value.value.encode()
        elif spec.get("file"):
            out[name] = pathlib.Path(spec["file"]).read_bytes()
    return out


def config_values(config: Mapping) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    for name, spec in (config.get("configs") or {}).items():
        if spec.get("content") is not None:
            out[name] = str(spec["content"]).encode()
        elif spec.get("file"):
            out[name] = pathlib.Path(spec["file"]).read_bytes()
    return out


def rendered(s: Session, config: Mapping | None = None) -> render.Stack:
    """The stack file of the environment (of `config`, its compose config, when given),
    and what it needs made first."""
    config = s.config() if config is None else config
    found = roles.resolve(s.project.roles, config)
    return render.render(
        config,
        project=s.env.project,
        roles=found,
        secret_values=secret_values(s, config),
        config_values=config_values(config),
        registry=s.env.registry,
    )


def make_secrets(s: Session, stack: render.Stack, config: Mapping) -> None:
    """Create the Swarm secrets and configs the stack names that the swarm lacks (each
    name holds the hash of its value: a changed value is a new one)."""
    client = s.engine()
    labels = {engine.NAMESPACE: s.env.project}
    values = secret_values(s, config)
    have = engine.secrets(client)
    for name, swarm_name in stack.secrets.items():
        if swarm_name not in have:
            s.announce(f"[engine] create secret {swarm_name} (its value from the environment, not shown)")
            if not s.dry:
                engine.create_secret(client, swarm_name, values[name], labels)
    contents = config_values(config)
    have = engine.configs(client)
    for name, swarm_name in stack.configs.items():
        if swarm_name not in have:
            s.announce(f"[engine] create config {swarm_name}")
            if not s.dry:
                engine.create_config(client, swarm_name, contents[name], labels)


def deploy_stack(s: Session, stack: render.Stack) -> None:
    """`docker stack deploy` of the rendered file: written mode 600 for the command, then gone."""
    with tempfile.TemporaryDirectory(prefix="stackyard-stack-") as scratch:
        path = pathlib.Path(scratch) / f"{s.env.project}.stack.json"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(stack.document, f, indent=2)
        s.stream(swarmcmds.deploy(s.env.project, path, registry=bool(s.env.registry)))


def up(
    s: Session,
    *,
    build: bool = True,
    timeout: int = 180,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Build (unless `build` is False), render, deploy; wait until every service has
    converged; show them."""
    require_manager(s)
    if build:
        s.stream(compose.build(s.env))
    config = s.config()
    stack = rendered(s)
    if s.env.registry:
        push_images(s, stack.pushes)
    else:
        ship_images(s, config)
    label_nodes(s, stack)
    make_secrets(s, stack, config)
    deploy_stack(s, stack)
    if s.dry:
        return
    converge(s, timeout, clock, sleep)
    s.print()
    ps(s)


def ship_images(s: Session, config: Mapping, clock: Callable[[], float] = time.monotonic) -> None:
    """Give every engine of the swarm that is not the one that built the images (the
    manager when it is remote, the `nodes` of the environment) those of the stack it
    lacks, compared by image ID: `docker save | docker load` through the Engine API,
    as a deploy to a remote host does (engine/ship.py). No registry is needed."""
    targets = ([s.target] if s.remote and s.target else []) + list(s.env.nodes)
    if not targets:
        return
    services = (config.get("services") or {}).values()
    built = sorted({svc["image"] for svc in services if svc.get("build") and svc.get("image")})
    pulled = sorted({svc["image"] for svc in services if svc.get("image")} - set(built))
    local = s.local_engine()
    for address in targets:
        target = s.engine() if address == s.target else api.client({"DOCKER_HOST": address})
        images = ship.look(local, target, built, pulled)
        s.print(f"ship to {address}:")
        if s.dry:
            for image in images:
                s.print(f"  {image.line()}")
            continue
        ship.ship(  # it says what it sent, and how fast
            local,
            target,
            images,
            change=lambda what, do: change(s, what, do),
            say=s.print,
            clock=clock,
            until=clock() + SHIP_TIMEOUT,
        )


def push_images(s: Session, pushes: Mapping[str, str], clock: Callable[[], float] = time.monotonic) -> None:
    """Push each image the project builds to the environment's registry, under its name
    there (render.in_registry), from the engine that built it: every node pulls it
    from there (the deploy passes this machine's registry login to the nodes)."""
    local = s.local_engine()
    for image, ref in pushes.items():
        started = clock()
        change(s, f"push {image} as {ref}", lambda image=image, ref=ref: api.push(local, image, ref))
        if not s.dry:
            s.print(f"push: {ref} in {clock() - started:.1f} s")


def label_nodes(s: Session, stack: render.Stack) -> None:
    """Each label a stateful service is pinned by that no node carries yet goes to this
    manager's node: its data stays where it was made, until an operator labels another
    node (`docker node update --label-add dev.stackyard.<service>=true NODE`)."""
    if not stack.node_labels:
        return
    client = s.engine()
    carried = {
        key
        for node in client.nodes.list()
        for key, value in ((node.attrs.get("Spec") or {}).get("Labels") or {}).items()
        if value == "true"
    }
    missing = {key: "true" for key in stack.node_labels if key not in carried}
    if missing:
        s.run(swarmcmds.label_node(engine.node_id(client), missing))


def converge(s: Session, timeout: int, clock: Callable[[], float], sleep: Callable[[float], None]) -> None:
    """Wait until every service of the stack has converged, or fail naming those that
    have not, with the last log lines of their newest failed task."""
    client = s.engine()
    until = clock() + timeout
    while True:
        said = (pending_reason(client, service) for service in engine.services(client, s.env.project))
        pending = [why for why in said if why]
        if not pending:
            return
        if clock() > until:
            raise StackyardError(
                f"{s.env.project} did not converge within {timeout} s: {'; '.join(pending)}",
                f"`inv logs --env {s.env.name}` shows why; `inv ps --env {s.env.name}` what runs",
            )
        sleep(POLL)


def this_run(service: Mapping, tasks: Sequence[Mapping]) -> list[Mapping]:
    """The tasks of the job's current iteration (each deploy of it is one)."""
    iteration = ((service.get("JobStatus") or {}).get("JobIteration") or {}).get("Index", 0)
    return [t for t in tasks if (t.get("JobIteration") or {}).get("Index", 0) == iteration]


def pending_reason(client, service: dict) -> str:
    """Why the service has not converged, in words; "" when it has."""
    name = service["Spec"]["Name"]
    mode = service["Spec"].get("Mode") or {}
    found = engine.tasks(client, service["ID"])
    if "ReplicatedJob" in mode:
        found = this_run(service, found)  # those of earlier runs are listed too, complete
        wanted = int(mode["ReplicatedJob"].get("TotalCompletions") or 1)
        done = sum(1 for t in found if t["Status"]["State"] == "complete")
        failed = [t for t in found if t["Status"]["State"] in FAILED]
        active = [t for t in found if t["Status"]["State"] not in (*FAILED, "complete", "shutdown", "orphaned")]
        attempts = int(((service["Spec"]["TaskTemplate"].get("RestartPolicy") or {}).get("MaxAttempts")) or 0)
        if done < wanted and failed and not active and len(failed) > attempts:  # Swarm gave up on it
            why = failed[0]["Status"].get("Err") or failed[0]["Status"]["State"]
            raise StackyardError(
                f"job {name} failed after {len(failed)} attempt(s): {why}; its last lines:\n"
                + engine.service_logs(client, service["ID"], LOG_LINES).rstrip(),
                f"`docker service logs {name}` shows all of it; a job runs again when its spec changes",
            )
        return "" if done >= wanted else f"job {name}: {done}/{wanted} complete"
    wanted = int((mode.get("Replicated") or {}).get("Replicas", 1))
    running = sum(1 for t in found if t.get("DesiredState") == "running" and t["Status"]["State"] == "running")
    update = (service.get("UpdateStatus") or {}).get("State", "")
    if update in ("updating", "rollback_started"):
        return f"{name}: {update}"
    return "" if running >= wanted else f"{name}: {running}/{wanted} running"


def ps(s: Session) -> None:
    """The stack's services: replicas running of those wanted, image, ports, update state."""
    require_manager(s)  # else the engine's own refusal, which names no way out
    client = s.engine()
    rows = []
    for service in engine.services(client, s.env.project):
        spec = service["Spec"]
        mode = spec.get("Mode") or {}
        found = engine.tasks(client, service["ID"])
        if "ReplicatedJob" in mode:
            done = sum(1 for t in found if t["Status"]["State"] == "complete")
            replicas = f"job {done}/{mode['ReplicatedJob'].get('TotalCompletions', 1)} complete"
        else:
            wanted = (mode.get("Replicated") or {}).get("Replicas", 1)
            running = sum(1 for t in found if t.get("DesiredState") == "running" and t["Status"]["State"] == "running")
            replicas = f"{running}/{wanted}"
        image = spec["TaskTemplate"]["ContainerSpec"]["Image"].split("@")[0]
        ports = ", ".join(
            f"{p.get('PublishedPort')}->{p.get('TargetPort')}/{p.get('Protocol', 'tcp')}"
            for p in (spec.get("EndpointSpec") or {}).get("Ports") or []
        )
        update = (service.get("UpdateStatus") or {}).get("State", "") or "-"
        rows.append([spec["Name"].removeprefix(f"{s.env.project}_"), replicas, image, ports or "-", update])
    if not rows:
        s.print(f"no services in stack {s.env.project} ({s.env.name}); start it with `inv up --env {s.env.name}`")
        return
    s.print(table.render(["SERVICE", "REPLICAS", "IMAGE", "PORTS", "UPDATE"], rows))


def down(s: Session) -> None:
    """Remove the stack (services, networks, its secrets and configs); volumes stay."""
    require_manager(s)
    s.stream(swarmcmds.remove(s.env.project))
    if not s.dry:
        s.print(f"stack {s.env.project} removed; its volumes are kept (`docker volume ls` on each node)")


def init(s: Session, advertise_addr: str | None = None) -> None:
    """`inv swarm.init`: make the target engine a single-node swarm (its manager)."""
    state, _ = engine.manager(s.engine())
    if state == "active":
        s.print("this engine is in a swarm already: nothing to do (`docker node ls` lists its nodes)")
        return
    s.stream(swarmcmds.init(advertise_addr))


def join_token(s: Session) -> None:
    """`inv swarm.join-token`: the command a worker runs to join this swarm."""
    require_manager(s)
    token = s.read(swarmcmds.join_token()).stdout.strip()
    addr = engine.address(s.engine()) or "MANAGER-ADDRESS"
    s.print(f"docker swarm join --token {token} {addr}:2377")
