"""Pure builders for every `docker compose` call: project name, -f files,
--env-file files and profiles, then the subcommand. Nothing here runs."""

from __future__ import annotations

from collections.abc import Sequence

from stackyard.config import Environment
from stackyard.core.command import Command


def base(env: Environment) -> list[str]:
    argv = ["docker", "compose", "--project-name", env.project]
    for f in env.files:
        argv += ["--file", str(f)]
    for f in env.env_files:
        argv += ["--env-file", str(f)]
    for p in env.profiles:
        argv += ["--profile", p]
    return argv


def _cmd(env: Environment, *args: str, extra_env: dict[str, str] | None = None) -> Command:
    return Command(tuple(base(env)) + args, env=extra_env or {})


def version() -> Command:
    return Command(("docker", "compose", "version", "--format", "json"))


def build(env: Environment, services: Sequence[str] = ()) -> Command:
    return _cmd(env, "build", *services)


def up(
    env: Environment,
    services: Sequence[str] = (),
    *,
    build: bool = False,
    wait: bool = True,
    timeout: int = 180,
    no_deps: bool = False,
) -> Command:
    args = ["up", "--detach"]
    if build:
        args.append("--build")
    if wait:
        args += ["--wait", "--wait-timeout", str(timeout)]
    if no_deps:
        args.append("--no-deps")
    return _cmd(env, *args, *services)


def down(env: Environment, *, volumes: bool = False, timeout: int = 10) -> Command:
    args = ["down", "--remove-orphans", "--timeout", str(timeout)]
    if volumes:
        args.append("--volumes")
    return _cmd(env, *args)


def ps_json(env: Environment, *, all: bool = True) -> Command:
    return _cmd(env, "ps", *(["--all"] if all else []), "--format", "json")


def config_json(env: Environment) -> Command:
    return _cmd(env, "config", "--format", "json")


def config_json_raw(env: Environment) -> Command:
    """The merged config before interpolation: shows which variable sets what."""
    return _cmd(env, "config", "--no-interpolate", "--format", "json")


def config_yaml(env: Environment) -> Command:
    return _cmd(env, "config")


def config_services(env: Environment) -> Command:
    return _cmd(env, "config", "--services")


def stop(env: Environment, services: Sequence[str] = ()) -> Command:
    return _cmd(env, "stop", *services)


def run_once(env: Environment, service: str) -> Command:
    """A one-shot service (migrations) in a throwaway container, its dependencies already up."""
    return _cmd(env, "run", "--rm", "--no-deps", "--no-TTY", service)


def restart(env: Environment, services: Sequence[str] = ()) -> Command:
    return _cmd(env, "restart", *services)


def logs(
    env: Environment,
    services: Sequence[str] = (),
    *,
    follow: bool = False,
    since: str | None = None,
    tail: int | None = None,
    color: bool = True,
) -> Command:
    # --ansi always: colours survive the pipe through which --grep filters.
    argv = base(env) + ["--ansi", "always" if color else "never", "logs", "--timestamps"]
    if follow:
        argv.append("--follow")
    if since:
        argv += ["--since", since]
    if tail is not None:
        argv += ["--tail", str(tail)]
    if not color:
        argv.append("--no-color")
    return Command(tuple(argv + list(services)))


def exec_(env: Environment, service: str, command: Sequence[str], *, tty: bool) -> Command:
    args = ["exec"]
    if not tty:
        args.append("--no-TTY")
    return _cmd(env, *args, service, *command)


# An interactive shell: bash where the image has it, sh otherwise.
SHELL = ("sh", "-c", "if command -v bash >/dev/null 2>&1; then exec bash; else exec sh; fi")


def shell(env: Environment, service: str, *, tty: bool) -> Command:
    return exec_(env, service, SHELL, tty=tty)
