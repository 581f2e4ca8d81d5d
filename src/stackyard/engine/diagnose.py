"""Turn a failed compose call into one line a person can act on.

Pure functions over the command's stderr (and the rendered config for ports);
they return None when they do not recognise the failure."""

from __future__ import annotations

import pathlib
import re
from collections.abc import Callable, Sequence

import yaml

from stackyard.engine import reach
from stackyard.engine.state import Port, raw_ports, variable_of
from stackyard.errors import CommandError, ConfigError, StackyardError

MIN_COMPOSE = (2, 24, 0)

_ENGINE_DOWN = re.compile(
    r"Cannot connect to the Docker daemon at (\S+?)\.?\s|Is the docker daemon running|"
    r"error during connect|dial unix .*docker\.sock.*(no such file|connection refused)"
)
# The docker CLI names the ssh command it ran for an ssh:// engine when that command failed.
_SSH_LINK = re.compile(
    r"command \[ssh .*?-l (?P<user>\S+) (?:-p (?P<port>\d+) )?-- (?P<host>\S+) docker system dial-stdio\]"
)
_NO_COMPOSE = re.compile(
    r"'compose' is not a docker command|unknown command: docker compose|"
    r"unknown shorthand flag: 'f' in -f|docker: unknown command"
)
_PORT_TAKEN = re.compile(
    r"Bind for (?P<ip>[\d.:\[\]a-f]*?):(?P<port>\d+) failed: port is already allocated|"
    r"listen tcp[46]? (?P<ip2>[\d.:\[\]a-f]*?):(?P<port2>\d+): bind: address already in use"
)
_NO_SERVICE = re.compile(r"no such service: (?P<name>[\w.-]+)")
_YAML = re.compile(r"yaml: (line (?P<line>\d+): )?(?P<msg>.+)")
_UNHEALTHY = re.compile(r"container (?P<name>[\w.-]+) (is unhealthy|exited \((?P<code>\d+)\))")
_OLD_FLAG = re.compile(r"unknown flag: (--wait|--wait-timeout|--format)")
_MISSING_VARIABLE = re.compile(r"required variable (?P<name>\w+) is missing a value")


class MissingVariable(StackyardError):
    """A variable the compose files require (`${X:?...}`) is set in no layer."""

    def __init__(self, variable: str, env_name: str | None = None):
        self.variable = variable
        if env_name:
            init = f"`inv env.init --env {env_name}` writes env/{env_name}.local.env"
        else:
            init = "`inv env.init` (with your --env) writes the environment's local env file"
        super().__init__(
            f"required variable {variable} is not set" + (f" for {env_name}" if env_name else ""),
            f"{init} (secrets generated, required values to fill); or set {variable} in an env file or the shell",
        )


def needs_config(text: str) -> bool:
    """Whether explaining this failure needs the project's rendered config."""
    return bool(_PORT_TAKEN.search(text) or _NO_SERVICE.search(text))


def port_variables(raw_config: dict) -> dict[tuple[str, int], str]:
    """(service, target port) -> the variable that sets its published port,
    read from the config before interpolation ("${API_PORT:-8000}")."""

    return {
        (service, int(target)): var
        for service, _, published, target in raw_ports(raw_config)
        if target.isdigit() and (var := variable_of(published))
    }


def explain(
    err: CommandError,
    ports: Sequence[Port] = (),
    services: Sequence[str] = (),
    files: Sequence[pathlib.Path] = (),
    holder: Callable[[int], str | None] | None = None,
    port_vars: dict[tuple[str, int], str] | None = None,
) -> StackyardError | None:
    text = err.stderr + "\n" + err.stdout
    if m := _SSH_LINK.search(text):  # an ssh:// engine: what went wrong on the way (sshd, key, network), not "start it"
        return reach.explain(f"ssh://{m['user']}@{m['host']}" + (f":{m['port']}" if m["port"] else ""), text)
    if _ENGINE_DOWN.search(text):
        m = _ENGINE_DOWN.search(text)
        where = f" at {m.group(1)}" if m and m.group(1) else ""
        return StackyardError(
            f"Docker engine not reachable{where}",
            "start it (e.g. `sudo systemctl start docker`) or point DOCKER_HOST at one; `inv doctor` checks it",
        )
    if _NO_COMPOSE.search(text):
        return StackyardError("Docker Compose v2 is not installed", "install the docker-compose-plugin package")
    if _OLD_FLAG.search(text):
        return StackyardError(
            "Docker Compose is too old for this command",
            f"stackyard needs Compose >= {'.'.join(map(str, MIN_COMPOSE))}; `inv doctor` shows the version",
        )
    m = _PORT_TAKEN.search(text)
    if m:
        port = int(m.group("port") or m.group("port2"))
        ip = m.group("ip") or m.group("ip2") or ""
        owners = [p for p in ports if p.published == port]
        who = f" for service {', '.join(sorted({p.service for p in owners}))}" if owners else ""
        held = holder(port) if holder else None
        by = f" by {held}" if held else ""
        variables = sorted({v for p in owners if (v := (port_vars or {}).get((p.service, p.target)))})
        fix = f"set {variables[0]} to a free port" if variables else "publish another port"
        return StackyardError(
            f"host port {port}{' on ' + ip if ip else ''}{who} is already taken{by}",
            f"stop what holds it, or {fix}; `inv doctor` checks every port",
        )
    m = _MISSING_VARIABLE.search(text)
    if m:
        return MissingVariable(m.group("name"))
    stopped = not_running(text)
    if stopped:
        return stopped
    m = _NO_SERVICE.search(text)
    if m:
        return unknown_service(m.group("name"), services)
    m = _YAML.search(text)
    if m and files:
        return yaml_error(files) or ConfigError(f"compose file does not parse: {m.group(0)}")
    return None


def unknown_service(name: str, services: Sequence[str]) -> StackyardError:
    listed = ", ".join(services) if services else "none"
    return StackyardError(f"unknown service {name!r}", f"services: {listed}")


def yaml_error(files: Sequence[pathlib.Path]) -> ConfigError | None:
    """Find which compose file does not parse, with its line: Compose's own
    message does not always name the file."""

    for f in files:
        try:
            yaml.safe_load(f.read_text())
        except FileNotFoundError:
            return ConfigError(f"{_short(f)}: compose file not found")
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f"{_short(f)}:{mark.line + 1}" if mark else _short(f)
            problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
            return ConfigError(f"{where}: {problem}", "fix the YAML")
    return None


def _short(path: pathlib.Path) -> str:
    """A path relative to the current directory when it is under it."""
    try:
        return str(path.resolve().relative_to(pathlib.Path.cwd()))
    except ValueError:
        return str(path)


def failed_containers(stderr: str) -> list[str]:
    """Container names that `up --wait` reported as unhealthy or exited."""
    return [m.group("name") for m in _UNHEALTHY.finditer(stderr)]


def parse_version(text: str) -> tuple[int, ...]:
    m = re.search(r"(\d+)\.(\d+)\.(\d+)", text)
    return tuple(int(x) for x in m.groups()) if m else (0, 0, 0)


_NOT_RUNNING = re.compile(r'service "?(?P<name>[\w.-]+)"? is not running')


def not_running(text: str) -> StackyardError | None:
    m = _NOT_RUNNING.search(text)
    if m:
        return StackyardError(f"service {m.group('name')} is not running", "start the stack first (`inv up`)")
    return None
