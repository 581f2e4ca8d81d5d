"""`inv hybrid`, the plan: the app's processes on the host (or in your IDE),
their dependencies in containers. Pure: which services stay in containers,
which variables are rewritten to published ports, and the steps in order, each
carrying the action it performs. hybrid/run.py walks the steps; `inv --dry
hybrid` prints them."""

from __future__ import annotations

import os
import pathlib
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from stackyard.commands import compose
from stackyard.config import Environment, Hybrid
from stackyard.core.command import Command
from stackyard.engine import state
from stackyard.env import file as envfile
from stackyard.errors import StackyardError

LOOPBACK = "127.0.0.1"
UP_TIMEOUT = 180  # seconds `up --wait` gives the dependencies to become healthy
# Under the project root, git-ignored with the rest of .stackyard/: `--ide` writes
# each process's variables there, real secrets included (mode 600), and the
# secret files of the processes that leave their containers live there while
# `inv hybrid` runs.
IDE_DIR = pathlib.Path(".stackyard") / "hybrid"
# Where a container has the secrets Compose gives it, by default.
CONTAINER_SECRETS = "/run/secrets/"


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
    port_variable: str | None = None  # "API_PORT" for port = "${API_PORT:-8000}"

    @property
    def command(self) -> Command:
        return Command(self.argv, env=self.env, cwd=self.cwd)


# ---- the steps: each one's text is what the plan and --dry print ------------------


@dataclass(frozen=True)
class CheckInstalled:
    """The host processes' programs are on the host's PATH."""

    programs: tuple[str, ...]
    hint: str  # how to install them

    @property
    def what(self) -> str:
        verb = "is" if len(self.programs) == 1 else "are"
        return f"check {', '.join(self.programs)} {verb} installed on the host"


@dataclass(frozen=True)
class RunCompose:
    """A compose command that must succeed before the host processes start."""

    what: str
    command: Command


@dataclass(frozen=True)
class CheckPort:
    """Nothing listens yet on the host port a process will listen on."""

    process: str
    port: int
    variable: str | None = None  # the variable the port comes from ("API_PORT"), to name in the fix

    @property
    def what(self) -> str:
        return f"check host port {self.port} is free for {self.process}"


@dataclass(frozen=True)
class SecretFile:
    """A compose secret a host process reads from a file, as its container
    would from /run/secrets/<name>: its value comes from the secret's
    `environment:` variable (or `content:`), or is copied from its `file:`."""

    name: str
    path: pathlib.Path  # where the host process reads it
    value: str | None = field(default=None, repr=False)
    source: pathlib.Path | None = None


@dataclass(frozen=True)
class WriteSecrets:
    """The secret files of the processes that leave their containers: written
    mode 600 into `directory` (mode 700) before they start, removed when
    `inv hybrid` ends."""

    directory: pathlib.Path
    files: tuple[SecretFile, ...]
    readers: tuple[str, ...]  # the processes that read them

    @property
    def what(self) -> str:
        names = ", ".join(f.name for f in self.files)
        return f"write the secret files {names} to {self.directory} (mode 600; removed when hybrid ends)"


@dataclass(frozen=True)
class StartProcess:
    process: Planned

    @property
    def what(self) -> str:
        p = self.process
        return f"start {p.name} on the host, in {p.cwd}: {Command(p.argv)}"


@dataclass(frozen=True)
class HandToIde:
    """A process you run from your IDE: its container is stopped like a host
    process's; its variables are written to `env_file` (mode 600, real values)
    for the IDE's run configuration, and its command, working directory and
    variables (masked) are printed."""

    process: Planned
    env_file: pathlib.Path
    rewrites: tuple[Rewrite, ...] = ()  # its variables rewritten for the host
    secret_files: pathlib.Path | None = None  # where its secret files are, if it reads any

    @property
    def what(self) -> str:
        p = self.process
        return (
            f"hand {p.name} to your IDE: write its variables to {self.env_file} (mode 600), "
            f"print its command, working directory and variables (secrets masked)"
        )


@dataclass(frozen=True)
class FollowLogs:
    """The containers' logs, as one more process in the host processes' stream."""

    command: Command

    @property
    def what(self) -> str:
        return "follow the containers' logs in the same stream"


@dataclass(frozen=True)
class Supervise:
    """The last step: wait for Ctrl-C or the first exit, stop every host
    process, then `down` the containers when asked."""

    down: Command | None
    hosts: bool = True  # any host process to stop (none: every process runs in the IDE)

    @property
    def what(self) -> str:
        if not self.hosts:
            end = ", then `down` the containers (volumes kept)" if self.down else "; the containers keep running"
            return f"wait for Ctrl-C{end}"
        end = " and `down` the containers (volumes kept)" if self.down else "; the containers keep running"
        return f"wait for Ctrl-C or a host process to exit, then stop every host process{end}"


Step = CheckInstalled | RunCompose | CheckPort | WriteSecrets | HandToIde | StartProcess | FollowLogs | Supervise


@dataclass(frozen=True)
class Plan:
    env_name: str
    steps: tuple[Step, ...]
    rewrites: tuple[Rewrite, ...] = ()

    @property
    def processes(self) -> tuple[Planned, ...]:
        """The host processes, in the order they start."""
        return tuple(step.process for step in self.steps if isinstance(step, StartProcess))

    @property
    def ide(self) -> tuple[Planned, ...]:
        """The processes you run from your IDE."""
        return tuple(step.process for step in self.steps if isinstance(step, HandToIde))

    @property
    def secrets(self) -> WriteSecrets | None:
        """The step that writes the secret files, if any process reads one."""
        return next((step for step in self.steps if isinstance(step, WriteSecrets)), None)

    def text(self, mask: Callable[[str], str] = lambda text: text) -> str:
        lines = [f"hybrid plan for {self.env_name}:"]
        lines += [f"  {n}. {mask(step.what)}" for n, step in enumerate(self.steps, 1)]
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


def ide_env_file(ide_dir: pathlib.Path, env_name: str, process: str) -> pathlib.Path:
    """Where `--ide` writes a process's variables for the IDE."""
    return ide_dir / f"{env_name}-{process}.env"


def secrets_dir(ide_dir: pathlib.Path, env_name: str) -> pathlib.Path:
    """Where the host processes' secret files are while `inv hybrid` runs (one
    place per environment, so that an IDE's env file names the same paths each run)."""
    return ide_dir / f"{env_name}-secrets"


def secret_paths(service: Mapping, secrets: Mapping[str, Mapping]) -> dict[str, str]:
    """Container path -> compose secret, for one service: where each secret
    it lists is mounted, and /run/secrets/<name> for every secret of the project
    (a service may get the file another way, e.g. from a volume)."""
    paths = {CONTAINER_SECRETS + name: name for name in secrets}
    for entry in service.get("secrets") or []:
        source = entry if isinstance(entry, str) else entry.get("source", "")
        target = source if isinstance(entry, str) else entry.get("target") or source
        if source in secrets:
            paths[target if target.startswith("/") else CONTAINER_SECRETS + target] = source
    return paths


def secret_file(
    process: str, key: str, name: str, secret: Mapping, lookup: Mapping[str, str], directory: pathlib.Path
) -> SecretFile:
    """Where a host process reads secret `name`, and where its value comes from:
    the config's top-level `secrets` entry. An error names the secret and the fix."""
    path = directory / name
    if secret.get("environment"):
        variable = secret["environment"]
        if variable not in lookup:
            raise StackyardError(
                f"{process}'s {key} is the secret {name}, whose variable {variable} is not set",
                f"set {variable} in an env file or the shell (`inv env.init` writes the local env file)",
            )
        return SecretFile(name, path, value=lookup[variable])
    if secret.get("file"):
        return SecretFile(name, path, source=pathlib.Path(secret["file"]))
    if "content" in secret:
        return SecretFile(name, path, value=str(secret["content"]))
    raise StackyardError(
        f"{process}'s {key} is the secret {name}, which has no environment, file or content here",
        f"give secrets.{name} a source a host process can read (`environment: VAR` or `file: PATH`)",
    )


def make_plan(
    env: Environment,
    services: Mapping[str, dict],
    hybrid: Hybrid,
    host: Sequence[str],
    lookup: Mapping[str, str],
    *,
    ide: Sequence[str] = (),
    ide_dir: pathlib.Path = IDE_DIR,
    logs: bool = False,
    down: bool = False,
    compose_file_hint: str = "",
    secrets: Mapping[str, Mapping] | None = None,
) -> Plan:
    """Everything `inv hybrid` will do, computed from the rendered compose config
    (`services`, and its top-level `secrets`). `host` processes are started on
    the host; `ide` ones are left for you to start from your IDE (their
    variables written under `ide_dir`). A variable whose value is the path of a
    secret in its container (/run/secrets/<name>) gets the path of a file
    written with the secret's value under `ide_dir` instead."""
    unknown = [h for h in (*host, *ide) if h not in hybrid.processes]
    if unknown:
        raise StackyardError(
            f"no host command for {', '.join(unknown)}",
            f"known: {', '.join(hybrid.processes)} ([tool.stackyard.hybrid.processes])",
        )
    both = [name for name in host if name in ide]
    if both:
        raise StackyardError(
            f"{', '.join(both)} given to both --host and --ide",
            "each runs in one place: on the host (stackyard starts it) or in your IDE (you do)",
        )
    leaving = set(host) | set(ide)  # every process that leaves its container
    # Only compose services have containers to stop (a host process may be an extra one).
    stop = sorted((leaving & set(services)) | dependents(services, leaving))
    before = tuple(b for b in hybrid.before if b in services)
    containers = tuple(sorted(set(services) - set(stop) - set(before)))
    ports = container_ports(services, containers)
    secrets = secrets or {}
    directory = secrets_dir(ide_dir, env.name)
    processes, rewrites = [], []
    files: dict[str, SecretFile] = {}
    readers: list[str] = []
    for name in (*host, *ide):
        spec = hybrid.processes[name]
        svc_env = {k: v for k, v in (services.get(name, {}).get("environment") or {}).items() if v is not None}
        changed: dict[str, str] = {}
        in_container = secret_paths(services.get(name, {}), secrets)
        for key, value in svc_env.items():
            if (secret := in_container.get(str(value))) is not None:
                files[secret] = files.get(secret) or secret_file(name, key, secret, secrets[secret], lookup, directory)
                changed[key] = str(files[secret].path)
                readers.append(name)
                rewrites.append(Rewrite(name, key, str(value), changed[key], ()))
                continue
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
        variable = state.variable_of(spec.port or "")
        processes.append(Planned(name, argv, str(hybrid.cwd), proc_env, port, variable))
    on_host, in_ide = processes[: len(host)], processes[len(host) :]
    handed = [
        HandToIde(
            p,
            ide_env_file(ide_dir, env.name, p.name),
            tuple(r for r in rewrites if r.process == p.name),
            directory if p.name in readers else None,
        )
        for p in in_ide
    ]
    write = WriteSecrets(directory, tuple(files.values()), tuple(dict.fromkeys(readers))) if files else None
    steps = _steps(
        env, stop, containers, before, on_host, handed, write, logs=logs, down=down, hint=_install_hint(hybrid)
    )
    return Plan(env.name, steps, tuple(rewrites))


def _with_referenced(ports: dict[str, dict[int, tuple[str, int] | None]], value: str):
    """Ports a value refers to that the config does not list are unpublished ones."""
    out = {}
    for svc, svc_ports in ports.items():
        merged = dict(svc_ports)
        for port in _referenced_ports(value, svc):
            merged.setdefault(port, None)
        out[svc] = merged
    return out


def _steps(
    env: Environment,
    stop: Sequence[str],
    containers: Sequence[str],
    before: Sequence[str],
    processes: Sequence[Planned],
    handed: Sequence[HandToIde],
    write: WriteSecrets | None,
    *,
    logs: bool,
    down: bool,
    hint: str,
) -> tuple[Step, ...]:
    """In the order they run: nothing changes before every check that can be
    made first has passed, the host ports (the IDE's too) are checked once the
    containers that held them are stopped, the secret files exist before any
    process (or IDE) may read them, and what the IDE needs is printed before
    the host processes' output begins."""
    steps: list[Step] = []
    if processes:
        steps.append(CheckInstalled(tuple(dict.fromkeys(p.argv[0] for p in processes)), hint))
    if stop:
        steps.append(
            RunCompose(f"stop containers that run on the host instead: {', '.join(stop)}", compose.stop(env, stop))
        )
    if containers:
        steps.append(
            RunCompose(
                f"start in containers, wait until healthy: {', '.join(containers)}",
                compose.up(env, containers, build=True, wait=True, timeout=UP_TIMEOUT),
            )
        )
    steps += [
        RunCompose(f"run {b} once in a container (migrations) and wait for it to succeed", compose.run_once(env, b))
        for b in before
    ]
    steps += [CheckPort(p.name, p.port, p.port_variable) for p in (*processes, *(h.process for h in handed)) if p.port]
    if write:
        steps.append(write)
    steps += handed
    steps += [StartProcess(p) for p in processes]
    if logs:
        steps.append(FollowLogs(compose.logs(env, containers, follow=True, tail=0, color=False)))
    steps.append(Supervise(compose.down(env) if down else None, hosts=bool(processes)))
    return tuple(steps)


def _install_hint(hybrid: Hybrid) -> str:
    if hybrid.requirements:
        return "install the app's packages on the host: pip install " + " ".join(f"-r {r}" for r in hybrid.requirements)
    return "install the app's packages on the host"
