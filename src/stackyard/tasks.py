"""The Invoke tasks: adapters that parse options and call one package function.

Heavy modules are imported inside the task bodies so that `inv --list` stays fast.
"""

from __future__ import annotations

import shlex
import sys

from invoke import Collection, task

from stackyard.errors import adapter

ENV_HELP = "environment (default: $STACKYARD_ENV or dev)"
VERBOSE_HELP = "show the traceback of an error"
# Invoke takes every bare word as a task name, so services come as a flag:
# `inv logs -s api,worker`.
SERVICES_HELP = "services, comma-separated (default: all)"


def session(c, env, host=None):
    """The Session for a task: project config, environment, a runner honouring
    `inv --dry`; `host` (DOCKER_HOST syntax) names the target engine."""
    import os

    from stackyard import config
    from stackyard.core.runner import Runner
    from stackyard.engine import api as engine
    from stackyard.session import Session

    project = config.load()
    extra = {"DOCKER_HOST": host} if host else {}
    runner = Runner(dry=bool(c.config.run.dry), env=extra)
    return Session(project, project.environment(env), runner, socket=engine.local_socket({**os.environ, **extra}))


def split(services: str | None) -> list[str]:
    return [s for s in (services or "").replace(" ", ",").split(",") if s]


def remainder(c) -> list[str]:
    """Words after `--`, with their quoting: Invoke joins them into one string."""
    if "--" in sys.argv:
        return sys.argv[sys.argv.index("--") + 1 :]
    return shlex.split(c.remainder or "")


@task(help={"env": ENV_HELP, "timeout": "seconds to wait for health (default 180)", "verbose": VERBOSE_HELP})
@adapter
def dev(c, env=None, timeout=180, verbose=False):
    """Build what changed, start the stack, wait until healthy, print its URLs."""
    from stackyard.stack import ops as stack

    stack.up(session(c, env), build=True, timeout=int(timeout))


@task(
    help={
        "services": SERVICES_HELP,
        "env": ENV_HELP,
        "no_build": "skip the build",
        "timeout": "seconds to wait for health",
        "verbose": VERBOSE_HELP,
    }
)
@adapter
def up(c, services=None, env=None, no_build=False, timeout=180, verbose=False):
    """Start an environment (or some services) detached, and wait until healthy."""
    from stackyard.stack import ops as stack

    stack.up(session(c, env), split(services), build=not no_build, timeout=int(timeout))


@task(
    help={
        "env": ENV_HELP,
        "volumes": "also delete the named volumes (the data)",
        "confirm_data_loss": "second flag needed with --volumes on a protected env (prod)",
        "verbose": VERBOSE_HELP,
    }
)
@adapter
def down(c, env=None, volumes=False, confirm_data_loss=False, verbose=False):
    """Stop and remove the containers; volumes are kept unless --volumes."""
    from stackyard.stack import ops as stack

    stack.down(session(c, env), volumes=volumes, confirm_data_loss=confirm_data_loss)


@task(name="ps", help={"env": ENV_HELP, "json": "print JSON instead of a table", "verbose": VERBOSE_HELP})
@adapter
def ps_(c, env=None, json=False, verbose=False):
    """Services with state, health and published URLs."""
    from stackyard.stack import ops as stack

    stack.ps(session(c, env), as_json=json)


@task(help={"services": SERVICES_HELP, "env": ENV_HELP, "verbose": VERBOSE_HELP})
@adapter
def build(c, services=None, env=None, verbose=False):
    """Build the images of the environment (or of some services)."""
    from stackyard.stack import ops as stack

    stack.build(session(c, env), split(services))


@task(help={"services": SERVICES_HELP, "env": ENV_HELP, "verbose": VERBOSE_HELP})
@adapter
def restart(c, services=None, env=None, verbose=False):
    """Restart services (all by default)."""
    from stackyard.stack import ops as stack

    stack.restart(session(c, env), split(services))


@task(help={"env": ENV_HELP, "verbose": VERBOSE_HELP})
@adapter
def config(c, env=None, verbose=False):
    """Print the merged, rendered compose config of an environment (secrets masked)."""
    from stackyard.stack import ops as stack

    stack.show_config(session(c, env))


@task(
    help={
        "services": SERVICES_HELP,
        "env": ENV_HELP,
        "follow": "keep streaming new lines",
        "since": "only lines since (10m, 1h, or a timestamp)",
        "tail": "only the last N lines per service",
        "grep": "only lines containing TEXT (case-insensitive)",
        "verbose": VERBOSE_HELP,
    }
)
@adapter
def logs(c, services=None, env=None, follow=False, since=None, tail=None, grep=None, verbose=False):
    """One log stream for all services (or some), with timestamps; Ctrl-C ends it."""
    from stackyard.stack import logs as logs_

    logs_.stream(
        session(c, env),
        split(services),
        follow=follow,
        since=since,
        tail=None if tail is None else int(tail),
        grep=grep,
    )


@task(
    name="exec",
    positional=["service"],
    help={"service": "the service to run in", "env": ENV_HELP, "verbose": VERBOSE_HELP},
)
@adapter
def exec_(c, service, env=None, verbose=False):
    """Run a command in a service: inv exec SERVICE -- COMMAND [ARGS...]"""
    from stackyard.stack import execs

    execs.run(session(c, env), service, remainder(c))


@task(
    positional=["service"], help={"service": "the service to open a shell in", "env": ENV_HELP, "verbose": VERBOSE_HELP}
)
@adapter
def shell(c, service, env=None, verbose=False):
    """Open a shell (bash if the image has it, else sh) in a running service."""
    from stackyard.stack import execs

    execs.shell(session(c, env), service)


@task(help={"env": ENV_HELP, "verbose": VERBOSE_HELP})
@adapter
def doctor(c, env=None, verbose=False):
    """Check the engine, Compose, BuildKit, the environment's host ports and disk space."""
    from stackyard.stack import doctor as doctor_

    doctor_.run(session(c, env))


@task(
    help={
        "host": "processes to run on the host, comma-separated (default: api,worker)",
        "env": ENV_HELP,
        "logs": "also stream the containers' logs",
        "down": "remove the containers at the end (volumes kept)",
        "print_env": "print each host process's variables (secrets masked) and exit",
        "verbose": VERBOSE_HELP,
    }
)
@adapter
def hybrid(c, host=None, env=None, logs=False, down=False, print_env=False, verbose=False):
    """API and worker on the host (reload, debugger), PostgreSQL and Redis in containers."""
    from stackyard.hybrid import run as hybrid_run

    hybrid_run.run(session(c, env), split(host) or None, logs=logs, down=down, print_only=print_env)


@task(help={"env": ENV_HELP, "json": "print JSON instead of a table", "verbose": VERBOSE_HELP})
@adapter
def show(c, env=None, json=False, verbose=False):
    """Every variable: its value (secrets masked), the layer that set it, the layers it overrode."""
    from stackyard.env import ops as envops

    envops.show(session(c, env), as_json=json)


@task(positional=["key"], help={"key": "the variable", "env": ENV_HELP, "verbose": VERBOSE_HELP})
@adapter
def explain(c, key, env=None, verbose=False):
    """One variable in every layer (secrets masked), and which layer wins."""
    from stackyard.env import ops as envops

    envops.explain(session(c, env), key)


@task(positional=["a", "b"], help={"a": "first environment", "b": "second environment", "verbose": VERBOSE_HELP})
@adapter
def diff(c, a, b, verbose=False):
    """Variables missing, extra or different between two environments (secrets masked)."""
    from stackyard.env import ops as envops

    envops.diff(session(c, a), session(c, b))


@task(help={"env": ENV_HELP, "force": "replace an existing local file (its secrets change)", "verbose": VERBOSE_HELP})
@adapter
def init(c, env=None, force=False, verbose=False):
    """Create env/<env>.local.env from .env.example with strong random secrets."""
    from stackyard.env import ops as envops

    envops.init(session(c, env), force=force)


@task(help={"env": ENV_HELP, "verbose": VERBOSE_HELP})
@adapter
def check(c, env=None, verbose=False):
    """Required variables, unknown names, secret strength, git leaks, prod rules; exit 1 on a problem."""
    from stackyard.env import ops as envops

    envops.check(session(c, env))


env_tasks = Collection("env", show, explain, diff, init, check)

PROD_HELP = "environment (default: prod)"
HOST_HELP = "the target engine, in DOCKER_HOST form (ssh://user@host); default: DOCKER_HOST or this machine's"


@task(
    name="prod-deploy",
    auto_shortflags=False,
    help={
        "host": HOST_HELP,
        "env": PROD_HELP,
        "dry_run": "print the plan and change nothing",
        "allow_dirty": "deploy even with uncommitted changes",
        "health_timeout": "seconds the new version has to become healthy",
        "verbose": VERBOSE_HELP,
    },
)
@adapter
def prod_deploy(c, env="prod", host=None, dry_run=False, allow_dirty=False, health_timeout=120, verbose=False):
    """Guarded, zero-downtime deploy: lock, build, backup, migrate, health-gated switch, rollback on failure."""
    from stackyard.deploy import run as deploy_run

    deploy_run.run(session(c, env, host), allow_dirty=allow_dirty, dry_run=dry_run, health_timeout=int(health_timeout))


@task(
    auto_shortflags=False,
    positional=["release"],
    help={
        "release": "the release to go back to (default: the previous good one)",
        "env": PROD_HELP,
        "host": HOST_HELP,
        "dry_run": "print the plan and change nothing",
        "verbose": VERBOSE_HELP,
    },
)
@adapter
def rollback(c, release="", env="prod", host=None, dry_run=False, verbose=False):
    """Back to an earlier release with the same zero-downtime switch; no rebuild; the database is untouched."""
    from stackyard.deploy import run as deploy_run

    deploy_run.run(session(c, env, host), kind="rollback", target=release or None, dry_run=dry_run)


@task(help={"env": PROD_HELP, "verbose": VERBOSE_HELP})
@adapter
def releases(c, env="prod", verbose=False):
    """The release history: version, kind, result, time, who, backup, reason."""
    from stackyard.deploy import run as deploy_run

    deploy_run.show(session(c, env))


@task(
    auto_shortflags=False,
    help={"env": PROD_HELP, "host": HOST_HELP, "yes": "confirm: remove the lock", "verbose": VERBOSE_HELP},
)
@adapter
def unlock(c, env="prod", host=None, yes=False, verbose=False):
    """Clear a stale deploy lock (asks for --yes, naming its holder)."""
    from stackyard.deploy import run as deploy_run

    deploy_run.unlock(session(c, env, host), yes=yes)


@task(help={"env": ENV_HELP, "verbose": VERBOSE_HELP})
@adapter
def backup(c, env=None, verbose=False):
    """pg_dump (custom format) to backups/<project>/, checked with pg_restore --list."""
    from stackyard.deploy import releases as rel
    from stackyard.stack import db

    db.backup(session(c, env), "manual-" + rel.now().strftime("%Y%m%d%H%M%S"))


@task(
    positional=["file"],
    help={
        "file": "a .dump file from db.backup",
        "env": ENV_HELP,
        "confirm_data_loss": "second flag needed on a protected env (prod)",
        "database": "restore into this database instead (it must exist)",
        "verbose": VERBOSE_HELP,
    },
)
@adapter
def restore(c, file, env=None, confirm_data_loss=False, database=None, verbose=False):
    """Restore a backup over the database (refused on prod without --confirm-data-loss)."""
    import pathlib

    from stackyard.stack import db

    db.restore(session(c, env), pathlib.Path(file), confirm_data_loss=confirm_data_loss, database=database)


@task(name="shell", help={"env": ENV_HELP, "verbose": VERBOSE_HELP})
@adapter
def db_shell(c, env=None, verbose=False):
    """psql in the db container, as the app's user."""
    from stackyard.stack import db, execs

    db.shell(session(c, env), tty=execs.has_tty())


@task(help={"env": ENV_HELP, "verbose": VERBOSE_HELP})
@adapter
def migrate(c, env=None, verbose=False):
    """Run the migrations (the migrate service) once."""
    from stackyard.stack import db

    db.migrate(session(c, env))


deploy_tasks = Collection("deploy", unlock)
db_tasks = Collection("db", backup, restore, db_shell, migrate)
namespace = Collection(
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
)
