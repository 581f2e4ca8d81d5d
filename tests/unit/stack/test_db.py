"""stack.db: each data task names the environment and project it acts on; a
restore runs the project's after_restore hooks (the caches of the old data)."""

from __future__ import annotations

import dataclasses
import io

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

    def run_files(self, cmd, *, stdin_path=None, stdout_path=None, check=True, readonly=False) -> Result:
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
    with pytest.raises(StackyardError, match=r"^refusing to overwrite the database of protected environment 'prod'"):
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
