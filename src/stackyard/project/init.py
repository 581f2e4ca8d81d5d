"""`inv init`: stackyard's settings for a compose project that has none.

It reads the compose files (project/files.py), proposes environments and the
roles of the services (engine/roles.py, from each environment's rendered
config), prints what it found and why, and writes `[tool.stackyard]` into
pyproject.toml and a `tasks.py` that loads stackyard's tasks. It never replaces
an existing `[tool.stackyard]` or tasks.py unless forced."""

from __future__ import annotations

import json
import pathlib
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from stackyard import config
from stackyard.config import Roles
from stackyard.core.runner import Runner
from stackyard.engine import roles as roles_
from stackyard.engine import state
from stackyard.errors import ConfigError
from stackyard.project import files
from stackyard.session import Session

TASKS_PY = '''"""Invoke entry point: `inv --list`. The tasks live in the stackyard package."""

from stackyard.tasks import namespace as ns  # noqa: F401 - Invoke looks for `ns`
'''
# `${VAR:?message}` and `${VAR?message}`: Compose refuses to render without VAR.
REQUIRED = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*):?\?")
STAND_IN = "stackyard-init-stand-in"
SECTION = re.compile(r"^\s*\[\[?\s*tool\.stackyard[\].]")
HEADER = re.compile(r"^\s*\[")


@dataclass(frozen=True)
class Detected:
    roles: Roles
    why: dict[str, str]  # role -> the reason
    source: str  # the environment whose config they were read from
    #: environment -> its services (a role is written only where every environment has it)
    services: dict[str, set[str]]
    #: environment -> the service whose published port is the app's URL there
    entries: dict[str, str]


def project_name(root: pathlib.Path) -> str:
    return re.sub(r"[^a-z0-9_-]+", "-", root.name.lower()).strip("-") or "app"


def settings(root: pathlib.Path, found: files.Found, envs: list[files.Proposed]) -> dict[str, Any]:
    """The least [tool.stackyard] that names the files: enough to read each config."""
    return {
        "name": project_name(root),
        "compose_dir": found.compose_dir,
        "environments": {e.name: {"files": list(e.files)} for e in envs},
    }


def detect(configs: Mapping[str, dict]) -> Detected:
    """The roles, read from the environment that shows most of them: the one with
    a proxy, prod first; else dev. Pure."""
    order = sorted(configs, key=lambda n: (n != "prod", n == "dev", n))
    found = {name: roles_.detect(configs[name]) for name in order}
    source = next((n for n in order if found[n][0].proxy), next(iter(order)))
    roles, why = found[source]
    services = {name: set(state.services(cfg)) for name, cfg in configs.items()}
    entries = {}
    for name, cfg in configs.items():
        publishing = {p.service for p in state.published_ports(cfg)}
        for candidate in (roles.proxy and roles.proxy.service, roles.web and roles.web.service):
            if candidate in publishing:
                entries[name] = candidate
                break
    return Detected(roles, why, source, services, entries)


def render(name: str, found: files.Found, envs: list[files.Proposed], d: Detected) -> str:
    """The [tool.stackyard] text: environments, then roles. Pure."""
    health = d.roles.web.health_path if d.roles.web else None
    out = ["[tool.stackyard]", f"name = {_s(name)}", f"compose_dir = {_s(found.compose_dir)}"]
    out.append('# Env files: .env beside the compose files is read; see README "Environment files".')
    for e in envs:
        out += ["", f"[tool.stackyard.environments.{e.name}]", f"# {e.why}", f"files = {_list(e.files)}"]
        if e.name in d.entries:
            out.append(f"entry = {_s(d.entries[e.name])}  # its published port is the app's URL")
        if health:
            out.append(f"health_path = {_s(health)}")
    out += [
        "",
        "# What each service does (a stated role wins; what is left out is detected).",
        "[tool.stackyard.roles]",
    ]
    everywhere = set.intersection(*d.services.values()) if d.services else set()
    r = d.roles
    if r.web:
        web = {"service": r.web.service, "port": r.web.port}
        if r.web.health_path:
            web["health_path"] = r.web.health_path
        out.append(_line("web", _table(web), {r.web.service}, everywhere))
    if r.proxy:
        # An environment without the proxy (dev) runs none: that is no error.
        out.append(f"proxy = {_table({'service': r.proxy.service, 'kind': r.proxy.kind})}")
        out.append('# nginx/traefik: add config = "<file the switch rewrites>" and upstream = "<its name>"')
        out.append('# when they are not the adapter\'s defaults (README "Roles").')
    if r.database:
        db = _table({"service": r.database.service, "kind": r.database.kind})
        out.append(_line("database", db, {r.database.service}, everywhere))
    if r.migrate:
        out.append(_line("migrate", _s(r.migrate), {r.migrate}, everywhere))
    if r.workers:
        out.append(_line("workers", _list(r.workers), set(r.workers), everywhere))
    if r.images:
        out.append(_line("images", _list(r.images), set(r.images), everywhere))
    out += [
        "",
        "# `inv hybrid`: processes run on your host instead of their containers, e.g.",
        "# [tool.stackyard.hybrid.processes.web]",
        '# command = ["python", "app.py"]',
        '# port = "${WEB_PORT:-8080}"',
    ]
    return "\n".join(out) + "\n"


def _line(key: str, value: str, uses: set[str], everywhere: set[str]) -> str:
    """A role line; commented out when a service it names is missing from some
    environment (a stated role must name a service of every environment)."""
    missing = sorted(uses - everywhere)
    if not missing:
        return f"{key} = {value}"
    return f"# {key} = {value}  # detected; {', '.join(missing)} not in every environment"


def _s(text: str) -> str:
    return json.dumps(text)


def _list(items) -> str:
    return "[" + ", ".join(_s(i) for i in items) + "]"


def _table(values: Mapping[str, Any]) -> str:
    return "{" + ", ".join(f"{k} = {_s(v) if isinstance(v, str) else v}" for k, v in values.items()) + "}"


def report(found: files.Found, envs: list[files.Proposed], d: Detected) -> list[str]:
    """What was found and why, as printed. Pure."""
    where = "the project root" if found.compose_dir == "." else found.compose_dir + "/"
    listed = [f"{found.base} (base)"]
    listed += [f"{found.override} (override)"] if found.override else []
    listed += [f"{f} ({n})" for n, f in sorted(found.others.items())]
    lines = [f"compose files in {where}: {', '.join(listed)}", "environments:"]
    lines += [f"  {e.name:<9} {' + '.join(e.files)}   ({e.why})" for e in envs]
    lines.append(f"roles (from the {d.source} config):")
    for role in ("web", "proxy", "database", "migrate", "workers", "images"):
        lines.append(f"  {role:<9} {d.why.get(role, 'none detected')}")
    return lines


def conflicts(root: pathlib.Path) -> list[str]:
    """What init would replace: an existing [tool.stackyard], a tasks.py of another content."""
    out = []
    pyproject = root / "pyproject.toml"
    if pyproject.is_file():
        try:
            data = tomllib.loads(pyproject.read_text())
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"pyproject.toml: {exc}", "fix the TOML syntax, then run `inv init` again") from exc
        if "stackyard" in data.get("tool", {}):
            out.append("pyproject.toml has a [tool.stackyard] section")
    if (root / "tasks.py").is_file() and not loads_stackyard(root / "tasks.py"):
        out.append("tasks.py exists and does not load stackyard.tasks")
    return out


def loads_stackyard(tasks: pathlib.Path) -> bool:
    """A tasks.py that already loads stackyard's tasks (the one line that lets
    `inv init` run at all in a new project) is kept as it is."""
    return "stackyard.tasks" in tasks.read_text()


def merged(existing: str, section: str) -> str:
    """pyproject.toml's text with every [tool.stackyard...] table replaced by `section`."""
    kept, inside = [], False
    for line in existing.splitlines():
        if HEADER.match(line):
            inside = bool(SECTION.match(line))
        if not inside:
            kept.append(line)
    text = "\n".join(kept).rstrip()
    return (text + "\n\n" if text else "") + section


def required_variables(paths: list[pathlib.Path]) -> set[str]:
    """The variables the compose files require (`${VAR:?...}`, `${VAR?...}`)."""
    return {name for path in paths if path.is_file() for name in REQUIRED.findall(path.read_text())}


def run(root: pathlib.Path, runner: Runner, *, force: bool = False, out=None) -> Session:
    """Detect, print, write. Under `inv --dry` the files are printed, not written."""
    found = files.find(root)
    envs = files.environments(found)
    problems = conflicts(root)
    if problems and not force:
        raise ConfigError(
            f"init would replace what is there: {'; '.join(problems)}", "run `inv init --force` to replace it"
        )
    project = config.build(root, settings(root, found, envs))
    s = Session(project, project.environment("dev"), runner, **({"out": out} if out else {}))
    # init reads the services' shape, not their values: a required secret nobody has set
    # yet (a fresh clone) gets a stand-in, so that Compose renders the config at all.
    paths = [f for env in project.environments.values() for f in env.files]
    s.add_variables(dict.fromkeys(required_variables(paths), STAND_IN))
    configs = {e.name: s.for_env(project.environments[e.name]).config() for e in envs}
    detected = detect(configs)
    section = render(project.name, found, envs, detected)
    for line in report(found, envs, detected):
        s.print(line)
    pyproject = root / "pyproject.toml"
    text = merged(pyproject.read_text() if pyproject.is_file() else "", section)
    if s.dry:
        s.print("dry run: pyproject.toml would get:\n" + section + "and tasks.py:\n" + TASKS_PY)
        return s
    pyproject.write_text(text)
    tasks = root / "tasks.py"
    if force or not tasks.is_file() or not loads_stackyard(tasks):
        tasks.write_text(TASKS_PY)
        s.print("wrote [tool.stackyard] to pyproject.toml, and tasks.py")
    else:
        s.print("wrote [tool.stackyard] to pyproject.toml (tasks.py already loads stackyard's tasks: kept)")
    s.print("next: edit what is wrong above, then `inv env.check` and `inv dev`")
    return s
