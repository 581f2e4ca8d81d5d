"""`inv dev --watch`: the stack up as `inv dev` brings it, then Compose's watch in the
foreground. As files are saved, Compose copies them into the running containers
(sync), restarts a service after its copy (sync+restart), or rebuilds the image
and recreates the services that run it (rebuild), as the `develop.watch` rules of
the compose files say. Ctrl-C ends the watch; the stack keeps running.

The rules live in an override merged last, `compose/compose.<env>.watch.yaml`
(a watched path must not be bind-mounted too: Compose skips it), or in the
environment's own compose files."""

from __future__ import annotations

import dataclasses
import os
import pathlib
from collections.abc import Iterable

from stackyard.commands import compose
from stackyard.config import Environment, Project
from stackyard.core import table
from stackyard.engine import diagnose
from stackyard.errors import StackyardError
from stackyard.session import Session
from stackyard.stack import ops
from stackyard.stack.status import env_option

#: The first Compose release that has watch, and each of its actions.
WATCH_SINCE = (2, 22, 0)
ACTION_SINCE = {
    "sync": (2, 22, 0),
    "rebuild": (2, 22, 0),
    "sync+restart": (2, 23, 0),
    "restart": (2, 32, 0),
    "sync+exec": (2, 32, 0),
}
#: From this release on, Compose has every action above.
EVERY_ACTION_SINCE = max(ACTION_SINCE.values())


@dataclasses.dataclass(frozen=True)
class Rule:
    """One `develop.watch` rule of a rendered config."""

    service: str
    action: str
    path: str  # absolute, as Compose renders it
    ignore: tuple[str, ...] = ()  # patterns under path


def override(project: Project, env: Environment) -> pathlib.Path:
    """Where the environment's watch override is looked for."""
    return project.compose_dir / f"compose.{env.name}.watch.yaml"


def watching(project: Project, env: Environment) -> Environment:
    """The environment with its watch override merged last, when it has one."""
    extra = override(project, env)
    if not extra.is_file() or extra in env.files:
        return env
    return dataclasses.replace(env, files=(*env.files, extra))


def rules(cfg: dict) -> list[Rule]:
    """Every `develop.watch` rule of a rendered config, service by service."""
    return [
        Rule(name, rule.get("action", ""), rule.get("path", ""), tuple(rule.get("ignore") or ()))
        for name, service in sorted(cfg.get("services", {}).items())
        for rule in (service.get("develop") or {}).get("watch") or ()
    ]


def lacking(version: tuple[int, ...], actions: Iterable[str]) -> list[str]:
    """The watch actions this Compose version does not have, as `restart (2.32)`."""
    return [
        f"{a} ({'.'.join(map(str, ACTION_SINCE[a][:2]))})"
        for a in sorted(set(actions))
        if a in ACTION_SINCE and version < ACTION_SINCE[a]
    ]


def summary(found: Iterable[Rule], root: pathlib.Path) -> str:
    """What the watch does, a line per service and action: the paths relative to the project."""
    grouped: dict[tuple[str, str], list[str]] = {}
    for r in found:
        path = os.path.relpath(r.path, root) if pathlib.Path(r.path).is_relative_to(root) else r.path
        but = f" (not {', '.join(r.ignore)})" if r.ignore else ""
        grouped.setdefault((r.service, r.action), []).append(path + but)
    rows = [[service, action, ", ".join(paths)] for (service, action), paths in grouped.items()]
    return table.render(["SERVICE", "ACTION", "ON A CHANGE TO"], rows)


def run(s: Session, *, timeout: int = 180) -> None:
    """Build, start and wait as `inv dev` does (its watch override merged), then watch
    in the foreground until Ctrl-C; the stack is left running."""
    if s.env.orchestrator == "swarm" or s.env.protected:
        why = "runs on Swarm" if s.env.orchestrator == "swarm" else "is protected"
        raise StackyardError(
            f"--watch copies files into running containers, a dev loop: not for {s.env.name}, which {why}",
            f"`inv up --env {s.env.name}` starts it; `inv dev --watch` watches dev",
        )
    ws = s.for_env(watching(s.project, s.env))
    ops.up(ws, build=True, timeout=timeout)
    found = rules(ws.config())
    if not found:
        raise StackyardError(
            f"{s.env.name} is up, but no service of it has `develop.watch` rules: nothing to watch",
            f"add them in {override(s.project, s.env).relative_to(s.project.root)} (README: Dev loop)",
        )
    version = diagnose.parse_version(ws.read(compose.version()).stdout)
    missing = lacking(version, (r.action for r in found))
    if missing:
        raise StackyardError(
            f"{s.env.name} is up, but Compose {'.'.join(map(str, version))} lacks the watch "
            f"action(s) {', '.join(missing)} of its rules",
            "upgrade docker-compose-plugin (`inv doctor` shows what it has)",
        )
    ws.print(
        f"\nwatching {s.env.name}: Ctrl-C ends the watch, the stack keeps running "
        f"(`inv logs --follow{env_option(s)}` shows the services' output)"
    )
    ws.print(summary(found, s.project.root))
    ws.stream(compose.watch(ws.env))
