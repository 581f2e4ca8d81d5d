"""The project's layout: conventions first, `[tool.stackyard]` for the rest.

Conventions: `compose/compose.yaml` + `compose/compose.<env>.yaml` for each
environment, env files in `env/`. `[tool.stackyard]` in pyproject.toml can name
environments, their files, profiles, URL and health path, the project name,
what runs after a database restore, and which service plays which role
(`[tool.stackyard.roles]`; what it does not state is detected, engine/roles.py).
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import pathlib
import re
import tomllib
from dataclasses import dataclass, field
from typing import Any

from stackyard.errors import ConfigError


class TableList(list):
    """Type marker for _check_keys: a list of tables (`[{...}, ...]` or `[[...]]`)."""


TOP_KEYS = {
    "name": str,
    "compose_dir": str,
    "env_dir": str,
    "default_env": str,
    "environments": dict,
    "hybrid": dict,
    "smoke": dict,
    "db": dict,
    "roles": dict,
}
SMOKE_KEYS = {
    "checks": list,  # smoke checks to run, by name (stackyard.smoke.checks.CHECKS, then the modules')
    "modules": list,  # the project's own checks: modules imported from the project root, each with CHECKS
}
HYBRID_KEYS = {
    "cwd": str,  # where host processes run, relative to the project root
    "before": list,  # one-shot services (migrations) run in a container first
    "default": list,  # processes run on the host when --host is not given
    "requirements": list,  # files to `pip install -r` when a host command is missing
    "processes": dict,  # name -> {command = [...], port = "..."}
}
PROCESS_KEYS = {"command": list, "port": str}
DB_KEYS = {
    "after_restore": TableList,  # commands run once a backup is restored over the database
    "keep_backups": int,  # backups kept per compose project, the newest (0: all)
}
KEEP_BACKUPS = 10
HOOK_KEYS = {"service": str, "command": list}  # `compose exec` of command (argv) in the running service
ENV_KEYS = {
    "files": list,  # compose files, relative to compose_dir, merged in order
    "profiles": list,  # compose profiles enabled for this environment
    "project": str,  # compose project name (default: <name>-<env>)
    "url": str,  # public URL of the app in this environment
    "entry": str,  # service whose published port is the app's URL when `url` is not set
    "health_path": str,  # path of the health endpoint under the URL
    "protected": bool,  # data removal needs a second explicit flag (default: true for prod)
    "host": str,  # the target engine, DOCKER_HOST form (ssh://deploy@example.com); default: the docker CLI's
    "build_on": str,  # where a deploy builds: "local" (this machine's engine, then shipped) or "host" (the target's)
    "orchestrator": str,  # "compose" (one engine, the default) or "swarm" (`docker stack`, a rendered stack file)
    "nodes": list,  # swarm: the engines of the other nodes (DOCKER_HOST form), which images are shipped to
    "registry": str,  # swarm: where the images are pushed and the nodes pull them (registry.example.com/team)
}
#: The schemes a target engine's address may have (DOCKER_HOST's).
HOST_SCHEMES = ("ssh://", "tcp://", "unix://")
BUILD_ON = ("local", "host")
ORCHESTRATORS = ("compose", "swarm")
ENV_NAME = re.compile(r"^[a-z][a-z0-9_-]*$")
# A registry and repository path prefix as an image reference starts: host[:port][/path].
REGISTRY = re.compile(r"^[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]+)?(/[a-z0-9]+([._-]+[a-z0-9]+)*)*$")
# [tool.stackyard.roles]: what it does not state is detected from the compose config.
ROLES_KEYS = {
    "web": dict,  # the service behind the proxy, switched container by container on a deploy
    "proxy": dict,  # the reverse proxy reloaded to move the traffic
    "database": dict,  # what db.* and the deploy's backup act on
    "migrate": str,  # the one-shot migration service, run before the new web containers
    "workers": list,  # recreated on a deploy, after the switch
    "images": list,  # the services whose images the project builds
}
WEB_KEYS = {"service": str, "port": int, "health_path": str}
PROXY_KEYS = {
    "service": str,
    "kind": str,
    "config": str,  # caddy: its Caddyfile; nginx: the upstream file; traefik: the dynamic config file
    "upstream": str,  # nginx: the upstream block's name; traefik: the service's name (default: the web service)
}
DATABASE_KEYS = {"service": str, "kind": str}
PROXY_KINDS = ("caddy", "nginx", "traefik")
DATABASE_KINDS = ("postgres", "mysql", "mariadb", "mongodb")


@dataclass(frozen=True)
class Environment:
    name: str
    files: tuple[pathlib.Path, ...]
    env_files: tuple[pathlib.Path, ...]
    project: str
    profiles: tuple[str, ...] = ()
    url: str | None = None
    entry: str | None = None
    health_path: str = "/health"
    protected: bool = False
    #: The target engine (DOCKER_HOST form); None: the docker CLI's default, this machine's.
    host: str | None = None
    #: Where a deploy to a target other than this machine's engine builds: "local" or "host".
    build_on: str = "local"
    #: What runs the stack: "compose" (Docker Compose on one engine) or "swarm" (`docker stack`).
    orchestrator: str = "compose"
    #: Swarm: the engines of the nodes besides the manager, which the images are shipped to
    #: (no registry needed); () when there are none or a registry serves them.
    nodes: tuple[str, ...] = ()
    #: Swarm: the registry the built images are pushed to and every node pulls from
    #: (`registry.example.com/team`); None: they are shipped (`nodes`).
    registry: str | None = None


@dataclass(frozen=True)
class HostProcess:
    name: str  # also the compose service it replaces
    command: tuple[str, ...]  # argv; ${VAR} and ${VAR:-default} are filled from the environment
    port: str | None = None  # the host port it listens on ("${API_PORT:-8000}"), checked before start


@dataclass(frozen=True)
class Hybrid:
    cwd: pathlib.Path
    before: tuple[str, ...] = ()
    default: tuple[str, ...] = ()
    requirements: tuple[str, ...] = ()
    processes: dict[str, HostProcess] = field(default_factory=dict)


@dataclass(frozen=True)
class Hook:
    """A command run with `compose exec` in a running service (e.g. drop a cache
    after a restore); it reads any secret it needs inside the container."""

    service: str
    command: tuple[str, ...]


@dataclass(frozen=True)
class Web:
    service: str
    port: int  # the container port the proxy sends requests to
    health_path: str | None = None  # None: the environment's health_path


@dataclass(frozen=True)
class Proxy:
    service: str
    kind: str  # one of PROXY_KINDS (the deploy's switch adapter)
    config: str | None = None  # None: the adapter's default path in the container
    upstream: str | None = None  # None: the web service's name


@dataclass(frozen=True)
class Database:
    service: str
    kind: str  # postgres, mysql, mariadb, mongodb: backup and restore support postgres


@dataclass(frozen=True)
class Roles:
    """Which service plays which part; None or () where no service does."""

    web: Web | None = None
    proxy: Proxy | None = None
    database: Database | None = None
    migrate: str | None = None
    workers: tuple[str, ...] = ()
    images: tuple[str, ...] = ()


@dataclass(frozen=True)
class Project:
    root: pathlib.Path
    name: str
    compose_dir: pathlib.Path
    env_dir: pathlib.Path
    default_env: str
    environments: dict[str, Environment] = field(default_factory=dict)
    hybrid: Hybrid | None = None
    smoke_checks: tuple[str, ...] = ()
    after_restore: tuple[Hook, ...] = ()
    #: [tool.stackyard.roles] as stated, checked: role -> its table, service name or list.
    roles: dict[str, Any] = field(default_factory=dict)
    smoke_modules: tuple[str, ...] = ()
    #: [tool.stackyard.db] keep_backups: how many backups of each compose project are kept (0: every one).
    keep_backups: int = KEEP_BACKUPS

    def environment(self, name: str | None) -> Environment:
        """The named environment (or STACKYARD_ENV, or the default); an unknown one is an error."""
        name = name or os.environ.get("STACKYARD_ENV") or self.default_env
        if name not in self.environments:
            known = ", ".join(sorted(self.environments)) or "none"
            raise ConfigError(
                f"unknown environment {name!r}",
                f"known: {known} (add compose/compose.{name}.yaml or [tool.stackyard.environments.{name}])",
            )
        env = self.environments[name]
        for f in env.files:
            if not f.is_file():
                raise ConfigError(
                    f"compose file {f.relative_to(self.root) if f.is_relative_to(self.root) else f} "
                    f"of environment {name!r} not found",
                    "create it, or fix `files` in [tool.stackyard.environments." + name + "]",
                )
        # A whole-project override, for tests and CI that need a unique name.
        if os.environ.get("STACKYARD_PROJECT"):
            env = dataclasses.replace(env, project=os.environ["STACKYARD_PROJECT"])
        return env


def find_root(start: pathlib.Path | None = None) -> pathlib.Path:
    """The nearest directory upwards with a pyproject.toml or compose/compose.yaml."""
    here = (start or pathlib.Path.cwd()).resolve()
    for d in (here, *here.parents):
        if (d / "pyproject.toml").is_file() or (d / "compose" / "compose.yaml").is_file():
            return d
    raise ConfigError(f"no stackyard project found from {here}", "run inside a directory with pyproject.toml")


def load(root: pathlib.Path | None = None) -> Project:
    root = root or find_root()
    settings = _read_settings(root / "pyproject.toml")
    return build(root, settings)


def _read_settings(path: pathlib.Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path.name}: {exc}", "fix the TOML syntax") from exc
    return data.get("tool", {}).get("stackyard", {})


def _check_keys(table: dict, allowed: dict[str, type], where: str) -> None:
    for key, value in table.items():
        if key not in allowed:
            near = difflib.get_close_matches(key, list(allowed), n=1)
            hint = f"did you mean {near[0]!r}?" if near else f"known keys: {', '.join(sorted(allowed))}"
            raise ConfigError(f"pyproject.toml: [{where}] unknown key {key!r}", hint)
        want = allowed[key]
        if not isinstance(value, list if want is TableList else want):
            raise ConfigError(
                f"pyproject.toml: [{where}] {key} must be a {_type_name(want)}, not {_type_name(type(value))}"
            )
        if want is list and not all(isinstance(v, str) for v in value):
            raise ConfigError(f"pyproject.toml: [{where}] {key} must be a list of strings")
        if want is TableList and not all(isinstance(v, dict) for v in value):
            raise ConfigError(f"pyproject.toml: [{where}] {key} must be a list of tables")


def _type_name(t: type) -> str:
    names = {str: "string", list: "list", dict: "table", bool: "boolean", int: "integer", TableList: "list of tables"}
    return names.get(t, t.__name__)


def orchestrator(value: str, where: str) -> str:
    if value not in ORCHESTRATORS:
        raise ConfigError(f"{where}: {value!r} is not an orchestrator", f"use one of: {', '.join(ORCHESTRATORS)}")
    return value


def registry(table: dict[str, Any], where: str) -> str:
    """An environment's `registry`, checked: a swarm environment's, without `nodes` (the
    nodes pull from it: nothing is shipped), in the form an image reference starts with."""
    value = table["registry"].rstrip("/")
    if table.get("orchestrator") != "swarm":
        raise ConfigError(
            f"{where} registry: only a swarm environment pushes its images to a registry",
            'add orchestrator = "swarm", or remove registry (a compose environment ships its images)',
        )
    if table.get("nodes"):
        raise ConfigError(
            f"{where}: both nodes and registry are set",
            "with a registry every node pulls the images from it: remove nodes",
        )
    if "://" in value or not REGISTRY.match(value):
        raise ConfigError(
            f"{where} registry: {value!r} is not a registry address",
            "give host[:port][/path] in lower case, e.g. registry.example.com:5000/team (no scheme, no tag)",
        )
    return value


def build(root: pathlib.Path, settings: dict[str, Any]) -> Project:
    """The Project from [tool.stackyard] settings and what is on disk (pure but for listing files)."""
    _check_keys(settings, TOP_KEYS, "tool.stackyard")
    name = settings.get("name", root.name)
    compose_dir = root / settings.get("compose_dir", "compose")
    env_dir = root / settings.get("env_dir", "env")
    configured: dict[str, dict] = settings.get("environments", {})

    names = set(configured)
    if compose_dir.is_dir():
        for f in compose_dir.glob("compose.*.yaml"):
            name_ = f.name[len("compose.") : -len(".yaml")]
            # compose.dev.local.yaml and the like are not environments of their own.
            if ENV_NAME.match(name_) and "." not in name_:
                names.add(name_)
    environments = {}
    for env_name in sorted(names):
        where = f"tool.stackyard.environments.{env_name}"
        table = configured.get(env_name, {})
        if not isinstance(table, dict):
            raise ConfigError(f"pyproject.toml: [{where}] must be a table")
        if not ENV_NAME.match(env_name):
            raise ConfigError(f"pyproject.toml: environment name {env_name!r} must match {ENV_NAME.pattern}")
        _check_keys(table, ENV_KEYS, where)
        files = table.get("files") or ["compose.yaml", f"compose.{env_name}.yaml"]
        environments[env_name] = Environment(
            name=env_name,
            files=tuple(compose_dir / f for f in files),
            env_files=env_files(env_dir, env_name, (compose_dir / files[0]).parent),
            project=table.get("project") or f"{name}-{env_name}",
            profiles=tuple(table.get("profiles", ())),
            url=table.get("url"),
            entry=table.get("entry"),
            health_path=table.get("health_path", "/health"),
            protected=table.get("protected", env_name == "prod"),
            host=engine_address(table["host"], f"pyproject.toml: [{where}] host") if "host" in table else None,
            build_on=build_place(table.get("build_on", "local"), f"pyproject.toml: [{where}] build_on"),
            orchestrator=orchestrator(table.get("orchestrator", "compose"), f"pyproject.toml: [{where}] orchestrator"),
            nodes=tuple(engine_address(n, f"pyproject.toml: [{where}] nodes") for n in table.get("nodes", ())),
            registry=registry(table, f"pyproject.toml: [{where}]") if "registry" in table else None,
        )
    default_env = settings.get("default_env", "dev")
    hybrid = _hybrid(root, settings.get("hybrid"))
    smoke = settings.get("smoke", {})
    _check_keys(smoke, SMOKE_KEYS, "tool.stackyard.smoke")
    return Project(
        root,
        name,
        compose_dir,
        env_dir,
        default_env,
        environments,
        hybrid,
        tuple(smoke.get("checks", ())),
        _after_restore(settings.get("db", {})),
        _roles(settings.get("roles", {})),
        tuple(smoke.get("modules", ())),
        keep_backups=_keep_backups(settings.get("db", {})),
    )


def engine_address(value: str, where: str) -> str:
    """A target engine's address, checked: DOCKER_HOST's form, one of HOST_SCHEMES
    (`where` names the key or option it came from)."""
    if not value.startswith(HOST_SCHEMES) or not value.split("://", 1)[1]:
        raise ConfigError(
            f"{where} {value!r} is not a Docker engine address",
            'e.g. "ssh://deploy@example.com" (also tcp://HOST:2376, unix:///PATH), as DOCKER_HOST takes it',
        )
    return value


def build_place(value: str, where: str) -> str:
    """Where a deploy builds, checked: one of BUILD_ON."""
    if value not in BUILD_ON:
        raise ConfigError(
            f"{where} {value!r} is not a place to build",
            '"local": on this machine\'s engine, then shipped to the target; "host": on the target\'s engine',
        )
    return value


def _roles(table: dict) -> dict[str, Any]:
    """[tool.stackyard.roles], checked: known keys and types, known kinds."""
    where = "tool.stackyard.roles"
    _check_keys(table, ROLES_KEYS, where)
    for role, keys in (("web", WEB_KEYS), ("proxy", PROXY_KEYS), ("database", DATABASE_KEYS)):
        if role in table:
            _check_keys(table[role], keys, f"{where}.{role}")
    port = table.get("web", {}).get("port")
    if port is not None and not 0 < port < 65536:
        raise ConfigError(f"pyproject.toml: [{where}.web] port {port} is not a port number", "e.g. port = 8000")
    for role, kinds in (("proxy", PROXY_KINDS), ("database", DATABASE_KINDS)):
        kind = table.get(role, {}).get("kind")
        if kind is not None and kind not in kinds:
            near = difflib.get_close_matches(kind, kinds, n=1)
            hint = f"did you mean {near[0]!r}?" if near else f"known: {', '.join(kinds)}"
            raise ConfigError(f"pyproject.toml: [{where}.{role}] unknown kind {kind!r}", hint)
    return table


def _keep_backups(table: dict) -> int:
    keep = table.get("keep_backups", KEEP_BACKUPS)  # its type is checked with the table's other keys
    if isinstance(keep, bool) or keep < 0:
        raise ConfigError(
            f"pyproject.toml: [tool.stackyard.db] keep_backups must be a whole number, 0 or more, not {keep!r}",
            "e.g. keep_backups = 10 (the newest 10 of each project); 0 keeps every backup",
        )
    return keep


def _after_restore(table: dict) -> tuple[Hook, ...]:
    where = "tool.stackyard.db"
    _check_keys(table, DB_KEYS, where)
    hooks = []
    for i, hook in enumerate(table.get("after_restore", [])):
        at = f"{where}.after_restore #{i + 1}"
        _check_keys(hook, HOOK_KEYS, at)
        if not hook.get("service") or not hook.get("command"):
            raise ConfigError(
                f"pyproject.toml: [{at}] needs a service and a command",
                'e.g. {service = "cache", command = ["sh", "-c", "..."]}',
            )
        hooks.append(Hook(hook["service"], tuple(hook["command"])))
    return tuple(hooks)


def _hybrid(root: pathlib.Path, table: dict | None) -> Hybrid | None:
    if table is None:
        return None
    where = "tool.stackyard.hybrid"
    _check_keys(table, HYBRID_KEYS, where)
    processes = {}
    for name, proc in table.get("processes", {}).items():
        if not isinstance(proc, dict):
            raise ConfigError(f"pyproject.toml: [{where}.processes.{name}] must be a table")
        _check_keys(proc, PROCESS_KEYS, f"{where}.processes.{name}")
        if not proc.get("command"):
            raise ConfigError(f"pyproject.toml: [{where}.processes.{name}] needs a command (a list of strings)")
        processes[name] = HostProcess(name, tuple(proc["command"]), proc.get("port"))
    for key in ("default",):
        for name in table.get(key, []):
            if name not in processes:
                raise ConfigError(
                    f"pyproject.toml: [{where}] {key} names {name!r}, which has no [{where}.processes.{name}]"
                )
    return Hybrid(
        cwd=root / table.get("cwd", "."),
        before=tuple(table.get("before", ())),
        default=tuple(table.get("default", ()) or processes),
        requirements=tuple(table.get("requirements", ())),
        processes=processes,
    )


@dataclass(frozen=True)
class Layer:
    path: pathlib.Path
    label: str  # the path relative to the project root
    local: bool  # meant to be git-ignored: where secrets live
    dotenv: bool = False  # Compose's own `.env` of the project directory


def layer_files(
    env_dir: pathlib.Path,
    env_name: str,
    root: pathlib.Path | None = None,
    project_dir: pathlib.Path | None = None,
) -> list[Layer]:
    """All file layers of an environment, existing or not, lowest first.

    This is the one statement of the precedence (a later layer wins; Compose
    gets the files as --env-file options in this order, and lets the process
    environment win over all of them):

        0. <project dir>/.env    yours        Compose's own file (the directory of the first compose file)
        1. env/base.env          committed    shared by every environment
        2. env/<env>.env         committed    non-secret values of one environment
        3. env/local.env         git-ignored  your personal overrides, every environment
        4. env/<env>.local.env   git-ignored  secrets and overrides of one environment
        5. the process environment

    Compose reads `.env` by itself only when no --env-file is given; stackyard
    always gives some, so it passes `.env` first, explicitly: what containers
    get is what `env.show` reports, and `.env` keeps the lowest place Compose
    gives it. A personal (local) file wins over every committed file, and the
    more specific local file over the general one. `project_dir` None: no `.env` layer."""

    def layer(path: pathlib.Path, local: bool, dotenv: bool = False) -> Layer:
        try:
            label = str(path.relative_to(root)) if root else str(path)
        except ValueError:
            label = str(path)
        return Layer(path, label, local, dotenv)

    names = [("base.env", False), (f"{env_name}.env", False), ("local.env", True), (f"{env_name}.local.env", True)]
    dotenv = [layer(project_dir / ".env", True, dotenv=True)] if project_dir is not None else []
    return dotenv + [layer(env_dir / name, local) for name, local in names]


def env_files(
    env_dir: pathlib.Path, env_name: str, project_dir: pathlib.Path | None = None
) -> tuple[pathlib.Path, ...]:
    """The env files Compose reads for an environment, lowest precedence first
    (see layer_files); only those that exist (a missing local file is normal)."""
    return tuple(layer.path for layer in layer_files(env_dir, env_name, None, project_dir) if layer.path.is_file())


def compose_project_dir(env: Environment) -> pathlib.Path:
    """Compose's project directory: that of the first compose file (where its `.env` is)."""
    return env.files[0].parent
