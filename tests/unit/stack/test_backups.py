"""stack.backups: a backup is taken here into a private scratch file, checked,
and kept on the engine (a volume of its own, its size, time and SHA-256 in its
labels); the oldest beyond keep_backups are removed; a restore fetches a kept
one, its SHA-256 checked, after the guard; `inv db.backups` lists and downloads.

The engine is tests/unit/deploy/fakes.py's FakeClient: its volumes.store holds
the volumes' labels, its volumes.files what the holders wrote in them."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import io
import os
import pathlib
import re
import stat
import tempfile

import pytest

from stackyard.config import Database, Hook
from stackyard.core.runner import Result, Runner
from stackyard.engine import kept
from stackyard.errors import StackyardError
from stackyard.session import Session
from stackyard.stack import backups
from tests.unit.deploy.fakes import Containers, FakeClient, Holder
from tests.unit.fakes import FakeRunner, real_project, tmp_env

CONFIG = {"services": {"pg": {"image": "postgres:17"}, "shop": {"image": "shop:1"}}}
FLUSH = Hook("cache", ("redis-cli", "FLUSHDB"))
PG = Database("pg", "postgres")
PROJECT = "demo-prod"
DUMP = b"PGDMP\x01\x0e\x00 the dump as pg_dump wrote it"
LISTING = ";     Format: CUSTOM\n;\n1; 2615 2200 SCHEMA - public app\n2; 1259 16390 TABLE public items app\n"


class DumpingRunner(FakeRunner):
    """pg_dump writes `dump` where it is told (the file opened first, as the real
    runner opens it, so a failed pg_dump leaves a partial one); pg_restore --list
    prints `listing`; pg_restore's stdin is recorded. Each file's mode and its
    directory's, when pg_dump writes it, are recorded too."""

    def __init__(self, responses=None, *, dump=DUMP, listing=LISTING):
        super().__init__(responses)
        self.dump, self.listing = dump, listing
        self.timeouts: list[float | None] = []
        self.written: list[tuple[pathlib.Path, int, int]] = []  # (path, its mode, its directory's)
        self.restored: list[bytes] = []  # what pg_restore read, each time

    def run_files(self, cmd, *, stdin_path=None, stdout_path=None, check=True, readonly=False, timeout=None) -> Result:
        self.timeouts.append(timeout)
        if stdout_path is not None:
            path = pathlib.Path(stdout_path)
            self.written.append((path, mode(path), mode(path.parent)))
            path.write_bytes(b"PGD")
        result = self.run(cmd, mode="files", check=check)
        if stdout_path is not None:
            pathlib.Path(stdout_path).write_bytes(self.dump)
            return result
        if "--list" in cmd.argv:
            return Result(0, self.listing)
        self.restored.append(pathlib.Path(stdin_path).read_bytes())
        return result


class Holders(Containers):
    """The fake engine's containers, each holder made (a volume read or written) recorded."""

    def create(self, image, command, name, labels, volumes=None):
        if volumes:
            self.engine.holders.extend(volumes)
        return super().create(image, command, name, labels, volumes)


def engine() -> FakeClient:
    client = FakeClient()
    client.holders = []  # the volumes a holder mounted, in order
    client.containers = Holders(client)
    return client


def session(tmp_path, runner, client, *, keep_backups=10, **env_changes) -> Session:
    project = dataclasses.replace(
        real_project(), root=tmp_path, after_restore=(FLUSH,), roles={}, keep_backups=keep_backups
    )
    env = tmp_env(tmp_path, **{"name": "prod", "project": PROJECT} | env_changes)
    return Session(project, env, runner, out=io.StringIO(), client=client, _config=CONFIG)


def keep(client, name, data=DUMP, created="2026-01-01T00:00:00+00:00", *, project=PROJECT, sha256=None) -> str:
    """A backup kept on the engine as take() keeps one: its volume, labels and file."""
    volume = kept.backup_volume(project, name)
    labels = {
        kept.PROJECT: project,
        kept.KIND: "backup",
        kept.LABEL + "backup": name,
        kept.LABEL + "size": str(len(data)),
        kept.LABEL + "created": created,
        kept.LABEL + "sha256": sha256 or hashlib.sha256(data).hexdigest(),
    }
    client.volumes.create(volume, labels)
    client.volumes.files[volume] = {f"{name}.dump": data}
    return volume


def mode(path) -> int:
    return stat.S_IMODE(pathlib.Path(path).stat().st_mode)


def backup_names(client, project=PROJECT) -> list[str]:
    return sorted(
        labels[kept.LABEL + "backup"]
        for labels in client.volumes.store.values()
        if labels.get(kept.PROJECT) == project and labels.get(kept.KIND) == "backup"
    )


def pg_restores(runner) -> list:
    return [c for c in runner.commands if any("pg_restore --clean" in a for a in c.argv)]


# --- take: kept on the engine ----------------------------------------------------------------


def test_a_backup_lands_on_the_engine_in_a_volume_of_its_own(tmp_path):
    client, runner = engine(), DumpingRunner()
    s = session(tmp_path, runner, client)
    before = dt.datetime.now(dt.UTC).replace(microsecond=0)
    assert backups.take(s, "r1", PG) == "r1"
    labels = client.volumes.store["stackyard-demo-prod-backup-r1"]
    created = dt.datetime.fromisoformat(labels.pop("dev.stackyard.created"))
    assert before <= created <= dt.datetime.now(dt.UTC) and created.utcoffset() == dt.timedelta(0)
    assert labels == {
        "dev.stackyard.project": PROJECT,
        "dev.stackyard.state": "backup",
        "dev.stackyard.backup": "r1",
        "dev.stackyard.size": str(len(DUMP)),
        "dev.stackyard.sha256": hashlib.sha256(DUMP).hexdigest(),
    }
    assert client.volumes.files["stackyard-demo-prod-backup-r1"] == {"r1.dump": DUMP}
    assert s.out.getvalue() == f"backup: r1 kept on the engine ({len(DUMP)} bytes, 2 entries)\n"
    # nothing left here: no backups/ folder, the scratch file and its directory gone
    assert not (tmp_path / "backups").exists()
    ((scratch, _, _),) = runner.written
    assert not scratch.exists() and not scratch.parent.exists()


def test_the_scratch_file_is_mode_600_in_a_directory_of_mode_700(tmp_path):
    runner = DumpingRunner()
    old = os.umask(0)  # the most permissive umask: the modes must not come from it
    try:
        backups.take(session(tmp_path, runner, engine()), "r1", PG)
    finally:
        os.umask(old)
    ((scratch, file_mode, dir_mode),) = runner.written
    assert scratch.name == "r1.dump" and (file_mode, dir_mode) == (0o600, 0o700)


def test_download_keeps_a_private_copy_in_backups_of_the_project(tmp_path):
    folder = tmp_path / "backups" / PROJECT
    folder.mkdir(parents=True, mode=0o755)
    (folder / "r1.dump").write_bytes(b"an earlier try")  # the same name again: replaced, and private
    (folder / "r1.dump").chmod(0o644)
    client, runner = engine(), DumpingRunner()
    s = session(tmp_path, runner, client)
    old = os.umask(0)
    try:
        backups.take(s, "r1", PG, download=True)
    finally:
        os.umask(old)
    assert runner.written == [(folder / "r1.dump", 0o600, 0o700)]  # private before pg_dump writes a byte
    assert (folder / "r1.dump").read_bytes() == DUMP
    assert (mode(folder / "r1.dump"), mode(folder)) == (0o600, 0o700)
    assert client.volumes.files["stackyard-demo-prod-backup-r1"] == {"r1.dump": DUMP}  # kept on the engine all the same
    assert s.out.getvalue().endswith("; a copy in backups/demo-prod/r1.dump\n")


def test_a_backup_of_an_empty_database_is_a_backup(tmp_path):
    client = engine()
    s = session(
        tmp_path, DumpingRunner(listing=";\n; Archive created at 2026-11-22\n;     Format: CUSTOM\n;\n"), client
    )
    backups.take(s, "r1", PG)
    assert backup_names(client) == ["r1"]
    assert "0 entries: the database is empty" in s.out.getvalue()


@pytest.mark.parametrize("download", [False, True])
def test_a_backup_pg_restore_cannot_read_is_refused_and_kept_nowhere(tmp_path, download):
    client, runner = (
        engine(),
        DumpingRunner(listing="pg_restore: error: input file does not appear to be a valid archive\n"),
    )
    with pytest.raises(StackyardError, match=r"^backup r1 is unreadable \(pg_restore --list\): nothing was changed$"):
        backups.take(session(tmp_path, runner, client), "r1", PG, download=download)
    assert client.volumes.store == {} and client.holders == []
    assert not runner.written[0][0].exists()


def test_a_backup_gives_its_deadline_to_both_commands(tmp_path):
    runner = DumpingRunner()
    backups.take(session(tmp_path, runner, engine()), "r1", PG, timeout=600)
    assert runner.timeouts == [600, 600]


@pytest.mark.parametrize("download", [False, True])
def test_a_failed_backup_leaves_no_file_and_no_volume(tmp_path, download):
    client = engine()
    runner = DumpingRunner({"pg_dump": Result(1, "", "pg_dump: error: connection refused\n")})
    with pytest.raises(StackyardError, match=r"^backup failed: .*connection refused: nothing was changed$"):
        backups.take(session(tmp_path, runner, client), "r1", PG, download=download)
    ((scratch, _, _),) = runner.written
    assert not scratch.exists()
    assert client.volumes.store == {} and client.holders == []


def test_a_backup_the_engine_refuses_to_keep_leaves_no_volume(tmp_path, monkeypatch):
    client = engine()
    monkeypatch.setattr(Holder, "put_archive", lambda self, path, data: False)
    with pytest.raises(StackyardError, match=r"refused to write r1\.dump in volume stackyard-demo-prod-backup-r1"):
        backups.take(session(tmp_path, DumpingRunner(), client), "r1", PG)
    assert client.volumes.store == {}


def test_a_backup_name_that_exists_already_is_refused(tmp_path):
    client, runner = engine(), DumpingRunner()
    keep(client, "r1", b"the first r1")
    with pytest.raises(StackyardError) as info:
        backups.take(session(tmp_path, runner, client), "r1", PG)
    assert str(info.value) == (
        "backup r1 exists already (volume stackyard-demo-prod-backup-r1): take it under another name"
    )
    assert runner.commands == [] and client.holders == []
    assert client.volumes.files["stackyard-demo-prod-backup-r1"] == {"r1.dump": b"the first r1"}


def test_a_backup_removes_the_oldest_beyond_keep_backups(tmp_path):
    client = engine()
    for name, day in [("mid", 3), ("oldest", 1), ("new", 4), ("old", 2)]:  # listed in no order of age
        keep(client, name, created=f"2026-01-0{day}T00:00:00+00:00")
    keep(client, "ancient", created="2020-01-01T00:00:00+00:00", project="demo-staging")  # another project's
    client.volumes.create(kept.releases_volume(PROJECT), {kept.PROJECT: PROJECT, kept.KIND: "releases"})
    s = session(tmp_path, DumpingRunner(), client, keep_backups=3)
    backups.take(s, "r9", PG)
    assert backup_names(client) == ["mid", "new", "r9"]
    assert backup_names(client, "demo-staging") == ["ancient"]
    assert kept.releases_volume(PROJECT) in client.volumes.store
    assert s.out.getvalue().splitlines()[-1] == (
        "backup: removed 2 older backups of demo-prod (keep_backups = 3): old, oldest"
    )


def test_the_backup_just_made_is_kept_whatever_the_clock_says(tmp_path):
    client = engine()
    keep(client, "future", created="2099-01-01T00:00:00+00:00")  # taken with a clock set wrong once
    backups.take(session(tmp_path, DumpingRunner(), client, keep_backups=1), "r1", PG)
    assert backup_names(client) == ["r1"]


def test_keep_backups_0_keeps_every_backup(tmp_path):
    client = engine()
    for i in range(12):
        keep(client, f"old{i}", created=f"2026-01-{i + 1:02}T00:00:00+00:00")
    s = session(tmp_path, DumpingRunner(), client, keep_backups=0)
    backups.take(s, "r1", PG)
    assert len(backup_names(client)) == 13 and "removed" not in s.out.getvalue()


@pytest.mark.parametrize("download", [False, True])
def test_a_dry_backup_writes_nothing_on_the_engine_or_here(tmp_path, download):
    client = engine()
    keep(client, "old", created="2020-01-01T00:00:00+00:00")
    s = session(tmp_path, Runner(dry=True, echo=False), client, keep_backups=1)
    backups.take(s, "r1", PG, download=download)
    assert backup_names(client) == ["old"] and client.holders == []  # nothing kept, nothing pruned
    assert not (tmp_path / "backups").exists()


def test_a_manual_backup_names_its_target_and_backup(tmp_path, capsys):
    client = engine()
    name = backups.manual(session(tmp_path, DumpingRunner(), client, name="staging", project="demo-staging"))
    assert re.fullmatch(r"manual-\d{14}", name)
    assert capsys.readouterr().err == (
        f"db.backup: backing up the database of staging (project demo-staging) as {name}, kept on the engine\n"
    )
    assert backup_names(client, "demo-staging") == [name]


def test_two_manual_backups_within_a_second_get_two_names(tmp_path, monkeypatch):
    client = engine()
    frozen = dt.datetime(2026, 11, 22, 10, 0, 0, tzinfo=dt.UTC)
    monkeypatch.setattr(
        backups.dt, "datetime", type("Frozen", (dt.datetime,), {"now": classmethod(lambda c, tz=None: frozen)})
    )
    s = session(tmp_path, DumpingRunner(), client)
    assert [backups.manual(s) for _ in range(3)] == [
        "manual-20261122100000",
        "manual-20261122100000-2",
        "manual-20261122100000-3",
    ]


def test_a_manual_backup_needs_a_postgres_database_role(tmp_path):
    client, runner = engine(), DumpingRunner()
    s = session(tmp_path, runner, client)
    s._config = {"services": {"store": {"image": "mariadb:11"}}}
    with pytest.raises(StackyardError, match=r"^db\.backup supports kind postgres; service store is mariadb"):
        backups.manual(s)
    assert runner.commands == [] and client.volumes.store == {}


# --- restore: fetched from the engine, checked, after the guard --------------------------------


def test_restore_by_name_gives_pg_restore_the_kept_bytes(tmp_path, capsys):
    client, runner = engine(), DumpingRunner()
    keep(client, "r1", b"PGDMP r1")
    keep(client, "r2", b"PGDMP r2", created="2026-02-01T00:00:00+00:00")
    s = session(tmp_path, runner, client)
    backups.restore(s, "r1", confirm_data_loss=True)
    assert runner.restored == [b"PGDMP r1"]
    assert client.holders == ["stackyard-demo-prod-backup-r1"]
    assert capsys.readouterr().err.splitlines()[0] == (
        "db.restore: restoring r1.dump into the database of prod (project demo-prod)"
    )
    assert s.out.getvalue() == "restored r1.dump into the database of prod\n"
    assert [c for c in runner.commands if "FLUSHDB" in c.argv]  # the live database: its hook ran


@pytest.mark.parametrize("given", ["latest", "latest.dump"])
def test_latest_is_the_newest_backup(tmp_path, given):
    client, runner = engine(), DumpingRunner()
    keep(client, "b", b"newest", created="2026-03-01T00:00:00+00:00")
    keep(client, "c", b"oldest", created="2026-01-01T00:00:00+00:00")
    keep(client, "a", b"middle", created="2026-02-01T00:00:00+00:00")
    backups.restore(session(tmp_path, runner, client), given)
    assert runner.restored == [b"newest"]


def test_a_trailing_dump_is_accepted(tmp_path):
    client, runner = engine(), DumpingRunner()
    keep(client, "r1", b"PGDMP r1")
    backups.restore(session(tmp_path, runner, client), "r1.dump")
    assert runner.restored == [b"PGDMP r1"]


def test_a_dump_file_here_is_restored_as_it_is(tmp_path):
    client, runner = engine(), DumpingRunner()
    keep(client, "r1", b"the kept one")
    local = tmp_path / "r1.dump"
    local.write_bytes(b"the local one")
    backups.restore(session(tmp_path, runner, client), str(local))
    assert runner.restored == [b"the local one"] and client.holders == []


def test_an_unknown_backup_says_where_the_backups_are_listed(tmp_path):
    client, runner = engine(), DumpingRunner()
    keep(client, "r1")
    keep(client, "other", project="demo-staging")
    s = session(tmp_path, runner, client)
    with pytest.raises(StackyardError) as info:
        backups.restore(s, "nope")
    assert (
        str(info.value) == "no backup 'nope' of demo-prod on the engine: `inv db.backups --env prod` lists the 1 kept"
    )
    assert runner.commands == [] and client.holders == []
    with pytest.raises(
        StackyardError,
        match=r"^no backup 'latest' of demo-staging on the engine: there is none yet: `inv db.backup --env staging` takes one$",
    ):
        backups.restore(session(tmp_path, runner, engine(), name="staging", project="demo-staging"), "latest")


def test_a_kept_backup_whose_sha256_differs_is_refused_before_pg_restore(tmp_path, monkeypatch):
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))  # where the fetched copy goes
    client, runner = engine(), DumpingRunner()
    keep(client, "r1", b"PGDMP damaged", sha256=hashlib.sha256(b"PGDMP as taken").hexdigest())
    with pytest.raises(StackyardError) as info:
        backups.restore(session(tmp_path, runner, client), "r1")
    assert str(info.value) == (
        "backup r1 is damaged: its SHA-256 is not the one recorded when it was taken: "
        "restore another one (`inv db.backups`)"
    )
    assert client.holders == ["stackyard-demo-prod-backup-r1"]  # fetched, then refused
    assert pg_restores(runner) == [] and runner.restored == []
    assert list(scratch.iterdir()) == []


def test_a_fetch_whose_sha256_differs_removes_its_copy(tmp_path):
    client = engine()
    keep(client, "r1", b"PGDMP damaged", sha256="0" * 64)
    s = session(tmp_path, DumpingRunner(), client)
    (backup,) = kept.backups(client, PROJECT)
    with pytest.raises(StackyardError, match=r"^backup r1 is damaged"):
        backups.fetch(s, backup, tmp_path / "r1.dump")
    assert not (tmp_path / "r1.dump").exists()
    keep(client, "r2", b"PGDMP sound")
    (_, sound) = kept.backups(client, PROJECT)
    assert backups.fetch(s, sound, tmp_path / "r2.dump").read_bytes() == b"PGDMP sound"
    keep(client, "r3", b"PGDMP unlabelled")
    client.volumes.store[kept.backup_volume(PROJECT, "r3")].pop(kept.LABEL + "sha256")
    unlabelled = kept.backups(client, PROJECT)[-1]
    with pytest.raises(StackyardError, match=r"^backup r3 is damaged: it has no SHA-256 label: restore another one"):
        backups.fetch(s, unlabelled, tmp_path / "r3.dump")
    assert not (tmp_path / "r3.dump").exists()


@pytest.mark.parametrize("database", [None, "shop"])
def test_the_guard_refuses_before_anything_is_fetched(tmp_path, database):
    client, runner = engine(), DumpingRunner({"POSTGRES_DB:-": Result(0, "shop")})
    keep(client, "r1")
    s = session(tmp_path, runner, client, protected=True)
    with pytest.raises(StackyardError, match="--confirm-data-loss"):
        backups.restore(s, "r1", database=database)
    assert client.holders == [] and pg_restores(runner) == []
    with pytest.raises(StackyardError, match="--confirm-data-loss"):  # the guard first: even an unknown name
        backups.restore(s, "nope", database=database)


def test_a_dry_restore_prints_its_commands_in_order_and_fetches_nothing(tmp_path, capsys):
    client = engine()
    keep(client, "r1")
    s = session(tmp_path, Runner(dry=True), client)
    backups.restore(s, "r1")
    printed = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("[dry-run] $ ")]
    assert len(printed) == 2
    assert "pg_restore" in printed[0] and " exec --no-TTY cache redis-cli FLUSHDB" in printed[1]
    assert client.holders == [] and s.out.getvalue() == ""


# --- inv db.backups: show, download ----------------------------------------------------------------


def test_show_lists_the_backups_oldest_first(tmp_path):
    client = engine()
    big = keep(client, "r2", created="2026-02-01T00:00:00+00:00")
    client.volumes.store[big][kept.LABEL + "size"] = "12345678"
    keep(client, "r1", b"PGDMP", created="2026-01-01T00:00:00+00:00")
    keep(client, "theirs", project="demo-staging")
    s = session(tmp_path, DumpingRunner(), client)
    backups.show(s)
    sha = hashlib.sha256(DUMP).hexdigest()[:12]
    assert s.out.getvalue().splitlines() == [
        "BACKUP  SIZE     TAKEN                      SHA-256",
        f"r1      5 bytes  2026-01-01T00:00:00+00:00  {hashlib.sha256(b'PGDMP').hexdigest()[:12]}",
        f"r2      12.3 MB  2026-02-01T00:00:00+00:00  {sha}",
    ]
    assert client.holders == []  # the labels say it all: no file read


def test_show_says_how_to_take_one_when_there_is_none(tmp_path):
    client = engine()
    keep(client, "theirs", project="demo-staging")
    s = session(tmp_path, DumpingRunner(), client)
    backups.show(s)
    assert s.out.getvalue() == "no backups of demo-prod on the engine yet (`inv db.backup --env prod` takes one)\n"


@pytest.mark.parametrize("given", ["r1", "latest"])
def test_download_writes_a_private_copy_and_names_it(tmp_path, given):
    client = engine()
    keep(client, "r0", b"older", created="2025-01-01T00:00:00+00:00")
    keep(client, "r1", DUMP)
    s = session(tmp_path, DumpingRunner(), client)
    old = os.umask(0)
    try:
        path = backups.download(s, given)
    finally:
        os.umask(old)
    assert path == tmp_path / "backups" / PROJECT / "r1.dump" and path.read_bytes() == DUMP
    assert (mode(path), mode(path.parent)) == (0o600, 0o700)
    assert s.out.getvalue() == f"backup r1 copied to backups/demo-prod/r1.dump ({len(DUMP)} bytes, mode 600)\n"


def test_a_damaged_download_leaves_no_file(tmp_path):
    client = engine()
    keep(client, "r1", b"PGDMP damaged", sha256="0" * 64)
    with pytest.raises(StackyardError, match=r"^backup r1 is damaged"):
        backups.download(session(tmp_path, DumpingRunner(), client), "r1")
    assert list((tmp_path / "backups" / PROJECT).iterdir()) == []


def test_a_dry_download_writes_nothing(tmp_path):
    client = engine()
    keep(client, "r1")
    s = session(tmp_path, Runner(dry=True, echo=False), client)
    backups.download(s, "r1")
    assert not (tmp_path / "backups").exists() and client.holders == []
    assert s.out.getvalue() == "[dry-run] backup r1 would be copied to backups/demo-prod/r1.dump\n"
