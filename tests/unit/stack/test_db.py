"""stack.db: each data task names the environment and project it acts on; a
restore runs the project's after_restore hooks (the caches of the old data)."""

from __future__ import annotations

import dataclasses
import io
import os
import stat

import pytest

from stackyard.config import Hook
from stackyard.core.runner import Result, Runner
from stackyard.errors import StackyardError
from stackyard.session import Session
from stackyard.stack import db
from tests.unit.fakes import FakeRunner, after_base, real_project, tmp_env

# The stack's compose config: its roles are detected from it (pg the database, setup the migration).
CONFIG = {
    "services": {
        "pg": {"image": "postgres:17"},
        "setup": {"restart": "no"},
        "shop": {"depends_on": {"setup": {"condition": "service_completed_successfully"}}},
    }
}
FLUSH = Hook("cache", ("sh", "-c", 'REDISCLI_AUTH="$REDIS_PASSWORD" redis-cli FLUSHDB'))


class FilesRunner(FakeRunner):
    """Also records run_files (pg_restore reads the dump from a file)."""

    def run_files(self, cmd, *, stdin_path=None, stdout_path=None, check=True, readonly=False, timeout=None) -> Result:
        return self.run(cmd, mode="files", check=check)


def session(tmp_path, runner, hooks=(FLUSH,), **env_changes) -> Session:
    project = dataclasses.replace(real_project(), after_restore=tuple(hooks), roles={})
    return Session(project, tmp_env(tmp_path, **env_changes), runner, out=io.StringIO(), _config=CONFIG)


@pytest.fixture
def dump(tmp_path):
    path = tmp_path / "manual-20260101000000.dump"
    path.write_bytes(b"PGDMP")
    return path


def test_restore_announces_then_restores_then_runs_the_hooks(tmp_path, dump, capsys):
    runner = FilesRunner({" exec --no-TTY cache ": Result(0, "OK\n")})
    s = session(tmp_path, runner, name="prod", project="demo-prod", protected=True)
    db.restore(s, dump, confirm_data_loss=True)
    assert capsys.readouterr().err.splitlines() == [
        "db.restore: restoring manual-20260101000000.dump into the database of prod (project demo-prod)",
        "db.restore: after_restore: running its command in cache",
    ]
    restore, hook = runner.subcommands()
    assert restore[:4] == ("exec", "--no-TTY", "pg", "sh") and "pg_restore" in restore[5]
    assert hook == ("exec", "--no-TTY", "cache", *FLUSH.command)
    assert runner.modes == ["files", "capture"]
    assert s.out.getvalue() == "cache: OK\nrestored manual-20260101000000.dump into the database of prod\n"


LIVE = {"POSTGRES_DB:-": Result(0, "shop")}  # the database container answers the live name


def test_restore_into_another_database_runs_no_hook(tmp_path, dump):
    runner = FilesRunner(LIVE)
    db.restore(session(tmp_path, runner, name="prod", protected=True), dump, database="scratch")
    name, restore = runner.subcommands()
    assert name[:3] == ("exec", "--no-TTY", "pg") and name[-2:] == (db.LIVE_NAME, "sh")
    assert restore[-1] == "scratch"


def test_restore_naming_the_live_database_of_a_protected_env_needs_the_second_flag(tmp_path, dump):
    runner = FilesRunner(LIVE)
    s = session(tmp_path, runner, name="prod", protected=True)
    with pytest.raises(
        StackyardError,
        match=r"^refusing to overwrite the database \(shop, the live database\) of protected environment 'prod'",
    ):
        db.restore(s, dump, database="shop")
    assert [c[-2] for c in runner.subcommands()] == [db.LIVE_NAME]  # read only: nothing restored
    db.restore(s, dump, database="shop", confirm_data_loss=True)
    restore, hook = runner.subcommands()[2:]
    assert "pg_restore" in restore[5] and hook[2] == "cache"  # the live database: its caches flushed


def test_the_live_name_cannot_be_read_nothing_is_restored(tmp_path, dump):
    runner = FilesRunner({"POSTGRES_DB:-": Result(1, "", 'service "pg" is not running\n')})
    with pytest.raises(StackyardError, match="pg is not running"):
        db.restore(session(tmp_path, runner, name="prod", protected=True), dump, database="shop")
    assert len(runner.commands) == 1


def test_a_failed_hook_says_the_restore_happened_and_how_to_finish(tmp_path, dump):
    runner = FilesRunner({" exec --no-TTY cache ": Result(1, "", 'service "cache" is not running\n')})
    with pytest.raises(StackyardError) as info:
        db.restore(session(tmp_path, runner), dump)
    message = str(info.value)
    assert message.startswith("manual-20260101000000.dump was restored, but its after_restore command in cache failed")
    assert "service cache is not running" in message
    assert message.endswith("`inv exec cache -- sh -c 'REDISCLI_AUTH=\"$REDIS_PASSWORD\" redis-cli FLUSHDB'`")


def test_restore_of_a_protected_env_needs_the_second_flag(tmp_path, dump):
    runner = FilesRunner()
    with pytest.raises(StackyardError, match="--confirm-data-loss"):
        db.restore(session(tmp_path, runner, name="prod", protected=True), dump)
    assert runner.commands == []


def test_a_missing_backup_file_says_where_backups_are(tmp_path):
    with pytest.raises(StackyardError) as info:
        db.restore(session(tmp_path, FilesRunner(), project="demo-dev"), tmp_path / "nope.dump")
    assert (
        str(info.value)
        == f"{tmp_path / 'nope.dump'}: no such backup file: `inv db.backup` makes one, in backups/demo-dev/"
    )


def test_shell_and_migrate_name_their_target(tmp_path, capsys):
    runner = FilesRunner({" exec ": Result(2)})
    s = session(tmp_path, runner, name="staging", project="demo-staging")
    assert db.shell(s, tty=False) == 2
    db.migrate(s)
    assert capsys.readouterr().err.splitlines() == [
        "db.shell: psql in the database of staging (project demo-staging)",
        "db.migrate: migrating the database of staging (project demo-staging)",
    ]
    assert after_base(runner.commands[-1].argv) == ("run", "--rm", "--no-deps", "--no-TTY", "setup")


def test_manual_backup_names_its_target_and_file(tmp_path, capsys, monkeypatch):
    s = session(tmp_path, FilesRunner(), project="demo-dev")
    # the backup itself (tested with the deploy) would write under the repository
    monkeypatch.setattr(db, "backup", lambda s, label, database: db.backup_dir(s) / f"{label}.dump")
    path = db.manual_backup(s)
    assert path.name.startswith("manual-") and path.suffix == ".dump"
    assert capsys.readouterr().err == (
        f"db.backup: backing up the database of dev (project demo-dev) to backups/demo-dev/{path.name}\n"
    )


def test_a_dry_restore_prints_its_commands_in_order_and_claims_nothing(tmp_path, dump, capsys):
    project = dataclasses.replace(real_project(), after_restore=(FLUSH,), roles={})
    s = Session(project, tmp_env(tmp_path), Runner(dry=True), out=io.StringIO(), _config=CONFIG)
    db.restore(s, dump)
    printed = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("[dry-run] $ ")]
    assert len(printed) == 2
    assert "pg_restore" in printed[0] and " exec --no-TTY cache sh -c " in printed[1]
    assert s.out.getvalue() == ""


def test_the_data_tasks_need_a_postgres_database_role(tmp_path, dump):
    s = session(tmp_path, FilesRunner())
    s._config = {"services": {"store": {"image": "mariadb:11"}}}
    with pytest.raises(StackyardError, match=r"^db\.backup supports kind postgres; service store is mariadb"):
        db.manual_backup(s)
    s._config = {"services": {"shop": {"image": "shop:1"}}}
    with pytest.raises(
        StackyardError, match=r"^db\.restore: no service of dev's compose config is detected as the database"
    ):
        db.restore(s, dump)
    with pytest.raises(StackyardError, match=r"db\.migrate: no service .* detected as the migration") as info:
        db.migrate(s)
    assert 'migrate = "..."' in info.value.hint


def test_the_database_service_stated_in_the_roles_wins(tmp_path):
    runner = FilesRunner({" exec ": Result(0)})
    s = session(tmp_path, runner)
    s.project = dataclasses.replace(s.project, roles={"database": {"service": "shop", "kind": "postgres"}})
    db.shell(s, tty=False)
    assert after_base(runner.commands[-1].argv)[:3] == ("exec", "--no-TTY", "shop")


# --- backups: mode 600 in a 700 directory, the oldest beyond keep_backups removed ---


class DumpingRunner(FilesRunner):
    """pg_dump writes a dump where it is told; pg_restore --list prints `listing`
    (by default a custom-format archive's header and one entry)."""

    def __init__(self, *args, listing=";     Format: CUSTOM\n1; 2615 2200 SCHEMA - public app\n", **kwargs):
        super().__init__(*args, **kwargs)
        self.listing, self.timeouts = listing, []

    def run_files(self, cmd, *, stdin_path=None, stdout_path=None, check=True, readonly=False, timeout=None) -> Result:
        super().run_files(cmd, stdin_path=stdin_path, stdout_path=stdout_path, check=check, readonly=readonly)
        self.timeouts.append(timeout)
        if stdout_path is not None:
            with open(stdout_path, "wb") as out:  # as the real runner opens it
                out.write(b"PGDMP...")
            return Result(0)
        return Result(0, self.listing)


PG = db.Database("pg", "postgres")


def backup_session(tmp_path, runner, keep_backups=10) -> Session:
    s = session(tmp_path, runner, project="demo-prod")
    s.project = dataclasses.replace(s.project, root=tmp_path, keep_backups=keep_backups)
    return s


def mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_backup_is_mode_600_in_a_directory_of_mode_700(tmp_path):
    folder = tmp_path / "backups" / "demo-prod"
    folder.mkdir(parents=True, mode=0o755)
    (folder / "r1.dump").write_bytes(b"an earlier try")  # the same label again: replaced, and private
    (folder / "r1.dump").chmod(0o644)
    old = os.umask(0)  # the most permissive umask: the modes must not come from it
    try:
        path = db.backup(backup_session(tmp_path, DumpingRunner()), "r1", PG)
    finally:
        os.umask(old)
    assert path == folder / "r1.dump" and path.read_bytes() == b"PGDMP..."
    assert (mode(path), mode(folder)) == (0o600, 0o700)


def test_a_backup_of_an_empty_database_is_a_backup(tmp_path, capsys):
    runner = DumpingRunner(listing=";\n; Archive created at 2026-11-22\n;     Format: CUSTOM\n;\n")
    s = backup_session(tmp_path, runner)
    path = db.backup(s, "r1", PG)
    assert path.exists()
    assert "0 entries: the database is empty" in s.out.getvalue()


def test_a_backup_pg_restore_cannot_read_is_refused(tmp_path):
    s = backup_session(
        tmp_path, DumpingRunner(listing="pg_restore: error: input file does not appear to be a valid archive\n")
    )
    with pytest.raises(StackyardError, match=r"^backup r1.dump is unreadable \(pg_restore --list\)"):
        db.backup(s, "r1", PG)


def test_a_backup_gives_its_deadline_to_both_commands(tmp_path):
    runner = DumpingRunner()
    db.backup(backup_session(tmp_path, runner), "r1", PG, timeout=600)
    assert runner.timeouts == [600, 600]


def test_a_failed_backup_leaves_no_file(tmp_path):
    runner = FilesRunner({"pg_dump": Result(1, "", "pg_dump: error: connection refused\n")})
    with pytest.raises(StackyardError, match=r"^backup failed: "):
        db.backup(backup_session(tmp_path, runner), "r1", PG)
    assert list((tmp_path / "backups" / "demo-prod").iterdir()) == []


def test_a_backup_removes_the_oldest_beyond_keep_backups(tmp_path):
    folder = tmp_path / "backups" / "demo-prod"
    folder.mkdir(parents=True)
    for age, name in enumerate(["new.dump", "mid.dump", "old.dump", "oldest.dump", "notes.txt"], start=1):
        (folder / name).write_bytes(b"x")
        os.utime(folder / name, (1_000_000 - age, 1_000_000 - age))
    s = backup_session(tmp_path, DumpingRunner(), keep_backups=3)
    db.backup(s, "r9", PG)
    assert sorted(p.name for p in folder.iterdir()) == ["mid.dump", "new.dump", "notes.txt", "r9.dump"]
    assert s.out.getvalue().splitlines()[-1] == (
        "backup: removed 2 older backups of demo-prod (keep_backups = 3): old.dump, oldest.dump"
    )


def test_the_backup_just_made_is_kept_whatever_the_clock_says(tmp_path):
    folder = tmp_path / "backups" / "demo-prod"
    folder.mkdir(parents=True)
    (folder / "future.dump").write_bytes(b"x")
    os.utime(folder / "future.dump", (4_000_000_000, 4_000_000_000))  # a clock set wrong once
    db.backup(backup_session(tmp_path, DumpingRunner(), keep_backups=1), "r1", PG)
    assert [p.name for p in folder.iterdir()] == ["r1.dump"]


def test_keep_backups_0_keeps_every_backup(tmp_path):
    folder = tmp_path / "backups" / "demo-prod"
    folder.mkdir(parents=True)
    for i in range(12):
        (folder / f"old{i}.dump").write_bytes(b"x")
    s = backup_session(tmp_path, DumpingRunner(), keep_backups=0)
    db.backup(s, "r1", PG)
    assert len(list(folder.iterdir())) == 13 and "removed" not in s.out.getvalue()


def test_a_dry_backup_writes_nothing(tmp_path):
    db.backup(backup_session(tmp_path, Runner(dry=True, echo=False)), "r1", PG)
    assert not (tmp_path / "backups").exists()
