"""Pure builders for every `docker compose` call: project name, -f files,
--env-file files and profiles, then the subcommand. Nothing here runs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from stackyard.config import Environment
from stackyard.core.command import Command

ALL_PROFILES = ("*",)


def base(env: Environment, profiles: Sequence[str] | None = None) -> list[str]:
    """`docker compose` with the environment's project, files, env files and
    profiles (`profiles` replaces the environment's own; ALL_PROFILES: every one)."""
    argv = ["docker", "compose", "--project-name", env.project]
    for f in env.files:
        argv += ["--file", str(f)]
    for f in env.env_files:
        argv += ["--env-file", str(f)]
    for p in env.profiles if profiles is None else profiles:
        argv += ["--profile", p]
    return argv


def _cmd(env: Environment, *args: str, extra_env: Mapping[str, str] | None = None) -> Command:
    return Command(tuple(base(env)) + args, env=dict(extra_env or {}))


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


def ps_json(env: Environment, services: Sequence[str] = (), *, all: bool = True) -> Command:
    """JSON Lines, one container a line (`all`: stopped ones too)."""
    return _cmd(env, "ps", *(["--all"] if all else []), "--format", "json", *services)


def config_json(
    env: Environment, *, profiles: Sequence[str] | None = None, extra_env: Mapping[str, str] | None = None
) -> Command:
    return Command((*base(env, profiles), "config", "--format", "json"), env=dict(extra_env or {}))


def config_json_raw(
    env: Environment, *, profiles: Sequence[str] | None = None, extra_env: Mapping[str, str] | None = None
) -> Command:
    """The merged config before interpolation: shows which variable sets what."""
    return Command((*base(env, profiles), "config", "--no-interpolate", "--format", "json"), env=dict(extra_env or {}))


def config_check(
    env: Environment, *, profiles: Sequence[str] | None = None, extra_env: Mapping[str, str] | None = None
) -> Command:
    """Validate only: exit non-zero, with the reason on stderr, when the config is invalid."""
    return Command((*base(env, profiles), "config", "--quiet"), env=dict(extra_env or {}))


def config_yaml(env: Environment) -> Command:
    return _cmd(env, "config")


def config_services(env: Environment) -> Command:
    return _cmd(env, "config", "--services")


def scale_up(env: Environment, service: str, replicas: int, *, start: bool = True) -> Command:
    """One more container of `service` beside the running ones (a blue/green switch):
    the others are not recreated, dependencies are not touched. `start=False` only
    creates it; the same command with `start=True` then starts the one created as it
    is (its networks as they were left), through Compose: it copies the service's
    secrets and configs in as it starts it, which `docker start` would not."""
    how = "--detach" if start else "--no-start"
    return _cmd(env, "up", how, "--no-deps", "--no-recreate", "--scale", f"{service}={replicas}", service)


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


def exec_(
    env: Environment,
    service: str,
    command: Sequence[str],
    *,
    tty: bool,
    environment: Mapping[str, str] | None = None,
) -> Command:
    """`command` in the running `service`; `environment` sets variables in it (never a secret:
    they are on the command line)."""
    args = ["exec"]
    if not tty:
        args.append("--no-TTY")
    for key, value in (environment or {}).items():
        args += ["--env", f"{key}={value}"]
    return _cmd(env, *args, service, *command)


# An interactive shell: bash where the image has it, sh otherwise.
SHELL = ("sh", "-c", "if command -v bash >/dev/null 2>&1; then exec bash; else exec sh; fi")


def shell(env: Environment, service: str, *, tty: bool) -> Command:
    return exec_(env, service, SHELL, tty=tty)


# psql reads the app's user and database from the container's own variables, and the
# statement from its first argument ($0): no credential crosses our process, and the
# statement needs no quoting.
PSQL = 'psql -v ON_ERROR_STOP=1 -U "$POSTGRES_USER" -d "$POSTGRES_DB" -tAc "$0"'


def psql(env: Environment, service: str, sql: str) -> Command:
    """One SQL statement run by psql in the running PostgreSQL `service`; prints the rows unaligned."""
    return exec_(env, service, ("sh", "-c", PSQL, sql), tty=False)


def for_release(cmd: Command, tag: str) -> Command:
    """`cmd` with the images of release `tag`: the compose files tag the images they
    build ${APP_TAG}, and the app reports ${APP_VERSION}."""
    return Command(cmd.argv, {**cmd.env, "APP_TAG": tag, "APP_VERSION": tag}, cmd.cwd)


def short(cmd: Command, env: Environment) -> str:
    """`cmd` as a plan shows it: `docker compose …` stands for the environment's
    project, files and env files."""
    prefix = _cmd(env).argv
    if cmd.argv[: len(prefix)] != prefix:
        return str(cmd)
    return f"docker compose … {Command(cmd.argv[len(prefix) :])}"


def watch(env: Environment) -> Command:
    """Compose's watch in the foreground over services already up (`--no-up`: `inv dev
    --watch` has built and started them, and waited for their health): their
    `develop.watch` rules sync, restart and rebuild as files change."""
    return _cmd(env, "watch", "--no-up")
