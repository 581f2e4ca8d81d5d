"""`nox -s smoke`: the whole stack, end to end, under a throwaway project name,
always torn down (`down -v` of that project only) on success, failure and Ctrl-C.

    python -m stackyard.smoke [--env dev|prod] [--root PATH] [--check NAME]... [--verbose]

Phases: build, up (--wait), checks over HTTP on 127.0.0.1, down; each timed.
The checks are named in [tool.stackyard.smoke] checks (default: health): the
package's generic ones (smoke/checks.py) and those of the project's modules
([tool.stackyard.smoke] modules, imported from the project root)."""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import pathlib
import secrets as random_secrets
import signal
import sys
import time
import urllib.parse
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import replace

from stackyard import config
from stackyard.commands import compose
from stackyard.config import Environment, Project, compose_project_dir
from stackyard.core.runner import Runner
from stackyard.engine import api, roles, state
from stackyard.engine.ports import free_port
from stackyard.env import layers
from stackyard.env import schema as envschema
from stackyard.errors import Interrupted, StackyardError, report
from stackyard.session import Session
from stackyard.smoke.checks import CHECKS, Check, CheckFailed, Context, Target
from stackyard.stack.ops import print_last_logs

# ---- setting up a throwaway project -------------------------------------------------


def throwaway(project: Project, env: Environment) -> Environment:
    return replace(env, project=f"{project.name}-smoke-{os.getpid()}-{uuid.uuid4().hex[:6]}")


def overrides(project: Project, env: Environment, raw_config: dict, environ: Mapping[str, str]) -> dict[str, str]:
    """Variables for this run: a free host port for every published-port variable,
    127.0.0.1 for every bind-address variable, and a throwaway value for every
    secret nothing sets (never the user's own ports, never a real secret)."""
    out: dict[str, str] = {}
    for _, host_ip, published, _ in state.raw_ports(raw_config):
        if var := state.variable_of(published):
            out[var] = str(free_port())
        if var := state.variable_of(host_ip):
            out[var] = "127.0.0.1"
    schema = envschema.load(project.root)
    known = layers.effective(
        project.root, project.env_dir, env.name, list(schema), environ, project_dir=compose_project_dir(env)
    )
    for name, var in schema.items():
        if var.secret and not (known.get(name) and known[name].value):
            out[name] = random_secrets.token_urlsafe(32)
    return out


def session(project: Project, env_name: str, runner: Runner) -> Session:
    """A Session on a throwaway copy of the environment. The runner gives every
    command of the run its variables (overrides), so no Command is rewritten."""
    s = Session(project, throwaway(project, project.environment(env_name)), runner)
    raw = state.parse_config(s.read(compose.config_json_raw(s.env)).stdout)
    s.add_variables(overrides(project, s.env, raw, os.environ))
    return s


def registry(project: Project) -> dict[str, Check]:
    """The generic checks, then those of the project's modules ([tool.stackyard.smoke]
    modules, imported from the project root: each has CHECKS, name -> check)."""
    checks = dict(CHECKS)
    if project.smoke_modules and str(project.root) not in sys.path:
        sys.path.insert(0, str(project.root))
    for name in project.smoke_modules:
        try:
            module = importlib.import_module(name)
        except ImportError as exc:
            raise StackyardError(
                f"[tool.stackyard.smoke] modules: cannot import {name!r} from {project.root} ({exc})",
                "fix the module's name or its imports",
            ) from exc
        found = getattr(module, "CHECKS", None)
        if not isinstance(found, dict):
            raise StackyardError(
                f"smoke module {name} ({module.__file__}) has no CHECKS dict", 'add CHECKS = {"name": check, ...}'
            )
        checks.update(found)
    return checks


def check_names(project: Project, wanted: Sequence[str] | None, known: Mapping[str, Check]) -> list[str]:
    """The checks to run: those asked for, else the project's, else health; unknown ones are an error."""
    names = list(wanted or project.smoke_checks or ["health"])
    unknown = [n for n in names if n not in known]
    if unknown:
        raise StackyardError(
            f"unknown smoke check(s): {', '.join(unknown)}",
            f"known: {', '.join(known)} (a project's own come from [tool.stackyard.smoke] modules)",
        )
    return names


def target_for(env: Environment, containers: list[state.Container]) -> Target:
    urls = [(p, p.url()) for c in containers for p in c.ports]
    if env.url:
        parsed = urllib.parse.urlsplit(env.url)
        want = 443 if parsed.scheme == "https" else 80
        for p, _ in urls:
            if p.target == want:
                return Target(
                    f"{parsed.scheme}://127.0.0.1:{p.published}", parsed.hostname, parsed.scheme == "https", p.service
                )
    http = [(p, u) for p, u in urls if u.startswith("http") and (not env.entry or p.service == env.entry)]
    if not http:
        raise StackyardError(
            f"no published HTTP port to check in {env.name}",
            "set `entry` or `url` in [tool.stackyard.environments." + env.name + "]",
        )
    port, url = http[0]
    return Target(url.replace("://localhost", "://127.0.0.1"), service=port.service)


# ---- the run --------------------------------------------------------------------------


def run(s: Session, names: Sequence[str], checks: Mapping[str, Check] = CHECKS) -> int:
    """Build, start, check and remove `s.env` (a throwaway project: see session())."""
    env = s.env
    timings: dict[str, float] = {}
    current = ["setup"]

    def say(text: str) -> None:
        s.print(f"smoke: {text}")

    @contextlib.contextmanager
    def phase(name: str) -> Iterator[None]:
        current[0] = name
        start = time.monotonic()
        try:
            yield
        finally:
            timings[name] = time.monotonic() - start

    previous = signal.signal(signal.SIGTERM, _interrupt)
    say(f"{env.name} as project {env.project} (removed at the end)")
    failure: BaseException | None = None
    try:
        with phase("build"):
            s.stream(compose.build(env))
        with phase("up"):
            s.stream(compose.up(env, build=False, timeout=180))
        with phase("checks"):
            ctx = context(s)
            host = f" (Host: {ctx.target.host_header})" if ctx.target.host_header else ""
            say(f"checking {ctx.target.base}{host}")
            for name in names:
                checks[name](ctx)
                say(f"ok   {name}")
    except CheckFailed as exc:
        failure = exc
        say(f"FAIL {exc.check}: {exc}")
        _show_logs(s, (*exc.services, ctx.target.service))
    except (KeyboardInterrupt, Interrupted):
        failure = KeyboardInterrupt()
        say("interrupted: tearing down")
    except StackyardError as exc:  # a command failed (explained by the Session when it can be)
        failure = exc
        say(f"FAIL {current[0]}: {exc}")
        _show_logs(s, (), failed_only=True)
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not skip the teardown
        try:
            with phase("down"):
                s.run(compose.down(env, volumes=True, timeout=5), check=False, quiet=True)
        finally:
            signal.signal(signal.SIGINT, signal.default_int_handler)
            signal.signal(signal.SIGTERM, previous)
        say("timings: " + ", ".join(f"{k} {v:.1f}s" for k, v in timings.items()))
    if isinstance(failure, KeyboardInterrupt):
        return 130
    if failure is not None:
        say(f"failed: {failure}")
        return 1
    say(f"passed: {', '.join(names)}")
    return 0


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def context(s: Session) -> Context:
    """What the checks work with: where to send requests, the roles, and the stack's
    state, logs and database, read through the session."""
    found = roles.resolve(s.project.roles, s.config())

    def sql(statement: str) -> str:
        if found.database is None or found.database.kind != "postgres":
            raise StackyardError("this smoke check runs SQL: no PostgreSQL service has the database role")
        return s.run(compose.psql(s.env, found.database.service, statement), quiet=True).stdout

    def logs(services: Sequence[str]) -> str:
        return s.read(compose.logs(s.env, services, color=False)).stdout

    health_path = found.web.health_path if found.web and found.web.health_path else s.env.health_path

    def restarts() -> dict[str, int]:
        return api.restarts(s.engine(), s.env.project)

    return Context(target_for(s.env, s.containers()), health_path, found, sql, _wait, s.containers, logs, restarts)


def _wait(predicate: Callable[[], object], timeout: float, interval: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            result = predicate()
        except OSError:
            result = None
        if result:
            return result
        time.sleep(interval)
    return None


def failing_services(containers: Iterable[state.Container], named: Sequence[str], failed_only: bool) -> list[str]:
    """The services whose logs explain a failure: those named by the check, or
    (a command failed) the failed ones, else those still starting."""
    containers = list(containers)
    found = [c.service for c in containers if c.service in named or (failed_only and c.failed)]
    if not found and failed_only:
        found = [c.service for c in containers if c.health == "starting"]
    return list(dict.fromkeys(found))


def _show_logs(s: Session, named: Sequence[str], failed_only: bool = False) -> None:
    try:
        containers = s.containers()
    except StackyardError:
        return  # the engine is gone: the failure itself says more
    print_last_logs(s, failing_services(containers, named, failed_only))


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m stackyard.smoke", description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="dev")
    parser.add_argument("--root", type=pathlib.Path, default=None)
    parser.add_argument("--check", action="append", help="run only these checks (repeatable)")
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args(argv)
    try:
        project = config.load(args.root.resolve() if args.root else None)
        checks = registry(project)
        names = check_names(project, args.check, checks)
        return run(session(project, args.env, Runner()), names, checks)
    except (StackyardError, KeyboardInterrupt) as exc:
        return report(exc, verbose=args.verbose)
