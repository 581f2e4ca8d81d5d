"""`inv ps`: what runs, its health and where it answers, and whether the
environment is up. Kept apart from the operations that change things, so that
a status read imports little."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor

from stackyard.core import table
from stackyard.engine import state
from stackyard.errors import StackyardError
from stackyard.session import Session
from stackyard.swarm import run as swarm

# States of a one-shot service (a migration) that are not a problem: running,
# done, or not started yet (then what waits for it is not running either, and says so).
ONE_SHOT_OK = {"running", "created"}


def env_option(s: Session) -> str:
    """` --env NAME` for a command we suggest, unless a bare `inv ...` picks this environment anyway."""
    implied = os.environ.get("STACKYARD_ENV") or s.project.default_env
    return "" if s.env.name == implied else f" --env {s.env.name}"


def observe(s: Session) -> tuple[list[state.Container], dict | None]:
    """The project's containers and its rendered config (which services it should run).
    Read side by side: the config costs a compose process, the containers an
    Engine API call. The config is None when it cannot be rendered (e.g. a secret
    is not set): the verdict then goes by the containers alone."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        config = pool.submit(s.config)
        containers = s.containers()
        try:
            return containers, config.result()
        except StackyardError:
            return containers, None


def problem(c: state.Container, one_shot: bool) -> str | None:
    """What is wrong with one container, as a table would say it; None when nothing."""
    if one_shot:
        done = c.state == "exited" and c.exit_code == 0
        return None if done or c.state in ONE_SHOT_OK else _state(c)
    if c.state != "running":
        return _state(c)
    if c.health in ("unhealthy", "starting"):
        return c.health
    return None


def problems(containers: Sequence[state.Container], config: Mapping | None) -> dict[str, str]:
    """Services that do not run as they should: service -> what is wrong ("created",
    "exited (1)", "unhealthy", "no container"). A long-running service must be running,
    and healthy where it has a check; a one-shot (others wait for it to complete) must
    not have failed. Services are the config's (but those scaled to 0), else those that
    have a container."""
    one_shots = state.one_shot_services(dict(config or {})) | {name for c in containers for name in c.waits_for}
    expected = sorted(set(state.services(dict(config))) - state.scaled_to_zero(config)) if config else []
    out: dict[str, str] = {}
    for service in sorted(set(expected) | {c.service for c in containers}):
        mine = [c for c in containers if c.service == service]
        if not mine:
            if service not in one_shots:
                out[service] = "no container"
            continue
        found = [p for c in mine if (p := problem(c, service in one_shots))]
        if found:
            out[service] = found[0]
    return out


def _state(c: state.Container) -> str:
    return c.state + (f" ({c.exit_code})" if c.state == "exited" else "")


def entry_url(s: Session, containers: Sequence[state.Container]) -> str | None:
    """The app's URL: configured, else the entry service's (or the first) HTTP port."""
    if s.env.url:
        return s.env.url.rstrip("/")
    ports = [p for c in containers for p in c.ports if p.url().startswith("http")]
    if s.env.entry:
        ports = [p for p in ports if p.service == s.env.entry] or ports
    return ports[0].url() if ports else None


def status_rows(containers: Sequence[state.Container]) -> list[list[str]]:
    rows = []
    for c in containers:
        urls = " ".join(p.shown() for p in c.ports) or "-"
        rows.append([c.service, _state(c), c.health or "-", urls])
    return rows


def verdict(s: Session, containers: Sequence[state.Container], config: Mapping | None) -> str:
    """The line under the table: up (and where), or which services do not run and what to do."""
    wrong = problems(containers, config)
    if not wrong:
        url = entry_url(s, containers)
        where = f": {url}  (health: {url}{s.env.health_path})" if url else ""
        return f"{s.env.name} is up{where}"
    listed = ", ".join(f"{service} {what}" for service, what in wrong.items())
    # The logs to read: of what failed, not of what waits for it (created) or was never made.
    failed = [svc for svc, what in wrong.items() if what not in ("created", "no container")]
    failed = failed or [svc for svc, what in wrong.items() if what != "no container"]
    if failed:
        fix = f"`inv logs{env_option(s)} -s {','.join(failed)}` shows why"
    else:
        fix = f"`inv up{env_option(s)}` starts them"
    return f"{s.env.name} is not up: {listed}; {fix}"


def print_status(s: Session, containers: Sequence[state.Container], config: Mapping | None = None) -> None:
    if not containers:
        s.print(f"no containers in project {s.env.project} ({s.env.name}); start it with `inv up{env_option(s)}`")
        return
    s.print(table.render(["SERVICE", "STATE", "HEALTH", "PUBLISHED"], status_rows(containers)))
    s.print("\n" + verdict(s, containers, config))


def ps(s: Session, *, as_json: bool = False) -> None:
    if s.env.orchestrator == "swarm" and not as_json:
        swarm.ps(s)
        return
    if as_json:
        s.print(json.dumps([container_dict(c) for c in s.containers()], indent=2))
    else:
        print_status(s, *observe(s))


def container_dict(c: state.Container) -> dict:
    return {
        "service": c.service,
        "name": c.name,
        "state": c.state,
        "health": c.health,
        "exit_code": c.exit_code,
        "urls": [p.url() for p in c.ports],
    }
