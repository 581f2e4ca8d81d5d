"""stack.db: each data task names the environment and project it acts on; the
restore guard protects a protected environment's live database; a restore runs
the project's after_restore hooks (the caches of the old data). Backups, taken,
kept on the engine and fetched, are tests/unit/stack/test_backups.py's."""

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


def restore(s: Session, file, *, confirm_data_loss=False, database=None) -> None:
    """What backups.restore does once it has a file here: the guard, then the restore."""
    service, into = db.guard(s, confirm_data_loss, database)
    db.restore_file(s, service, file, into)


@pytest.fixture
def dump(tmp_path):
    path = tmp_path / "manual-20260101000000.dump"
    path.write_bytes(b"PGDMP")
    return path


def test_restore_announces_then_restores_then_runs_the_hooks(tmp_path, dump, capsys):
    runner = FilesRunner({" exec --no-TTY cache ": Result(0, "OK\n")})
    s = session(tmp_path, runner, name="prod", project="demo-prod", protected=True)
    restore(s, dump, confirm_data_loss=True)
    assert capsys.readouterr().err.splitlines() == [
        "db.restore: restoring manual-20260101000000.dump into the database of prod (project demo-prod)",
        "db.restore: after_restore: running its command in cache",
    ]
    restore_, hook = runner.subcommands()
    assert restore_[:4] == ("exec", "--no-TTY", "pg", "sh") and "pg_restore" in restore_[5]
    assert hook == ("exec", "--no-TTY", "cache", *FLUSH.command)
    assert runner.modes == ["files", "capture"]
    assert s.out.getvalue() == "cache: OK\nrestored manual-20260101000000.dump into the database of prod\n"


LIVE = {"POSTGRES_DB:-": Result(0, "shop")}  # the database container answers the live name


def test_restore_into_another_database_runs_no_hook(tmp_path, dump):
    runner = FilesRunner(LIVE)
    restore(session(tmp_path, runner, name="prod", protected=True), dump, database="scratch")
    name, restore_ = runner.subcommands()
    assert name[:3] == ("exec", "--no-TTY", "pg") and name[-2:] == (db.LIVE_NAME, "sh")
    assert restore_[-1] == "scratch"


def test_the_guard_gives_the_service_and_the_database_to_restore_into(tmp_path):
    s = session(tmp_path, FilesRunner(LIVE), name="prod", protected=True)
    assert db.guard(s, False, "scratch") == ("pg", "scratch")
    assert db.guard(s, True, "shop") == ("pg", None)  # named, the live one all the same
    assert db.guard(s, True, None) == ("pg", None)


def test_restore_naming_the_live_database_of_a_protected_env_needs_the_second_flag(tmp_path, dump):
    runner = FilesRunner(LIVE)
    s = session(tmp_path, runner, name="prod", protected=True)
    with pytest.raises(
        StackyardError,
        match=r"^refusing to overwrite the database \(shop, the live database\) of protected environment 'prod'",
    ):
        restore(s, dump, database="shop")
    assert [c[-2] for c in runner.subcommands()] == [db.LIVE_NAME]  # read only: nothing restored
    restore(s, dump, database="shop", confirm_data_loss=True)
    restore_, hook = runner.subcommands()[2:]
    assert "pg_restore" in restore_[5] and restore_[-1] == "sh"  # into the live database (no name given)
    assert hook[2] == "cache"  # the live database: its caches flushed


def test_the_live_name_cannot_be_read_nothing_is_restored(tmp_path, dump):
    runner = FilesRunner({"POSTGRES_DB:-": Result(1, "", 'service "pg" is not running\n')})
    with pytest.raises(StackyardError, match="pg is not running"):
        restore(session(tmp_path, runner, name="prod", protected=True), dump, database="shop")
    assert len(runner.commands) == 1


def test_a_failed_hook_says_the_restore_happened_and_how_to_finish(tmp_path, dump):
    runner = FilesRunner({" exec --no-TTY cache ": Result(1, "", 'service "cache" is not running\n')})
    with pytest.raises(StackyardError) as info:
        restore(session(tmp_path, runner), dump)
    message = str(info.value)
    assert message.startswith("manual-20260101000000.dump was restored, but its after_restore command in cache failed")
    assert "service cache is not running" in message
    assert message.endswith("`inv exec cache -- sh -c 'REDISCLI_AUTH=\"$REDIS_PASSWORD\" redis-cli FLUSHDB'`")


def test_restore_of_a_protected_env_needs_the_second_flag(tmp_path):
    runner = FilesRunner()
    with pytest.raises(StackyardError, match="--confirm-data-loss") as info:
        db.guard(session(tmp_path, runner, name="prod", protected=True), False, None)
    assert str(info.value).startswith("refusing to overwrite the database of protected environment 'prod'")
    assert runner.commands == []
    assert db.guard(session(tmp_path, runner, name="staging"), False, None) == ("pg", None)  # not protected


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


def test_a_dry_restore_prints_its_commands_in_order_and_claims_nothing(tmp_path, dump, capsys):
    project = dataclasses.replace(real_project(), after_restore=(FLUSH,), roles={})
    s = Session(project, tmp_env(tmp_path), Runner(dry=True), out=io.StringIO(), _config=CONFIG)
    restore(s, dump)
    printed = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("[dry-run] $ ")]
    assert len(printed) == 2
    assert "pg_restore" in printed[0] and " exec --no-TTY cache sh -c " in printed[1]
    assert s.out.getvalue() == ""


def test_the_data_tasks_need_a_postgres_database_role(tmp_path):
    s = session(tmp_path, FilesRunner())
    s._config = {"services": {"store": {"image": "mariadb:11"}}}
    with pytest.raises(StackyardError, match=r"^db\.backup supports kind postgres; service store is mariadb"):
        db.postgres(s, "db.backup")
    s._config = {"services": {"shop": {"image": "shop:1"}}}
    with pytest.raises(
        StackyardError, match=r"^db\.restore: no service of dev's compose config is detected as the database"
    ):
        db.guard(s, True, None)
    with pytest.raises(StackyardError, match=r"db\.migrate: no service .* detected as the migration") as info:
        db.migrate(s)
    assert 'migrate = "..."' in info.value.hint


def test_the_database_service_stated_in_the_roles_wins(tmp_path):
    runner = FilesRunner({" exec ": Result(0)})
    s = session(tmp_path, runner)
    s.project = dataclasses.replace(s.project, roles={"database": {"service": "shop", "kind": "postgres"}})
    db.shell(s, tty=False)
    assert after_base(runner.commands[-1].argv)[:3] == ("exec", "--no-TTY", "shop")


def mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_private_file_is_mode_600_in_a_directory_of_mode_700_whatever_was_there(tmp_path):
    folder = tmp_path / "backups" / "demo-prod"
    folder.mkdir(parents=True, mode=0o755)
    (folder / "r1.dump").write_bytes(b"an earlier try")  # the same name again: emptied, and private
    (folder / "r1.dump").chmod(0o644)
    old = os.umask(0)  # the most permissive umask: the modes must not come from it
    try:
        db.private_file(folder / "r1.dump")
        db.private_file(tmp_path / "new" / "r2.dump")
    finally:
        os.umask(old)
    assert (folder / "r1.dump").read_bytes() == b""
    assert (mode(folder / "r1.dump"), mode(folder)) == (0o600, 0o700)
    assert (mode(tmp_path / "new" / "r2.dump"), mode(tmp_path / "new")) == (0o600, 0o700)


def test_on_swarm_each_command_runs_in_the_task_s_container_by_docker_exec(tmp_path):
    env = tmp_env(tmp_path, "swarm", orchestrator="swarm")
    task = "shop_pg.1.abc"
    assert db.dump(env, "pg", task).argv[:6] == ("docker", "exec", "--interactive", task, "sh", "-c")
    assert db.list_dump(env, "pg", task).argv == ("docker", "exec", "--interactive", task, "pg_restore", "--list")
    restore = db.restore_cmd(env, "pg", "scratch", task).argv
    assert restore[:4] == ("docker", "exec", "--interactive", task) and restore[-1] == "scratch"
    assert db.hook_cmd(env, FLUSH, "shop_cache.1.def").argv[:5] == (
        "docker", "exec", "--interactive", "shop_cache.1.def", "sh"
    )  # fmt: skip
    assert db.dump(env, "pg").argv[:2] == ("docker", "compose")  # no task: Compose finds the service


def test_on_swarm_the_migration_is_the_deploy_s_job_not_a_task_of_its_own(tmp_path):
    s = session(tmp_path, FakeRunner(), name="swarm", orchestrator="swarm")
    with pytest.raises(StackyardError) as err:
        db.migrate(s)
    assert str(err.value) == (
        "db.migrate: on Swarm, setup is a job of the stack, run by each deploy before the web service: "
        "`inv prod-deploy --env swarm` runs it; `inv logs --env swarm -s setup` shows its runs"
    )
