"""stack.ops: down's guard, and a failed start explained."""

from __future__ import annotations

import io
import json
import shutil

import pytest

from stackyard import config
from stackyard.core.runner import Result, Runner
from stackyard.engine import kept
from stackyard.engine.state import Container, Port
from stackyard.errors import CommandError, StackyardError
from stackyard.session import Session
from stackyard.stack import ops as stack
from tests.unit.deploy.fakes import FakeClient
from tests.unit.fakes import PS_JSON_LINES, ROOT, FakeRunner, after_base, real_project, tmp_env

API = Container("sy-api-1", "api", "running", "healthy", 0, (Port("api", "127.0.0.1", 8000, 8000),))
DB = Container("sy-db-1", "db", "running", "healthy", 0, (Port("db", "127.0.0.1", 5432, 5432),))
FLOWER = Container("sy-flower-1", "flower", "running", "", 0, (Port("flower", "0.0.0.0", 5555, 5555),))
MIGRATE = Container("sy-migrate-1", "migrate", "exited", "", 0, ())


def session(tmp_path, runner=None, client=None, **env_changes) -> Session:
    env = tmp_env(tmp_path, **env_changes)
    return Session(real_project(), env, runner or FakeRunner(), out=io.StringIO(), client=client)


def test_down_refuses_volumes_of_a_protected_env_without_the_second_flag(tmp_path):
    runner = FakeRunner()
    s = session(tmp_path, runner, name="prod", protected=True)
    with pytest.raises(StackyardError) as info:
        stack.down(s, volumes=True)
    assert "--confirm-data-loss" in str(info.value)
    assert "'prod'" in str(info.value)
    assert runner.commands == []


def test_down_with_confirm_data_loss_removes_volumes(tmp_path):
    runner = FakeRunner()
    s = session(tmp_path, runner, FakeClient(), name="prod", protected=True)
    stack.down(s, volumes=True, confirm_data_loss=True)
    assert runner.subcommands() == [("down", "--remove-orphans", "--timeout", "10", "--volumes")]


def test_down_of_a_protected_env_keeps_volumes_by_default(tmp_path):
    runner = FakeRunner()
    stack.down(session(tmp_path, runner, name="prod", protected=True))
    assert runner.subcommands() == [("down", "--remove-orphans", "--timeout", "10")]


def test_down_volumes_of_an_unprotected_env_needs_one_flag(tmp_path):
    runner = FakeRunner()
    stack.down(session(tmp_path, runner, FakeClient()), volumes=True)
    assert runner.subcommands() == [("down", "--remove-orphans", "--timeout", "10", "--volumes")]


def test_down_volumes_says_what_stackyard_keeps_on_the_engine(tmp_path):
    client = FakeClient()
    s = session(tmp_path, client=client)
    stack.down(s, volumes=True)
    assert s.out.getvalue() == ""  # nothing kept: nothing said
    project = s.env.project
    client.volumes.create(kept.releases_volume(project), {kept.PROJECT: project, kept.KIND: "releases"})
    stack.down(s, volumes=True)
    assert s.out.getvalue() == f"kept on the engine: the release history of {project}, in volumes of stackyard's own\n"
    for name in ("b1", "b2"):
        labels = {kept.PROJECT: project, kept.KIND: "backup", kept.LABEL + "backup": name}
        client.volumes.create(kept.backup_volume(project, name), labels)
    s.out.truncate(0), s.out.seek(0)
    stack.down(s, volumes=True)
    assert s.out.getvalue() == (
        f"kept on the engine: the release history and 2 backups (`inv db.backups`) of {project},"
        " in volumes of stackyard's own\n"
    )
    s.out.truncate(0), s.out.seek(0)
    stack.down(s)  # the volumes kept anyway: nothing to say
    assert s.out.getvalue() == ""


def test_failed_start_names_the_service_and_shows_its_logs(tmp_path):
    ps = PS_JSON_LINES.replace(
        '"Service":"api","State":"running","Health":"healthy"', '"Service":"api","State":"running","Health":"unhealthy"'
    )
    runner = FakeRunner(
        {
            " up --detach": Result(1, "", "dependency failed to start: container stackyard-dev-api-1 is unhealthy\n"),
            " ps --all --format json": Result(0, ps),
            " logs ": Result(0, "api-1 | ModuleNotFoundError: No module named 'fastapi'\n"),
        }
    )
    s = session(tmp_path, runner)
    with pytest.raises(StackyardError) as info:
        stack.up(s)
    assert str(info.value).startswith("service api is unhealthy: ")
    assert "inv logs -s api" in str(info.value)
    out = s.out.getvalue()
    assert "--- api: last 30 log lines ---" in out
    assert "No module named 'fastapi'" in out
    logs = [c for c in runner.subcommands() if "logs" in c]
    # more is read than shown: a known cause may sit further up than the last 30 lines
    assert logs == [("logs", "--timestamps", "--tail", str(stack.LOG_LINES_SEARCHED), "--no-color", "api")]


def test_show_config_masks_secrets_with_their_length_as_env_show(tmp_path, monkeypatch):
    (tmp_path / "qa.env").write_text("POSTGRES_PASSWORD=pg-s3cret-value\nREDIS_PASSWORD=pg-s3cret-value-2\n")
    monkeypatch.delenv("POSTGRES_PASSWORD", raising=False)
    monkeypatch.delenv("REDIS_PASSWORD", raising=False)
    rendered = (
        "services:\n  db:\n    environment:\n      POSTGRES_PASSWORD: pg-s3cret-value\n"
        "      REDIS_URL: redis://:pg-s3cret-value-2@redis:6379/0\n"
    )
    runner = FakeRunner({" config": Result(0, rendered)})
    s = session(tmp_path, runner, name="qa", env_files=(tmp_path / "qa.env",))
    stack.show_config(s)
    out = s.out.getvalue()
    assert "s3cret" not in out
    # the longer secret, which contains the shorter one, is masked whole
    assert "POSTGRES_PASSWORD: **** (15 chars)" in out
    assert "REDIS_URL: redis://:**** (17 chars)@redis:6379/0" in out
    assert after_base(runner.commands[0].argv) == ("config",)


def test_mask_with_length_never_masks_its_own_mask(tmp_path, monkeypatch):
    # a secret that spells part of "**** (N chars)" must not be replaced inside a mask
    monkeypatch.setenv("X_PASSWORD", "chars")
    monkeypatch.setenv("Y_PASSWORD", "abcdefgh")
    assert stack.mask_with_length("a=abcdefgh b=chars", tmp_env(tmp_path)) == "a=**** (8 chars) b=**** (5 chars)"


def test_a_leftover_volume_of_prod_names_the_password_mismatch_without_a_secret(tmp_path, monkeypatch):
    secret = "Tq8yPz3nXvL0aW5eR7uK2mB9cD4fG6hJ"
    monkeypatch.setenv("POSTGRES_PASSWORD", secret)
    ps = '{"Name":"demo-prod-migrate-1","Service":"migrate","State":"exited","Health":"","ExitCode":1}\n'
    traceback = "".join(f"migrate-1  |   File 'x.py', line {i}\n" for i in range(60))  # more than 30 lines after it
    traceback += f"migrate-1  | url postgresql://app:{secret}@db:5432/app\n"
    logs = 'migrate-1  | FATAL:  password authentication failed for user "app"\n' + traceback
    runner = FakeRunner({" ps --all --format json": Result(0, ps), " logs ": Result(0, logs)})
    s = session(tmp_path, runner, name="prod", project="demo-prod", protected=True)
    up_failed = CommandError(
        ("docker", "compose", "up"), 1, 'service "migrate" didn\'t complete successfully: exit 1\n'
    )
    message = str(stack.startup_failure(s, up_failed, 180))
    assert message.startswith("service migrate exited with code 1: the database volume was initialised with another")
    assert "env/prod.local.env" in message
    assert "`inv down --volumes --env prod --confirm-data-loss`" in message
    assert secret not in message and secret not in s.out.getvalue()
    # only the last 30 lines are shown, under their header
    shown = s.out.getvalue().splitlines()
    assert shown[0] == "--- migrate: last 30 log lines ---"
    assert len(shown) == 31 and shown[1].endswith("line 31")
    assert "postgresql://app:****@db:5432/app" in s.out.getvalue()


def test_the_password_mismatch_of_dev_suggests_one_flag(tmp_path):
    ps = '{"Name":"demo-dev-api-1","Service":"api","State":"running","Health":"unhealthy","ExitCode":0}\n'
    logs = "api-1  | psycopg.OperationalError: FATAL:  password authentication failed for user app\n"
    runner = FakeRunner({" ps --all --format json": Result(0, ps), " logs ": Result(0, logs)})
    s = session(tmp_path, runner)
    message = str(stack.startup_failure(s, CommandError(("docker", "compose", "up"), 1, ""), 180))
    assert message.startswith("service api is unhealthy: the database volume")
    assert message.endswith("start empty with `inv down --volumes`")


# A config where api and worker run the image migrate builds, and db is pulled.
BUILD_CONFIG = json.dumps(
    {
        "services": {
            "migrate": {"image": "app:dev", "build": {"context": "."}},
            "api": {"image": "app:dev"},
            "worker": {"image": "app:dev"},
            "db": {"image": "postgres:17"},
        }
    }
)


def test_building_a_service_that_shares_an_image_builds_its_builder(tmp_path):
    runner = FakeRunner({" config --format json": Result(0, BUILD_CONFIG)})
    s = session(tmp_path, runner)
    stack.build(s, ["api", "worker", "migrate"])
    assert runner.subcommands()[-1] == ("build", "migrate")
    out = s.out.getvalue()
    assert "api runs app:dev, which migrate builds: building migrate" in out
    assert "worker runs app:dev" in out


def test_building_a_pulled_image_says_so(tmp_path):
    runner = FakeRunner({" config --format json": Result(0, BUILD_CONFIG)})
    s = session(tmp_path, runner)
    stack.build(s, ["db", "api"])
    assert runner.subcommands()[-1] == ("build", "migrate")
    assert "not built here, pulled: db (postgres:17)" in s.out.getvalue()
    with pytest.raises(StackyardError) as info:
        stack.build(session(tmp_path, runner), ["db"])
    assert str(info.value).startswith("nothing to build for db: the image is pulled, not built")
    assert [c for c in runner.subcommands() if c[0] == "build"] == [("build", "migrate")]  # no second build


def test_building_an_unknown_service_lists_the_known_ones(tmp_path):
    runner = FakeRunner({" config --format json": Result(0, BUILD_CONFIG)})
    with pytest.raises(StackyardError, match="unknown service 'apii': services: api, db, migrate, worker"):
        stack.build(session(tmp_path, runner), ["apii"])


def test_building_everything_needs_no_config(tmp_path):
    runner = FakeRunner()
    stack.build(session(tmp_path, runner))
    assert runner.subcommands() == [("build",)]


# --- `inv --dry dev` on a fresh clone: no env/dev.local.env yet ---


@pytest.fixture
def fresh_clone(tmp_path, monkeypatch):
    """The repository's compose files, committed env files, schema and settings, copied
    without any local env file; no secret in the process environment."""
    root = tmp_path / "clone"
    shutil.copytree(ROOT / "compose", root / "compose")
    (root / "env").mkdir()
    for f in (ROOT / "env").glob("*.env"):
        if not f.name.endswith(".local.env") and f.name != "local.env":
            shutil.copy(f, root / "env" / f.name)
    for name in (".env.example", "pyproject.toml"):
        shutil.copy(ROOT / name, root / name)
    for name in ("POSTGRES_PASSWORD", "REDIS_PASSWORD", "GRAFANA_ADMIN_PASSWORD", "STACKYARD_ENV"):
        monkeypatch.delenv(name, raising=False)
    return root


def test_dry_prepare_env_announces_the_file_names_it_and_writes_nothing(fresh_clone):
    project = config.load(fresh_clone)
    s = Session(project, project.environment("dev"), Runner(dry=True, out=io.StringIO()), out=io.StringIO())
    env = stack.prepare_env(s)
    local = fresh_clone / "env" / "dev.local.env"
    assert not local.exists()
    assert s.out.getvalue() == "[dry-run] would create env/dev.local.env (3 secrets generated)\n"
    assert env.env_files == (fresh_clone / "env" / "dev.env", local)  # as the real run will name them
    assert local not in s.env.env_files  # the reads go without it
    # and they work: Compose renders the config with the throwaway secrets (${POSTGRES_PASSWORD:?...})
    assert "db" in s.config()["services"]


def test_dry_up_prints_the_command_the_real_run_would_run(fresh_clone, capsys):
    project = config.load(fresh_clone)
    s = Session(project, project.environment("dev"), Runner(dry=True), out=io.StringIO())
    stack.up(s)
    printed = capsys.readouterr().err
    assert printed.endswith(
        f"--env-file {fresh_clone / 'env' / 'dev.env'} --env-file {fresh_clone / 'env' / 'dev.local.env'} "
        "up --detach --build --wait --wait-timeout 180\n"
    )
    assert not (fresh_clone / "env" / "dev.local.env").exists()


def test_a_real_first_run_writes_the_local_file_and_reads_it(fresh_clone):
    project = config.load(fresh_clone)
    runner = FakeRunner()
    s = Session(project, project.environment("dev"), runner, out=io.StringIO())
    env = stack.prepare_env(s)
    local = fresh_clone / "env" / "dev.local.env"
    assert local.is_file()
    assert env == s.env and s.env.env_files[-1] == local
    assert runner.env == {}  # no throwaway values in a real run
