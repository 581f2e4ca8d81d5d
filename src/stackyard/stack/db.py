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

from stackyard.commands import compose
from stackyard.config import Database, Environment, Hook
from stackyard.core.command import Command
from stackyard.engine import roles
from stackyard.errors import StackyardError
from stackyard.session import Session

DUMP = 'exec pg_dump --format=custom --no-owner -U "$POSTGRES_USER" "$POSTGRES_DB"'
RESTORE = 'exec pg_restore --clean --if-exists --no-owner -U "$POSTGRES_USER" -d "${1:-$POSTGRES_DB}"'
SHELL = 'exec psql -U "$POSTGRES_USER" "$POSTGRES_DB"'
# The live database's name as PostgreSQL's image makes it (POSTGRES_DB, else the user's name).
LIVE_NAME = 'printf %s "${POSTGRES_DB:-${POSTGRES_USER:-postgres}}"'


# The header line `pg_restore --list` prints for an archive it can read (";     Format: CUSTOM").
CUSTOM_FORMAT = re.compile(r"^;\s+Format: CUSTOM\b", re.MULTILINE)


def in_db(env: Environment, service: str, script: str, *args: str, tty: bool = False) -> Command:
    return compose.exec_(env, service, ("sh", "-c", script, "sh", *args), tty=tty)


def dump(env: Environment, service: str) -> Command:
    return in_db(env, service, DUMP)


def list_dump(env: Environment, service: str) -> Command:
    return compose.exec_(env, service, ("pg_restore", "--list"), tty=False)


def live_name(env: Environment, service: str) -> Command:
    """Prints the name of the database the stack uses, read inside its container."""
    return in_db(env, service, LIVE_NAME)


def restore_cmd(env: Environment, service: str, database: str | None = None) -> Command:
    return in_db(env, service, RESTORE, *([database] if database else []))


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


def hook_cmd(env: Environment, hook: Hook) -> Command:
    return compose.exec_(env, hook.service, hook.command, tty=False)


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
    live = s.read(live_name(s.env, service)).stdout.strip() if database is not None else ""
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
    s.run_files(restore_cmd(s.env, service, database), stdin_path=file)
    hooks = s.project.after_restore if database is None else ()
    for hook in hooks:
        run_hook(s, hook, file)
    if not s.dry:
        s.print(f"restored {file.name} into {into} of {s.env.name}")


def run_hook(s: Session, hook: Hook, file: pathlib.Path) -> None:
    announce(f"db.restore: after_restore: running its command in {hook.service}")
    try:
        res = s.run(hook_cmd(s.env, hook))
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
    return s.run(in_db(s.env, service, SHELL, tty=tty), mode="interactive", check=False).returncode


def migrate(s: Session) -> None:
    service = roles.resolve(s.project.roles, s.config()).migrate
    if service is None:
        raise StackyardError(
            f"db.migrate: no service of {s.env.name}'s compose config is detected as the migration",
            'state it: [tool.stackyard.roles] migrate = "..."',
        )
    announce(f"db.migrate: migrating the database of {target(s)}")
    s.stream(compose.run_once(s.env, service))
