"""`inv db.*`: the commands of backup and restore, shell and migrations of the stack's PostgreSQL:
the service with the database role, and the one with the migrate role
([tool.stackyard.roles], or detected: engine/roles.py).

Each task first says which environment and compose project it acts on: they
default to dev, like every everyday task, while prod is one `--env` away.
Credentials never cross our process: each command reads POSTGRES_USER and
POSTGRES_DB inside the database's container.

Backups (taken, kept on the engine, fetched, restored) are stack/backups.py's."""

from __future__ import annotations

import os
import pathlib
import re
import shlex
import sys
from collections.abc import Sequence

from stackyard.commands import compose
from stackyard.commands import swarm as swarmcmds
from stackyard.config import Database, Environment, Hook
from stackyard.core.command import Command
from stackyard.engine import roles
from stackyard.errors import StackyardError
from stackyard.session import Session
from stackyard.swarm import execs as swarmexecs

DUMP = 'exec pg_dump --format=custom --no-owner -U "$POSTGRES_USER" "$POSTGRES_DB"'
RESTORE = 'exec pg_restore --clean --if-exists --no-owner -U "$POSTGRES_USER" -d "${1:-$POSTGRES_DB}"'
SHELL = 'exec psql -U "$POSTGRES_USER" "$POSTGRES_DB"'
# The live database's name as PostgreSQL's image makes it (POSTGRES_DB, else the user's name).
LIVE_NAME = 'printf %s "${POSTGRES_DB:-${POSTGRES_USER:-postgres}}"'


# The header line `pg_restore --list` prints for an archive it can read (";     Format: CUSTOM").
CUSTOM_FORMAT = re.compile(r"^;\s+Format: CUSTOM\b", re.MULTILINE)


def exec_in(
    env: Environment, service: str, argv: Sequence[str], *, tty: bool = False, task: str | None = None
) -> Command:
    """`argv` in the service's container: `docker compose exec`; on Swarm, `docker exec`
    in `task`, the container of its task on this node (`container`)."""
    if task:
        return swarmcmds.exec_(task, argv, tty=tty)
    return compose.exec_(env, service, argv, tty=tty)


def container(s: Session, service: str) -> str | None:
    """On Swarm, the container of the service's task on this node (an error naming the
    node it runs on when it is another); None where Compose finds it by service."""
    return swarmexecs.container(s, service) if s.env.orchestrator == "swarm" else None


def in_db(
    env: Environment, service: str, script: str, *args: str, tty: bool = False, task: str | None = None
) -> Command:
    return exec_in(env, service, ("sh", "-c", script, "sh", *args), tty=tty, task=task)


def dump(env: Environment, service: str, task: str | None = None) -> Command:
    return in_db(env, service, DUMP, task=task)


def list_dump(env: Environment, service: str, task: str | None = None) -> Command:
    return exec_in(env, service, ("pg_restore", "--list"), task=task)


def live_name(env: Environment, service: str, task: str | None = None) -> Command:
    """Prints the name of the database the stack uses, read inside its container."""
    return in_db(env, service, LIVE_NAME, task=task)


def restore_cmd(env: Environment, service: str, database: str | None = None, task: str | None = None) -> Command:
    return in_db(env, service, RESTORE, *([database] if database else []), task=task)


def postgres(s: Session, task: str) -> Database:
    """The service with the database role, which must be PostgreSQL's for `task`."""
    found = roles.resolve(s.project.roles, s.config()).database
    if found is None:
        raise StackyardError(
            f"{task}: no service of {s.env.name}'s compose config is detected as the database",
            'state it: [tool.stackyard.roles] database = {service = "...", kind = "postgres"}',
        )
    if found.kind != "postgres":
        raise StackyardError(
            f"{task} supports kind postgres; service {found.service} is {found.kind}",
            "use the database's own tools (`inv exec " + found.service + " -- ...`)",
        )
    return found


def hook_cmd(env: Environment, hook: Hook, task: str | None = None) -> Command:
    return exec_in(env, hook.service, hook.command, task=task)


def target(s: Session) -> str:
    """The environment and compose project a data task acts on, as it names them."""
    return f"{s.env.name} (project {s.env.project})"


def announce(text: str) -> None:
    """Say what a data task is about to do, on stderr beside the echoed commands
    (stdout stays the task's output: psql's, a report)."""
    print(text, file=sys.stderr, flush=True)


def private_file(path: pathlib.Path) -> None:
    """An empty `path`, mode 600, in its directory made mode 700 (whatever the
    umask, and if either existed before), for a dump to be written into."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.parent.chmod(0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
    finally:
        os.close(fd)


def guard(s: Session, confirm_data_loss: bool, database: str | None) -> tuple[str, str | None]:
    """(the database service, the database to restore into: None for the live one),
    once the restore is allowed: over a protected environment's live database only
    with confirm_data_loss. A `database` that names the live one is the live one."""
    service = postgres(s, "db.restore").service
    live = s.read(live_name(s.env, service, container(s, service))).stdout.strip() if database is not None else ""
    if database is not None and database == live:
        database = None  # named, it is the live database all the same: guarded, and its caches flushed
    if s.env.protected and not confirm_data_loss and database is None:
        named = f" ({live}, the live database)" if live else ""
        raise StackyardError(
            f"refusing to overwrite the database{named} of protected environment {s.env.name!r}",
            "add --confirm-data-loss as well if you really mean it, or --database OTHER to restore beside it",
        )
    return service, database


def restore_file(s: Session, service: str, file: pathlib.Path, database: str | None) -> None:
    """pg_restore the file into the live database (None) or `database`; then, into
    the live one, the after_restore hooks."""
    into = f"database {database}" if database else "the database"
    announce(f"db.restore: restoring {file.name} into {into} of {target(s)}")
    s.run_files(restore_cmd(s.env, service, database, container(s, service)), stdin_path=file)
    hooks = s.project.after_restore if database is None else ()
    for hook in hooks:
        run_hook(s, hook, file)
    if not s.dry:
        s.print(f"restored {file.name} into {into} of {s.env.name}")


def run_hook(s: Session, hook: Hook, file: pathlib.Path) -> None:
    announce(f"db.restore: after_restore: running its command in {hook.service}")
    try:
        res = s.run(hook_cmd(s.env, hook, container(s, hook.service)))
    except StackyardError as exc:
        raise StackyardError(
            f"{file.name} was restored, but its after_restore command in {hook.service} failed ({exc})",
            f"until it runs, what {hook.service} holds may be stale: fix it and run "
            f"`inv exec {hook.service} -- {shlex.join(hook.command)}`",
        ) from exc
    for line in (res.stdout + res.stderr).splitlines():
        s.print(f"{hook.service}: {line}")


def shell(s: Session, tty: bool) -> int:
    service = postgres(s, "db.shell").service
    announce(f"db.shell: psql in the database of {target(s)}")
    cmd = in_db(s.env, service, SHELL, tty=tty, task=container(s, service))
    return s.run(cmd, mode="interactive", check=False).returncode


def migrate(s: Session) -> None:
    service = roles.resolve(s.project.roles, s.config()).migrate
    if service is None:
        raise StackyardError(
            f"db.migrate: no service of {s.env.name}'s compose config is detected as the migration",
            'state it: [tool.stackyard.roles] migrate = "..."',
        )
    if s.env.orchestrator == "swarm":
        raise StackyardError(
            f"db.migrate: on Swarm, {service} is a job of the stack, run by each deploy before the web service",
            f"`inv prod-deploy --env {s.env.name}` runs it; `inv logs --env {s.env.name} -s {service}` shows its runs",
        )
    announce(f"db.migrate: migrating the database of {target(s)}")
    s.stream(compose.run_once(s.env, service))
