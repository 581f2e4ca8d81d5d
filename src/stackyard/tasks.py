"""The Invoke tasks: adapters that parse options and call one package function.

Heavy modules are imported inside the task bodies so that `inv --list` stays fast.
Every task answers `inv TASK --help` (and `-h`), positional arguments or not: see
cli.py, which fixes that in Invoke's parser where it needs fixing.
"""

from __future__ import annotations

import shlex
import sys

from invoke import Collection, Exit

from stackyard.cli import DeployTask, stackyard_task

ENV_HELP = "environment (default: dev, or $STACKYARD_ENV)"
# The db.* tasks sit beside the deploy tasks in the README, but act on dev unless told.
DB_ENV_HELP = "environment to act on (default: dev, or $STACKYARD_ENV; prod only with --env prod)"
# Invoke takes every bare word as a task name, so services come as a flag:
# `inv logs -s api,worker`.
SERVICES_HELP = "services, comma-separated (default: all)"
HOST_HELP = (
    "the target engine, in DOCKER_HOST form (ssh://user@host); default: the environment's `host`, "
    "else DOCKER_HOST or this machine's"
)


def session(c, env, host=None):
    """The Session for a task: project config, environment, a runner honouring
    `inv --dry`; its target engine is `host` (`--host`, DOCKER_HOST syntax), else the
    environment's `host`, else the docker CLI's default (the local engine)."""
    from stackyard import config
    from stackyard.core.runner import Runner
    from stackyard.session import Session

    project = config.load()
    environment = project.environment(env)
    target = config.engine_address(host, "--host") if host else environment.host
    return Session(project, environment, Runner(dry=bool(c.config.run.dry), target=target))


def split(services: str | None) -> list[str]:
    return [s for s in (services or "").replace(" ", ",").split(",") if s]


def remainder(c) -> list[str]:
    """Words after `--`, with their quoting: Invoke joins them into one string."""
    if "--" in sys.argv:
        return sys.argv[sys.argv.index("--") + 1 :]
    return shlex.split(c.remainder or "")


@stackyard_task(
    help={
        "env": ENV_HELP,
        "timeout": "seconds to wait for health (default 180)",
        "watch": "then Compose's watch until Ctrl-C: saved code copied in, services restarted, the image "
        "rebuilt when its requirements, locks or Dockerfile change (compose/compose.<env>.watch.yaml)",
    }
)
def dev(c, env=None, timeout=180, watch=False):
    """Build what changed, start the stack, wait until healthy, print its URLs (--watch: then follow edits)."""
    if watch:
        from stackyard.stack import watch as watch_

        watch_.run(session(c, env), timeout=int(timeout))
        return
    from stackyard.stack import ops as stack

    stack.up(session(c, env), build=True, timeout=int(timeout))


@stackyard_task(
    help={
        "services": SERVICES_HELP,
        "env": ENV_HELP,
        "no_build": "skip the build",
        "timeout": "seconds to wait for health",
        "host": HOST_HELP,
    }
)
def up(c, services=None, env=None, no_build=False, timeout=180, host=None):
    """Start an environment (or some services) detached, and wait until healthy."""
    from stackyard.stack import ops as stack

    stack.up(session(c, env, host), split(services), build=not no_build, timeout=int(timeout))


@stackyard_task(
    help={
        "env": ENV_HELP,
        "volumes": "also delete the named volumes (the data)",
        "confirm_data_loss": "second flag needed with --volumes on a protected env (prod)",
        "host": HOST_HELP,
    }
)
def down(c, env=None, volumes=False, confirm_data_loss=False, host=None):
    """Stop and remove the containers; volumes are kept unless --volumes."""
    from stackyard.stack import ops as stack

    stack.down(session(c, env, host), volumes=volumes, confirm_data_loss=confirm_data_loss)


@stackyard_task(name="ps", help={"env": ENV_HELP, "json": "print JSON instead of a table", "host": HOST_HELP})
def ps_(c, env=None, json=False, host=None):
    """Services with state, health and published URLs; whether the environment is up, or what does not run."""
    from stackyard.stack import status

    status.ps(session(c, env, host), as_json=json)


@stackyard_task(help={"services": SERVICES_HELP, "env": ENV_HELP, "host": HOST_HELP})
def build(c, services=None, env=None, host=None):
    """Build the images of the environment, or those some services run (a shared image: its builder)."""
    from stackyard.stack import ops as stack

    stack.build(session(c, env, host), split(services))


@stackyard_task(help={"services": SERVICES_HELP, "env": ENV_HELP, "host": HOST_HELP})
def restart(c, services=None, env=None, host=None):
    """Restart services (all by default)."""
    from stackyard.stack import ops as stack

    stack.restart(session(c, env, host), split(services))


@stackyard_task(help={"env": ENV_HELP})
def config(c, env=None):
    """Print the merged, rendered compose config of an environment (secrets masked, with their length)."""
    from stackyard.stack import ops as stack

    stack.show_config(session(c, env))


@stackyard_task(
    help={
        "services": SERVICES_HELP,
        "env": ENV_HELP,
        "follow": "keep streaming new lines",
        "since": "only lines since (10m, 1h, or a timestamp)",
        "tail": "only the last N lines per service",
        "grep": "only lines containing TEXT (case-insensitive)",
        "host": HOST_HELP,
    }
)
def logs(c, services=None, env=None, follow=False, since=None, tail=None, grep=None, host=None):
    """One log stream for all services (or some), with timestamps; Ctrl-C ends it."""
    from stackyard.stack import logs as logs_

    logs_.stream(
        session(c, env, host),
        split(services),
        follow=follow,
        since=since,
        tail=None if tail is None else int(tail),
        grep=grep,
    )


@stackyard_task(
    name="exec",
    positional=["service"],
    help={"service": "the service to run in", "env": ENV_HELP, "host": HOST_HELP},
)
def exec_(c, service, env=None, host=None):
    """Run a command in a running service: inv exec SERVICE -- COMMAND [ARGS...]; exits with its code."""
    from stackyard.stack import execs

    code = execs.run(session(c, env, host), service, remainder(c))
    if code:  # the command's own code; its output already said why
        raise Exit(code=code)


@stackyard_task(
    positional=["service"], help={"service": "the service to open a shell in", "env": ENV_HELP, "host": HOST_HELP}
)
def shell(c, service, env=None, host=None):
    """Open a shell (bash if the image has it, else sh) in a running service; exits with its code."""
    from stackyard.stack import execs

    code = execs.shell(session(c, env, host), service)
    if code:
        raise Exit(code=code)


@stackyard_task(help={"env": ENV_HELP})
def doctor(c, env=None):
    """Check the engine, Compose, BuildKit, the environment's variables and host ports, and disk space."""
    from stackyard.stack import doctor as doctor_

    doctor_.run(session(c, env))


@stackyard_task(
    help={
        "host": "processes stackyard runs on the host, comma-separated (default: [tool.stackyard.hybrid] default, "
        "less those given to --ide)",
        "ide": "processes you start from your IDE, comma-separated: their containers stop, their port is checked, "
        "their command and variables are printed and written to .stackyard/hybrid/<env>-<name>.env",
        "env": ENV_HELP,
        "logs": "also stream the containers' logs",
        "down": "remove the containers at the end (volumes kept)",
        "print_env": "print the variables of every process that leaves its container (secrets masked) and exit",
    }
)
def hybrid(c, host=None, ide=None, env=None, logs=False, down=False, print_env=False):
    """The app's processes on the host (reload, debugger) or in your IDE, their dependencies in containers."""
    from stackyard.hybrid import run as hybrid_run

    hosts = split(host) if host is not None else None
    hybrid_run.run(session(c, env), hosts, ide=split(ide), logs=logs, down=down, print_only=print_env)


@stackyard_task(help={"env": ENV_HELP, "json": "print JSON instead of a table"})
def show(c, env=None, json=False):
    """Every variable: its value (secrets masked), the layer that set it, the layers it overrode."""
    from stackyard.env import ops as envops

    envops.show(session(c, env), as_json=json)


@stackyard_task(positional=["key"], help={"key": "the variable", "env": ENV_HELP})
def explain(c, key, env=None):
    """One variable in every layer (secrets masked), and which layer wins."""
    from stackyard.env import ops as envops

    envops.explain(session(c, env), key)


@stackyard_task(positional=["a", "b"], help={"a": "first environment", "b": "second environment"})
def diff(c, a, b):
    """Variables missing, extra or different between two environments (secrets masked)."""
    from stackyard.env import ops as envops

    envops.diff(session(c, a), session(c, b))


@stackyard_task(help={"env": ENV_HELP, "force": "replace an existing local file (its secrets change)"})
def init(c, env=None, force=False):
    """Create env/<env>.local.env from .env.example with strong random secrets."""
    from stackyard.env import ops as envops

    envops.init(session(c, env), force=force)


@stackyard_task(help={"env": ENV_HELP})
def check(c, env=None):
    """Required variables, unknown names, secret strength, git leaks, prod rules; exit 1 on a problem."""
    from stackyard.env import ops as envops

    envops.check(session(c, env))


env_tasks = Collection("env", show, explain, diff, init, check)

PROD_HELP = "environment (default: prod)"


@stackyard_task(
    name="prod-deploy",
    klass=DeployTask,
    auto_shortflags=False,
    help={
        "host": HOST_HELP,
        "env": PROD_HELP,
        "dry_run": "make the read-only checks, print the plan; change nothing (as `inv --dry`)",
        "allow_dirty": "deploy even with uncommitted changes",
        "health_timeout": "seconds the new version has to become healthy (default 120)",
        "build_on": "where the images for a remote target are built: local (this machine's engine, then shipped) "
        "or host (the target's engine: only the build context travels); default: the environment's build_on, "
        "else local",
        "bundle": "deploy this bundle (`inv bundle` wrote it) instead of the working tree: verified, its images "
        "loaded on the target, nothing built",
    },
)
def prod_deploy(
    c, env="prod", host=None, dry_run=False, allow_dirty=False, health_timeout=None, build_on=None, bundle=None
):
    """Guarded, zero-downtime deploy: lock, build, backup, migrate, health-gated switch, rollback on failure."""
    import pathlib

    from stackyard.deploy import plan
    from stackyard.deploy import run as deploy_run

    timeout = int(health_timeout) if health_timeout is not None else plan.HEALTH_TIMEOUT
    deploy_run.run(
        session(c, env, host),
        allow_dirty=allow_dirty,
        dry_run=dry_run,
        health_timeout=timeout,
        build_on=build_on,
        bundle=pathlib.Path(bundle) if bundle else None,
    )


@stackyard_task(
    klass=DeployTask,
    auto_shortflags=False,
    positional=["release"],
    help={
        "release": "the release to go back to, as `inv releases` lists it (default: the previous good one)",
        "env": PROD_HELP,
        "host": HOST_HELP,
        "dry_run": "make the read-only checks, print the plan; change nothing (as `inv --dry`)",
    },
)
def rollback(c, release=None, env="prod", host=None, dry_run=False):
    """Back to an earlier release with the same zero-downtime switch; no rebuild; the database is untouched."""
    from stackyard.deploy import run as deploy_run

    deploy_run.run(session(c, env, host), kind="rollback", target=release or None, dry_run=dry_run)


@stackyard_task(klass=DeployTask, auto_shortflags=False, help={"env": PROD_HELP, "host": HOST_HELP})
def releases(c, env="prod", host=None):
    """The release history: version, kind, result, time, who, backup, reason."""
    from stackyard.deploy import run as deploy_run

    deploy_run.show(session(c, env, host))


@stackyard_task(
    klass=DeployTask,
    auto_shortflags=False,
    help={"env": PROD_HELP, "host": HOST_HELP, "yes": "confirm: remove the lock"},
)
def unlock(c, env="prod", host=None, yes=False):
    """Clear a stale deploy lock (asks for --yes, naming its holder)."""
    from stackyard.deploy import run as deploy_run

    deploy_run.unlock(session(c, env, host), yes=yes)


@stackyard_task(
    name="check",
    klass=DeployTask,
    auto_shortflags=False,
    help={"host": HOST_HELP, "env": PROD_HELP},
)
def host_check(c, env="prod", host=None):
    """The target engine against what the environment needs: versions, OS/arch, disk, ports, clock; exit 1 on a fail."""
    from stackyard.stack import host as host_

    host_.run(session(c, env, host))


@stackyard_task(help={"env": DB_ENV_HELP, "host": HOST_HELP, "download": "keep a copy in backups/<project>/ too"})
def backup(c, env=None, host=None, download=False):
    """pg_dump (custom format), checked with pg_restore --list, kept on the engine (the host)."""
    from stackyard.stack import backups as backups_

    backups_.manual(session(c, env, host), download=download)


@stackyard_task(
    help={"env": DB_ENV_HELP, "host": HOST_HELP, "download": "copy this one (or latest) to backups/<project>/"}
)
def backups(c, env=None, host=None, download=None):
    """The backups kept on the engine: name, size, time, SHA-256; --download NAME fetches one."""
    from stackyard.stack import backups as backups_

    s = session(c, env, host)
    if download:
        backups_.download(s, download)
    else:
        backups_.show(s)


@stackyard_task(
    positional=["backup"],
    help={
        "backup": "a backup's name (`inv db.backups`, or latest), or a .dump file here",
        "env": DB_ENV_HELP,
        "confirm_data_loss": "second flag needed on a protected env (prod)",
        "database": "restore into this database instead (it must exist)",
        "host": HOST_HELP,
    },
)
def restore(c, backup, env=None, confirm_data_loss=False, database=None, host=None):
    """Restore a backup over the database, then [tool.stackyard.db] after_restore; prod needs --confirm-data-loss."""
    from stackyard.stack import backups as backups_

    backups_.restore(session(c, env, host), backup, confirm_data_loss=confirm_data_loss, database=database)


@stackyard_task(name="shell", help={"env": DB_ENV_HELP, "host": HOST_HELP})
def db_shell(c, env=None, host=None):
    """psql in the database role's container, as the app's user."""
    from stackyard.stack import db, execs

    code = db.shell(session(c, env, host), tty=execs.has_tty())
    if code:
        raise Exit(code=code)


@stackyard_task(help={"env": DB_ENV_HELP, "host": HOST_HELP})
def migrate(c, env=None, host=None):
    """Run the migrations (the migrate role's one-shot service) once."""
    from stackyard.stack import db

    db.migrate(session(c, env, host))


@stackyard_task(name="init", help={"force": "replace an existing [tool.stackyard] section and tasks.py"})
def init_project(c, force=False):
    """Set stackyard up in a compose project: detect environments and roles, write [tool.stackyard].

    Prints what it detected and why; writes tasks.py too when there is none."""
    import pathlib

    from stackyard.core.runner import Runner
    from stackyard.project import init as project_init

    project_init.run(pathlib.Path.cwd(), Runner(dry=bool(c.config.run.dry)), force=force)


@stackyard_task(
    name="write",
    klass=DeployTask,
    auto_shortflags=False,
    help={
        "env": PROD_HELP,
        "output": "the file to write (default: dist/<project>-<env>-<release>.bundle.tar)",
        "dry_run": "check, print the build and what would be written; write nothing (as `inv --dry`)",
    },
)
def bundle_write(c, env="prod", output=None, dry_run=False):
    """Build the release and write it to one file (images, compose config, manifest) for a host with no registry.

    No secret's value goes in: a config that holds one is refused, naming the variable."""
    import pathlib

    from stackyard.bundle import make

    if dry_run:
        c.config.run.dry = True
    make.run(session(c, env), pathlib.Path(output) if output else None)


@stackyard_task(name="verify", positional=["file"], help={"file": "a bundle written by `inv bundle`"})
def bundle_verify(c, file):
    """Check every member of a bundle (size, SHA-256, none missing, not cut off); print them and the release."""
    import pathlib

    from stackyard.bundle import load

    load.show(pathlib.Path(file), print)


SWARM_ENV_HELP = "an environment whose orchestrator is swarm (default: swarm)"


@stackyard_task(
    name="init",
    help={"env": SWARM_ENV_HELP, "advertise_addr": "the address other nodes reach this one at", "host": HOST_HELP},
)
def swarm_init(c, env="swarm", advertise_addr=None, host=None):
    """Make the engine a single-node swarm (its manager); nothing when it is in one already."""
    from stackyard.swarm import run

    run.init(session(c, env, host), advertise_addr)


@stackyard_task(name="join-token", help={"env": SWARM_ENV_HELP, "host": HOST_HELP})
def swarm_join_token(c, env="swarm", host=None):
    """The `docker swarm join` command a worker node runs to join this swarm."""
    from stackyard.swarm import run

    run.join_token(session(c, env, host))


deploy_tasks = Collection("deploy", unlock)
swarm_tasks = Collection("swarm", swarm_init, swarm_join_token)
host_tasks = Collection("host", host_check)
# `inv bundle` writes one (its default task), `inv bundle.verify FILE` checks one.
bundle_tasks = Collection("bundle", bundle_verify)
bundle_tasks.add_task(bundle_write, default=True)
db_tasks = Collection("db", backup, backups, restore, db_shell, migrate)
namespace = Collection(
    init_project,
    dev,
    up,
    down,
    ps_,
    build,
    restart,
    config,
    logs,
    exec_,
    shell,
    doctor,
    hybrid,
    prod_deploy,
    rollback,
    releases,
    env_tasks,
    deploy_tasks,
    db_tasks,
    host_tasks,
    bundle_tasks,
    swarm_tasks,
)
