"""`inv db.*`: backup, restore, shell and migrations of the stack's PostgreSQL.

Credentials never cross our process: each command reads POSTGRES_USER and
POSTGRES_DB inside the db container."""

from __future__ import annotations

import pathlib

from stackyard.commands import compose
from stackyard.config import Environment
from stackyard.core.command import Command
from stackyard.errors import StackyardError
from stackyard.session import Session

DUMP = 'exec pg_dump --format=custom --no-owner -U "$POSTGRES_USER" "$POSTGRES_DB"'
RESTORE = 'exec pg_restore --clean --if-exists --no-owner -U "$POSTGRES_USER" -d "${1:-$POSTGRES_DB}"'
SHELL = 'exec psql -U "$POSTGRES_USER" "$POSTGRES_DB"'


def in_db(env: Environment, script: str, *args: str, tty: bool = False) -> Command:
    return compose.exec_(env, "db", ("sh", "-c", script, "sh", *args), tty=tty)


def dump(env: Environment) -> Command:
    return in_db(env, DUMP)


def list_dump(env: Environment) -> Command:
    return compose.exec_(env, "db", ("pg_restore", "--list"), tty=False)


def restore_cmd(env: Environment, database: str | None = None) -> Command:
    return in_db(env, RESTORE, *([database] if database else []))


def backup_dir(s: Session) -> pathlib.Path:
    return s.project.root / "backups" / s.env.project


def backup(s: Session, label: str) -> pathlib.Path:
    """pg_dump in custom format to backups/<project>/<label>.dump, then checked
    with `pg_restore --list` (it must list at least one entry)."""
    path = backup_dir(s) / f"{label}.dump"
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        s.run_files(dump(s.env), stdout_path=path)
    except StackyardError as exc:
        path.unlink(missing_ok=True)
        raise StackyardError(f"backup failed: {exc}", "nothing was changed") from exc
    if s.dry:
        return path
    res = s.run_files(list_dump(s.env), stdin_path=path, check=False, readonly=True)
    entries = sum(1 for line in res.stdout.splitlines() if line.strip() and not line.startswith(";")) if res.ok else 0
    if entries == 0:
        raise StackyardError(f"backup {path.name} is empty or unreadable (pg_restore --list)", "nothing was changed")
    s.print(f"backup: {path.relative_to(s.project.root)} ({path.stat().st_size} bytes, {entries} entries)")
    return path


def restore(s: Session, file: pathlib.Path, *, confirm_data_loss: bool = False, database: str | None = None) -> None:
    if not file.is_file():
        raise StackyardError(f"{file}: no such backup file")
    if s.env.protected and not confirm_data_loss and database is None:
        raise StackyardError(
            f"refusing to overwrite the database of protected environment {s.env.name!r}",
            "add --confirm-data-loss as well if you really mean it",
        )
    s.run_files(restore_cmd(s.env, database), stdin_path=file)
    s.print(f"restored {file.name} into {database or 'the database'} of {s.env.name}")


def shell(s: Session, tty: bool) -> int:
    return s.run(in_db(s.env, SHELL, tty=tty), mode="interactive", check=False).returncode


def migrate(s: Session) -> None:
    s.stream(compose.run_once(s.env, "migrate"))
