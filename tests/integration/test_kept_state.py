"""Backups kept on the engine, on the real one: `inv db.backup` keeps a backup in a
volume of its own, which `inv db.backups` lists, `inv down --volumes` leaves (it is
no volume of the stack's), and `inv db.backups --download` copies here (mode 600 in
a directory of mode 700) byte for byte; `inv db.restore NAME` restores it; a backup
whose file was changed on the engine is refused before pg_restore runs; an unknown
name is refused naming `inv db.backups`; a backup beyond keep_backups removes the
oldest ones' volumes.

One dev database (and the Redis that after_restore clears) for the module, under a
project of its own; what is on the engine is read with the docker SDK and CLI
(tests/support.py), not through stackyard's code. The tests run in file order: the
last one takes the stack down."""

from __future__ import annotations

import hashlib
import re
import shutil
import stat
import subprocess
import time

import pytest

from stackyard import config
from tests.conftest import ROOT
from tests.support import (
    TEST_SECRETS,
    Inv,
    backup_file,
    backup_labels,
    backup_volume,
    backups,
    free_port,
    put_files,
    remove_state,
)

pytestmark = pytest.mark.integration


def psql(inv: Inv, sql: str) -> str:
    """`sql` run in the dev database, as the app's user; its output."""
    script = f'psql -U "$POSTGRES_USER" -d "$POSTGRES_DB" -v ON_ERROR_STOP=1 -tAc "{sql}"'
    return inv("exec", "db", "--", "sh", "-c", script).stdout.strip()


def rows(inv: Inv) -> str:
    return psql(inv, "select string_agg(n::text, ',' order by n) from kept")


def take(inv: Inv) -> str:
    """`inv db.backup --env dev`; the backup's name. Names are to the second: a second apart."""
    time.sleep(1.1)
    proc = inv("db.backup", "--env", "dev")
    return re.search(r"^backup: (\S+) kept on the engine \(", proc.stdout, flags=re.M).group(1)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def errors(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("stackyard: ")]


@pytest.fixture(scope="module")
def dev():
    """The module's dev database with a table of 3 rows, and a backup of it: (inv, its name)."""
    inv = Inv("kept", API_PORT=str(free_port()), DB_PORT=str(free_port()), REDIS_PORT=str(free_port()), **TEST_SECRETS)
    project = inv.env["STACKYARD_PROJECT"]
    try:
        inv("up", "--services", "db,redis", "--no-build")
        psql(inv, "create table kept (n int); insert into kept select generate_series(1, 3)")
        yield inv, take(inv)
    finally:
        inv("down", "--volumes", check=False, timeout=180)
        remove_state(project)
        shutil.rmtree(ROOT / "backups" / project, ignore_errors=True)


def test_a_backup_is_kept_on_the_engine_and_listed(dev):
    inv, name = dev
    project = inv.env["STACKYARD_PROJECT"]
    assert backups(project) == [name]
    labels = backup_labels(project)[name]
    mode, data = backup_file(project, name)
    assert mode == 0o600 and data.startswith(b"PGDMP")  # pg_dump's custom format, private
    assert labels["dev.stackyard.sha256"] == sha256(data) and labels["dev.stackyard.size"] == str(len(data))
    assert not (ROOT / "backups" / project).exists()  # nothing kept here without --download

    listed = inv("db.backups", "--env", "dev").stdout.splitlines()
    assert listed[0].split() == ["BACKUP", "SIZE", "TAKEN", "SHA-256"]
    (row,) = [line for line in listed[1:] if line.split()[0] == name]
    assert labels["dev.stackyard.created"] in row and labels["dev.stackyard.sha256"][:12] in row


def test_restore_by_name_brings_back_the_rows_of_the_backup(dev):
    inv, name = dev
    psql(inv, "insert into kept values (4)")
    assert rows(inv) == "1,2,3,4"
    proc = inv("db.restore", name)
    assert f"db.restore: restoring {name}.dump into the database of dev (project " in proc.stderr
    assert rows(inv) == "1,2,3"  # the row written after the backup is gone


def test_a_backup_changed_on_the_engine_is_refused_before_pg_restore(dev):
    inv, first = dev
    project = inv.env["STACKYARD_PROJECT"]
    psql(inv, "insert into kept values (5)")
    second = take(inv)
    psql(inv, "insert into kept values (6)")
    try:
        # Its file replaced by another (the first backup's: a dump pg_restore would restore).
        _, other = backup_file(project, first)
        put_files(backup_volume(project, second), {f"{second}.dump": other})
        assert sha256(backup_file(project, second)[1]) != backup_labels(project)[second]["dev.stackyard.sha256"]

        refused = inv("db.restore", second, check=False)

        assert refused.returncode == 1, refused.stdout + refused.stderr
        assert errors(refused.stderr) == [
            f"stackyard: error: backup {second} is damaged: its SHA-256 is not the one recorded when it was taken: "
            "restore another one (`inv db.backups`)"
        ]
        assert "db.restore: restoring" not in refused.stderr  # pg_restore never ran
        assert rows(inv) == "1,2,3,5,6"  # the data is unchanged
    finally:
        subprocess.run(["docker", "volume", "rm", backup_volume(project, second)], capture_output=True, check=True)


def test_restore_of_an_unknown_backup_fails_in_one_line_naming_inv_db_backups(dev):
    inv, _ = dev
    project = inv.env["STACKYARD_PROJECT"]
    before = rows(inv)
    proc = inv("db.restore", "no-such-name", check=False)
    assert proc.returncode == 1
    assert errors(proc.stderr) == [
        f"stackyard: error: no backup 'no-such-name' of {project} on the engine: "
        f"`inv db.backups --env dev` lists the {len(backups(project))} kept"
    ]
    assert "db.restore: restoring" not in proc.stderr and rows(inv) == before


def test_a_backup_beyond_keep_backups_removes_the_oldest_backup_volumes(dev):
    inv, _ = dev
    project = inv.env["STACKYARD_PROJECT"]
    keep = config.load(ROOT).keep_backups
    assert keep > 0, "the checkout keeps every backup: nothing to prune"
    real = backups(project)
    # `keep` older backups, as their volumes' labels describe them (pruning reads nothing else).
    seeded = [f"old-{i:02d}" for i in range(keep)]
    for i, old in enumerate(seeded):
        labels = {
            "dev.stackyard.project": project,
            "dev.stackyard.state": "backup",
            "dev.stackyard.backup": old,
            "dev.stackyard.size": "6",
            "dev.stackyard.created": f"2001-01-01T00:00:{i:02d}+00:00",
            "dev.stackyard.sha256": sha256(b"seeded"),
        }
        flags = [f"--label={k}={v}" for k, v in labels.items()]
        subprocess.run(
            ["docker", "volume", "create", *flags, backup_volume(project, old)], capture_output=True, check=True
        )
    gone = seeded[: len(real) + 1]  # the oldest: one more backup makes keep + len(real) + 1

    proc = inv("db.backup", "--env", "dev")

    new = re.search(r"^backup: (\S+) kept on the engine \(", proc.stdout, flags=re.M).group(1)
    assert backups(project) == seeded[len(gone) :] + real + [new]
    said = re.search(
        rf"^backup: removed {len(gone)} older backups of {re.escape(project)} \(keep_backups = {keep}\): (.+)$",
        proc.stdout,
        flags=re.M,
    )
    assert said and set(said.group(1).split(", ")) == set(gone), proc.stdout
    for old in gone:
        assert subprocess.run(
            ["docker", "volume", "inspect", backup_volume(project, old)], capture_output=True
        ).returncode


def test_backups_outlive_down_volumes_and_download_byte_for_byte(dev):
    inv, first = dev
    project = inv.env["STACKYARD_PROJECT"]
    kept = backups(project)
    inv("down", "--volumes")
    stack = ["docker", "volume", "ls", "--quiet", "--filter", f"label=com.docker.compose.project={project}"]
    assert subprocess.run(stack, capture_output=True, text=True, check=True).stdout == ""  # the stack's went
    assert backups(project) == kept and first in kept  # the backups stayed
    assert first in inv("db.backups", "--env", "dev").stdout  # listed with the stack down

    latest = kept[-1]
    proc = inv("db.backups", "--env", "dev", "--download", "latest")
    assert f"backup {latest} copied to backups/{project}/{latest}.dump" in proc.stdout
    inv("db.backups", "--env", "dev", "--download", first)
    folder = ROOT / "backups" / project
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert sorted(p.name for p in folder.iterdir()) == sorted({f"{latest}.dump", f"{first}.dump"})
    for name in (latest, first):
        path = folder / f"{name}.dump"
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        data = path.read_bytes()
        assert sha256(data) == backup_labels(project)[name]["dev.stackyard.sha256"]
        assert data == backup_file(project, name)[1]
