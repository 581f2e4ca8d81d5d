"""`inv hybrid`, the plan: the app's processes on the host, their dependencies
in containers. Pure: which services stay in containers, which variables are
rewritten to published ports, which commands run (`--dry` prints it).
hybrid_run.py executes it."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from stackyard.commands import compose
from stackyard.config import Environment, Hybrid
from stackyard.core.command import Command
from stackyard.engine import state
from stackyard.env import file as envfile
from stackyard.errors import StackyardError

LOOPBACK = "127.0.0.1"


@dataclass(frozen=True)
class Rewrite:
    process: str
    key: str
    before: str
    after: str
    services: tuple[str, ...]


@dataclass(frozen=True)
class Planned:
    name: str
    argv: tuple[str, ...]
    cwd: str
    env: dict[str, str]  # what the process gets on top of the inherited environment
    port: int | None


@dataclass(frozen=True)
class Plan:
    env_name: str
    host: tuple[str, ...]
    stop: tuple[str, ...]  # containers that must not run (host services and what depends on them)
    containers: tuple[str, ...]  # started with up --wait
    before: tuple[str, ...]  # one-shots run to completion first (migrations)
    processes: tuple[Planned, ...]
    rewrites: tuple[Rewrite, ...] = ()
    logs: bool = False
    down: bool = False
    requirements: tuple[str, ...] = field(default=())

    def text(self, mask=lambda s: s) -> str:
        lines = [f"hybrid plan for {self.env_name}:"]
        n = 1
        if self.stop:
            lines.append(f"  {n}. stop containers that run on the host instead: {', '.join(self.stop)}")
            n += 1
        lines.append(f"  {n}. start in containers, wait until healthy: {', '.join(self.containers) or '(none)'}")
        n += 1
        for b in self.before:
            lines.append(f"  {n}. run {b} once in a container (migrations) and wait for it to succeed")
            n += 1
        for p in self.processes:
            if p.port:
                lines.append(f"  {n}. check host port {p.port} is free for {p.name}")
                n += 1
        for p in self.processes:
            lines.append(f"  {n}. start {p.name} on the host, in {p.cwd}: {mask(str(Command(p.argv)))}")
            n += 1
        if self.logs:
            lines.append(f"  {n}. follow the containers' logs in the same stream")
            n += 1
        end = (
            "stop the host processes and `down` the containers (volumes kept)"
            if self.down
            else "stop the host processes; the containers keep running"
        )
        lines.append(f"  {n}. on Ctrl-C or when one process exits: {end}")
        if self.rewrites:
            lines.append("rewritten for the host:")
            for r in self.rewrites:
                lines.append(f"  {r.process}: {r.key}: {mask(r.before)} -> {mask(r.after)}")
        return "\n".join(lines)


# ---- planning (pure) ---------------------------------------------------------


def dependents(services: Mapping[str, dict], roots: set[str]) -> set[str]:
    """Services that depend, directly or not, on any of `roots` (roots excluded)."""
    out: set[str] = set()
    changed = True
    while changed:
        changed = False
        for name, svc in services.items():
            if name in out or name in roots:
                continue
            deps = set((svc.get("depends_on") or {}).keys())
            if deps & (roots | out):
                out.add(name)
                changed = True
    return out


def published(services: Mapping[str, dict]) -> dict[tuple[str, int], tuple[str, int]]:
    """(service, container port) -> (host address, host port), from the rendered config."""
    return {
        (p.service, p.target): (LOOPBACK if p.host_ip in ("", "0.0.0.0", "::") else p.host_ip, p.published)
        for p in state.published_ports({"services": services})
    }


# Not in a URL's userinfo: in postgres://postgres:1234@postgres:5432 the first
# "postgres:1234" is a user and a password, not a host and a port.
_HOSTPORT = r"(?<![\w.-]){svc}:(?P<port>\d+)(?!\d)(?![^/?#\s,@]*@)"


def rewrite_value(value: str, targets: Mapping[str, dict[int, tuple[str, int] | None]]) -> tuple[str, set[str]]:
    """Every `service:port` of a containerised service in `value` (URLs with
    credentials, query strings, several hosts) -> its published address.
    `targets[service][port]` is None when that port is not published: an error."""
    used: set[str] = set()
    for svc, ports in targets.items():
        pattern = re.compile(_HOSTPORT.format(svc=re.escape(svc)))

        def sub(m: re.Match, svc=svc, ports=ports) -> str:
            port = int(m.group("port"))
            if port not in ports:
                return m.group(0)
            addr = ports[port]
            if addr is None:
                raise _Unpublished(svc, port)
            used.add(svc)
            return f"{addr[0]}:{addr[1]}"

        value = pattern.sub(sub, value)
    return value, used


class _Unpublished(Exception):
    def __init__(self, service: str, port: int):
        self.service, self.port = service, port


def container_ports(services: Mapping[str, dict], keep: Sequence[str]) -> dict[str, dict[int, tuple[str, int] | None]]:
    """For each service that stays in a container: its container ports, published or not."""
    pub = published(services)
    out: dict[str, dict[int, tuple[str, int] | None]] = {}
    for name in keep:
        svc = services.get(name, {})
        known = {int(p["target"]) for p in svc.get("ports") or []} | {int(e) for e in _expose(svc)}
        out[name] = {port: pub.get((name, port)) for port in known}
        out[name].update({port: addr for (s, port), addr in pub.items() if s == name})
    return out


def _expose(svc: dict) -> list[str]:
    return [str(e).split("/")[0] for e in svc.get("expose") or [] if str(e).split("/")[0].isdigit()]


WELL_KNOWN = {
    "postgres": 5432,
    "postgresql": 5432,
    "redis": 6379,
    "rediss": 6379,
    "amqp": 5672,
    "mysql": 3306,
    "mongodb": 27017,
    "http": 80,
    "https": 443,
    "kafka": 9092,
}


def _referenced_ports(value: str, svc: str) -> list[int]:
    return [int(m.group("port")) for m in re.finditer(_HOSTPORT.format(svc=re.escape(svc)), value)]


def make_plan(
    env: Environment,
    services: Mapping[str, dict],
    hybrid: Hybrid,
    host: Sequence[str],
    lookup: Mapping[str, str],
    *,
    logs: bool = False,
    down: bool = False,
    compose_file_hint: str = "",
) -> Plan:
    """Everything `inv hybrid` will do, computed from the rendered compose config."""
    unknown = [h for h in host if h not in hybrid.processes]
    if unknown:
        raise StackyardError(
            f"no host command for {', '.join(unknown)}",
            f"known: {', '.join(hybrid.processes)} ([tool.stackyard.hybrid.processes])",
        )
    host_set = set(host)
    # Only compose services have containers to stop (a host process may be an extra one).
    stop = sorted((host_set & set(services)) | dependents(services, host_set))
    before = tuple(b for b in hybrid.before if b in services)
    containers = tuple(sorted(set(services) - set(stop) - set(before)))
    ports = container_ports(services, containers)
    processes, rewrites = [], []
    for name in host:
        spec = hybrid.processes[name]
        svc_env = {k: v for k, v in (services.get(name, {}).get("environment") or {}).items() if v is not None}
        changed: dict[str, str] = {}
        for key, value in svc_env.items():
            try:
                new, used = rewrite_value(str(value), _with_referenced(ports, str(value)))
            except _Unpublished as u:
                where = f" in {compose_file_hint}" if compose_file_hint else ""
                raise StackyardError(
                    f"{name}'s {key} points at {u.service}:{u.port}, but {u.service} publishes no port in {env.name}",
                    f'publish it{where}: ports: ["127.0.0.1:{u.port}:{u.port}"] under {u.service}',
                ) from None
            if used:
                changed[key] = new
                rewrites.append(Rewrite(name, key, str(value), new, tuple(sorted(used))))
        proc_env = {**{k: str(v) for k, v in svc_env.items()}, **changed}
        pythonpath = os.pathsep.join(p for p in (str(hybrid.cwd), lookup.get("PYTHONPATH", "")) if p)
        proc_env["PYTHONPATH"] = pythonpath
        scope = {**lookup, **proc_env}
        argv = tuple(envfile.interpolate(a, scope) for a in spec.command)
        port = None
        if spec.port:
            text = envfile.interpolate(spec.port, scope)
            if not text.isdigit():
                raise StackyardError(
                    f"[tool.stackyard.hybrid.processes.{name}] port {spec.port!r} is not a number here ({text!r})"
                )
            port = int(text)
        processes.append(Planned(name, argv, str(hybrid.cwd), proc_env, port))
    return Plan(
        env.name,
        tuple(host),
        tuple(stop),
        containers,
        before,
        tuple(processes),
        tuple(rewrites),
        logs,
        down,
        hybrid.requirements,
    )


def _with_referenced(ports: dict[str, dict[int, tuple[str, int] | None]], value: str):
    """Ports a value refers to that the config does not list are unpublished ones."""
    out = {}
    for svc, svc_ports in ports.items():
        merged = dict(svc_ports)
        for port in _referenced_ports(value, svc):
            merged.setdefault(port, None)
        out[svc] = merged
    return out


# ---- preflight and execution ----------------------------------------------------


def missing_commands(plan: Plan, path: str | None = None) -> list[str]:
    return [p.argv[0] for p in plan.processes if shutil.which(p.argv[0], path=path) is None]


def install_hint(plan: Plan) -> str:
    if plan.requirements:
        return "install the app's packages on the host: pip install " + " ".join(f"-r {r}" for r in plan.requirements)
    return "install the app's packages on the host"


def steps_commands(env: Environment, plan: Plan) -> dict[str, list[Command]]:
    """The compose commands of each phase (pure: what --dry prints)."""
    return {
        "stop": [compose.stop(env, plan.stop)] if plan.stop else [],
        "up": [compose.up(env, plan.containers, build=True, wait=True)] if plan.containers else [],
        "before": [compose.run_once(env, b) for b in plan.before],
        "logs": [compose.logs(env, plan.containers, follow=True, tail=0, color=False)] if plan.logs else [],
        "down": [compose.down(env)] if plan.down else [],
    }
