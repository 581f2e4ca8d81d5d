"""`nox -s smoke`: the whole stack, end to end, under a throwaway project name,
always torn down (`down -v` of that project only) on success, failure and Ctrl-C.

    python -m stackyard.smoke [--env dev|prod] [--root PATH] [--keep-going]

Phases: build, up (--wait), checks over HTTP on 127.0.0.1, down; each timed.
The checks are named in [tool.stackyard.smoke] checks (default: health)."""

from __future__ import annotations

import os
import secrets as random_secrets
import signal
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import replace

from stackyard.commands import compose
from stackyard.config import Environment, Project
from stackyard.core.command import Command
from stackyard.core.runner import Runner
from stackyard.engine import state
from stackyard.env import layers
from stackyard.env import schema as envschema
from stackyard.errors import CommandError, Interrupted, StackyardError
from stackyard.smoke.checks import CHECKS, CheckFailed, Context, Target

LOG_LINES = 30


# ---- setting up a throwaway project -------------------------------------------------


def throwaway(project: Project, env: Environment) -> Environment:
    return replace(env, project=f"{project.name}-smoke-{os.getpid()}-{uuid.uuid4().hex[:6]}")


def overrides(project: Project, env: Environment, raw_config: dict, environ: dict[str, str]) -> dict[str, str]:
    """Variables for this run: a free host port for every published-port variable,
    127.0.0.1 for every bind-address variable, and a throwaway value for every
    secret nothing sets (never the user's own ports, never a real secret)."""
    out: dict[str, str] = {}
    for _, host_ip, published, _ in state.raw_ports(raw_config):
        if var := state.variable_of(published):
            out[var] = str(ports_free())
        if var := state.variable_of(host_ip):
            out[var] = "127.0.0.1"
    schema = envschema.load(project.root)
    known = layers.effective(project.root, project.env_dir, env.name, list(schema), environ)
    for name, var in schema.items():
        if var.secret and not (known.get(name) and known[name].value):
            out[name] = random_secrets.token_urlsafe(32)
    return out


def ports_free() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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


def run(project: Project, env_name: str, runner: Runner, out=None, checks: list[str] | None = None) -> int:
    out = out or sys.stdout
    env = throwaway(project, project.environment(env_name))
    timings: dict[str, float] = {}
    names = checks or list(project.smoke_checks) or ["health"]
    unknown = [n for n in names if n not in CHECKS]
    if unknown:
        raise StackyardError(f"unknown smoke check(s): {', '.join(unknown)}", f"known: {', '.join(CHECKS)}")

    def say(text: str) -> None:
        print(f"smoke: {text}", file=out, flush=True)

    raw = state.parse_config(runner.run(compose.config_json_raw(env), quiet=True, readonly=True).stdout)
    extra = overrides(project, env, raw, dict(os.environ))

    def cmd(c: Command) -> Command:
        return Command(c.argv, {**c.env, **extra}, c.cwd)

    current = ["setup"]

    def phase(name: str, fn):
        current[0] = name
        start = time.monotonic()
        try:
            return fn()
        finally:
            timings[name] = time.monotonic() - start

    previous = signal.signal(signal.SIGTERM, _interrupt)
    say(f"{env.name} as project {env.project} (removed at the end)")
    failure: BaseException | None = None
    try:
        phase("build", lambda: runner.run(cmd(compose.build(env)), mode="stream"))
        phase("up", lambda: runner.run(cmd(compose.up(env, build=False, timeout=180)), mode="stream"))
        containers = _containers(runner, env, cmd)
        ctx = Context(target_for(env, containers), lambda sql: _sql(runner, env, cmd, sql), _wait)
        say(f"checking {ctx.target.base}" + (f" (Host: {ctx.target.host_header})" if ctx.target.host_header else ""))

        def all_checks():
            for name in names:
                CHECKS[name](ctx, env.health_path)
                say(f"ok   {name}")

        phase("checks", all_checks)
    except CheckFailed as exc:
        failure = exc
        say(f"FAIL {exc.check}: {exc}")
        _show_logs(runner, env, cmd, (*exc.services, ctx.target.service), say)
    except CommandError as exc:
        failure = exc
        say(f"FAIL {current[0]}: {exc}")
        _show_logs(runner, env, cmd, (), say, failed_only=True)
    except (KeyboardInterrupt, Interrupted):
        failure = KeyboardInterrupt()
        say("interrupted: tearing down")
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not skip the teardown
        try:
            phase("down", lambda: runner.run(cmd(compose.down(env, volumes=True, timeout=5)), check=False, quiet=True))
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


def _containers(runner: Runner, env: Environment, cmd) -> list[state.Container]:
    return state.parse_ps(runner.run(cmd(compose.ps_json(env)), quiet=True, readonly=True).stdout)


def _sql(runner: Runner, env: Environment, cmd, sql: str) -> str:
    # The app's own variables, read inside the db container: no value crosses our process.
    argv = ["sh", "-c", 'psql -v ON_ERROR_STOP=1 -U "$POSTGRES_USER" -d "$POSTGRES_DB" -tAc "$0"', sql]
    return runner.run(cmd(compose.exec_(env, "db", argv, tty=False)), quiet=True).stdout


def _wait(predicate, timeout: float, interval: float = 0.2):
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


def _show_logs(runner: Runner, env: Environment, cmd, services, say, failed_only: bool = False) -> None:
    try:
        containers = _containers(runner, env, cmd)
    except StackyardError:
        return
    names = [c.service for c in containers if (c.service in services) or (failed_only and c.failed)]
    if not names and failed_only:
        names = [c.service for c in containers if c.health == "starting"]
    for name in dict.fromkeys(names):
        res = runner.run(cmd(compose.logs(env, [name], tail=LOG_LINES, color=False)), check=False, quiet=True)
        say(f"--- {name}: last {LOG_LINES} log lines ---")
        print((res.stdout + res.stderr).rstrip(), flush=True)


def main(argv: list[str]) -> int:
    import argparse
    import pathlib

    from stackyard import config
    from stackyard.errors import report

    parser = argparse.ArgumentParser(prog="python -m stackyard.smoke", description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="dev")
    parser.add_argument("--root", type=pathlib.Path, default=None)
    parser.add_argument("--check", action="append", help="run only these checks (repeatable)")
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args(argv)
    try:
        return run(config.load(args.root.resolve() if args.root else None), args.env, Runner(), checks=args.check)
    except (StackyardError, KeyboardInterrupt) as exc:
        return report(exc, verbose=args.verbose)
