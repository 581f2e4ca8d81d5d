"""Database backups, kept on the engine that runs the database (engine/kept.py):
whoever takes one, from a laptop or from CI, whoever restores it later finds it
there, and a deploy's backup stays on the host beside the data it saves.

A backup is pg_dump's custom format, streamed to a private scratch file here
(mode 600 in a directory of mode 700), checked with `pg_restore --list`, then
sent to the engine into a volume of its own, stackyard-<project>-backup-<name>,
its size, time and SHA-256 in the volume's labels. The scratch file is removed,
or kept as backups/<project>/<name>.dump with `--download`. Each backup removes
the project's oldest ones beyond [tool.stackyard.db] keep_backups (10; 0 keeps
them all). A restore fetches the backup the same way and checks its SHA-256
before pg_restore reads it.

The dump crosses the link twice (down, then up) for a remote engine: the
price of pg_dump running in the database's container, with its credentials,
and nothing of ours running on the host."""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import pathlib
import tempfile
from collections.abc import Iterator

from stackyard.config import Database
from stackyard.core import table
from stackyard.core.command import Command
from stackyard.deploy.engine_changes import change
from stackyard.engine import kept as store
from stackyard.errors import StackyardError
from stackyard.session import Session
from stackyard.stack import db


def local_dir(s: Session) -> pathlib.Path:
    """Where `--download` writes backups: backups/<project>/ in the checkout."""
    return s.project.root / "backups" / s.env.project


def take(
    s: Session,
    name: str,
    database: Database,
    *,
    timeout: float | None = None,
    download: bool = False,
    commands: tuple[Command, Command] | None = None,
) -> str:
    """Back up the database as backup `name`, kept on the engine (see the module's
    docstring); returns `name`. `timeout`: seconds each of the two commands (pg_dump,
    pg_restore --list) may take (a deploy step's deadline). `commands`: those two, when
    the database's container is not Compose's (a Swarm task's: `docker exec` in it)."""
    if commands is None:
        task = db.container(s, database.service)
        commands = (db.dump(s.env, database.service, task), db.list_dump(s.env, database.service, task))
    dump, listing = commands
    client = s.engine()
    volume = store.backup_volume(s.env.project, name)
    if store.exists(client, volume):
        raise StackyardError(f"backup {name} exists already (volume {volume})", "take it under another name")
    with _scratch(s, name, download) as path:
        try:
            s.run_files(dump, stdout_path=path, timeout=timeout)
        except StackyardError as exc:
            path.unlink(missing_ok=True)
            raise StackyardError(f"backup failed: {exc}", "nothing was changed") from exc
        if s.dry:
            return name
        entries = check(s, path, database, timeout, listing)
        size = path.stat().st_size
        labels = {
            store.PROJECT: s.env.project,
            store.KIND: "backup",
            store.LABEL + "backup": name,
            store.LABEL + "size": str(size),
            store.LABEL + "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            store.LABEL + "sha256": sha256(path),
        }
        with path.open("rb") as f:

            def keep() -> None:
                store.write(client, volume, labels, f"{name}.dump", f, size)

            try:
                change(s, f"keep backup {name} in volume {volume} ({_size(size)})", keep)
            except StackyardError as exc:  # a half-written backup must not be listed, nor be `latest`
                with contextlib.suppress(StackyardError):
                    store.remove_volume(client, volume)
                raise StackyardError(f"backup failed: {exc.message}", "nothing was changed") from exc
        what = f"{entries} entries" if entries else "0 entries: the database is empty"
        here = f"; a copy in {path.relative_to(s.project.root)}" if download else ""
        s.print(f"backup: {name} kept on the engine ({_size(size)}, {what}){here}")
    prune(s, name)
    return name


@contextlib.contextmanager
def _scratch(s: Session, name: str, download: bool) -> Iterator[pathlib.Path]:
    """The file pg_dump writes: backups/<project>/<name>.dump to keep (`download`),
    else one in a private temporary directory, removed on the way out."""
    if download:
        path = local_dir(s) / f"{name}.dump"
        if not s.dry:
            db.private_file(path)
        try:
            yield path
        except BaseException:  # not a backup: no copy of it either
            path.unlink(missing_ok=True)
            raise
        return
    with tempfile.TemporaryDirectory(prefix="stackyard-backup-") as scratch:  # mode 700
        path = pathlib.Path(scratch) / f"{name}.dump"
        if not s.dry:
            db.private_file(path)
        yield path


def check(
    s: Session, path: pathlib.Path, database: Database, timeout: float | None, listing: Command | None = None
) -> int:
    """The dump's entries, as `pg_restore --list` reads it (`listing`; default: in the
    database's container): it must read it as a custom-format archive (an empty
    database makes one with no entries)."""
    cmd = listing or db.list_dump(s.env, database.service, db.container(s, database.service))
    res = s.run_files(cmd, stdin_path=path, check=False, readonly=True, timeout=timeout)
    if not (res.ok and db.CUSTOM_FORMAT.search(res.stdout)):
        raise StackyardError(f"backup {path.stem} is unreadable (pg_restore --list)", "nothing was changed")
    return sum(1 for line in res.stdout.splitlines() if line.strip() and not line.startswith(";"))


def sha256(path: pathlib.Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def prune(s: Session, made: str) -> list[str]:
    """Remove the project's oldest backups beyond keep_backups; never `made`, the
    one just taken. Returns the names of those removed."""
    keep = s.project.keep_backups
    if keep == 0:
        return []
    client = s.engine()
    newest = sorted(store.backups(client, s.env.project), key=lambda b: (b.name == made, b.created, b.name))[::-1]
    removed = newest[keep:]
    for old in removed:
        what = f"remove backup {old.name} (volume {old.volume})"
        change(s, what, lambda old=old: store.remove_volume(client, old.volume))
    if removed:
        names = ", ".join(b.name for b in removed)
        s.print(f"backup: removed {len(removed)} older backups of {s.env.project} (keep_backups = {keep}): {names}")
    return [b.name for b in removed]


def find(s: Session, name: str) -> store.Backup:
    """The backup kept on the engine by that name (`latest`: the newest; a trailing
    .dump is ignored), or an error listing where to look."""
    found = store.backups(s.engine(), s.env.project)
    wanted = name.removesuffix(".dump")
    if wanted == "latest" and found:
        return found[-1]
    for backup in found:
        if backup.name == wanted:
            return backup
    if found:
        listed = f"`inv db.backups --env {s.env.name}` lists the {len(found)} kept"
    else:
        listed = f"there is none yet: `inv db.backup --env {s.env.name}` takes one"
    if "/" in name or name.endswith(".dump"):
        listed = f"no file {name} here either; " + listed
    raise StackyardError(f"no backup {name!r} of {s.env.project} on the engine", listed)


def fetch(s: Session, backup: store.Backup, dest: pathlib.Path) -> pathlib.Path:
    """Copy the backup from the engine into `dest` (mode 600), its SHA-256 checked."""
    got = store.read_to(s.engine(), backup.volume, backup.file, dest)
    if got != backup.sha256:
        dest.unlink(missing_ok=True)
        why = "its SHA-256 is not the one recorded when it was taken" if backup.sha256 else "it has no SHA-256 label"
        raise StackyardError(f"backup {backup.name} is damaged: {why}", "restore another one (`inv db.backups`)")
    return dest


@contextlib.contextmanager
def local_copy(s: Session, name: str) -> Iterator[pathlib.Path]:
    """A file to restore from: `name` itself when it is a file here, else the backup
    of that name fetched from the engine into a private temporary directory."""
    given = pathlib.Path(name)
    if given.is_file():
        yield given
        return
    backup = find(s, name)
    with tempfile.TemporaryDirectory(prefix="stackyard-restore-") as scratch:
        path = pathlib.Path(scratch) / backup.file
        if not s.dry:
            db.private_file(path)
            fetch(s, backup, path)
        yield path


def download(s: Session, name: str) -> pathlib.Path:
    """`inv db.backups --download NAME`: the backup, copied to backups/<project>/."""
    backup = find(s, name)
    path = local_dir(s) / backup.file
    if s.dry:
        s.print(f"[dry-run] backup {backup.name} would be copied to {path.relative_to(s.project.root)}")
        return path
    db.private_file(path)
    fetch(s, backup, path)
    s.print(f"backup {backup.name} copied to {path.relative_to(s.project.root)} ({_size(backup.size)}, mode 600)")
    return path


def show(s: Session) -> None:
    """`inv db.backups`: the backups kept on the engine, oldest first."""
    found = store.backups(s.engine(), s.env.project)
    if not found:
        s.print(f"no backups of {s.env.project} on the engine yet (`inv db.backup --env {s.env.name}` takes one)")
        return
    rows = [[b.name, _size(b.size), b.created or "-", b.sha256[:12] or "-"] for b in found]
    s.print(table.render(["BACKUP", "SIZE", "TAKEN", "SHA-256"], rows))


def _size(n: int) -> str:
    return f"{n} bytes" if n < 10_000 else f"{n / 1e6:.1f} MB"


def manual(s: Session, download: bool = False) -> str:
    """`inv db.backup`: a backup named manual-<UTC time> (-2, -3... when taken within
    the same second), announced first."""
    name = "manual-" + dt.datetime.now(dt.UTC).strftime("%Y%m%d%H%M%S")
    database = db.postgres(s, "db.backup")
    taken = {b.name for b in store.backups(s.engine(), s.env.project)}
    name = next((name + x for x in ("", *(f"-{i}" for i in range(2, 100))) if name + x not in taken), name)
    db.announce(f"db.backup: backing up the database of {db.target(s)} as {name}, kept on the engine")
    return take(s, name, database, download=download)


def restore(s: Session, name: str, *, confirm_data_loss: bool = False, database: str | None = None) -> None:
    """pg_restore a backup (kept on the engine, by name; or a .dump file here) over
    the database, or into `database`, then run the project's after_restore hooks
    ([tool.stackyard.db]): what caches the old data must forget it. Into another
    database, nothing is cached: no hook runs. The guard comes before the fetch."""
    service, database = db.guard(s, confirm_data_loss, database)
    with local_copy(s, name) as file:
        db.restore_file(s, service, file, database)
