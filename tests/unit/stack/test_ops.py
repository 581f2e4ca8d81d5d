"""stack.ops: down's guard, and a failed start explained."""

from __future__ import annotations

import io

import pytest

from stackyard.core.runner import Result
from stackyard.engine.state import Container, Port
from stackyard.errors import StackyardError
from stackyard.session import Session
from stackyard.stack import ops as stack
from tests.unit.fakes import PS_JSON_LINES, FakeRunner, after_base, real_project, tmp_env

API = Container("sy-api-1", "api", "running", "healthy", 0, (Port("api", "127.0.0.1", 8000, 8000),))
DB = Container("sy-db-1", "db", "running", "healthy", 0, (Port("db", "127.0.0.1", 5432, 5432),))
FLOWER = Container("sy-flower-1", "flower", "running", "", 0, (Port("flower", "0.0.0.0", 5555, 5555),))
MIGRATE = Container("sy-migrate-1", "migrate", "exited", "", 0, ())


def session(tmp_path, runner=None, **env_changes) -> Session:
    return Session(real_project(), tmp_env(tmp_path, **env_changes), runner or FakeRunner(), out=io.StringIO())


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
    stack.down(session(tmp_path, runner, name="prod", protected=True), volumes=True, confirm_data_loss=True)
    assert runner.subcommands() == [("down", "--remove-orphans", "--timeout", "10", "--volumes")]


def test_down_of_a_protected_env_keeps_volumes_by_default(tmp_path):
    runner = FakeRunner()
    stack.down(session(tmp_path, runner, name="prod", protected=True))
    assert runner.subcommands() == [("down", "--remove-orphans", "--timeout", "10")]


def test_down_volumes_of_an_unprotected_env_needs_one_flag(tmp_path):
    runner = FakeRunner()
    stack.down(session(tmp_path, runner), volumes=True)
    assert runner.subcommands() == [("down", "--remove-orphans", "--timeout", "10", "--volumes")]


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
    assert logs == [("logs", "--timestamps", "--tail", "30", "--no-color", "api")]


def test_show_config_masks_secrets(tmp_path, monkeypatch):
    (tmp_path / "qa.env").write_text("POSTGRES_PASSWORD=pg-s3cret-value\n")
    monkeypatch.delenv("POSTGRES_PASSWORD", raising=False)
    runner = FakeRunner(
        {" config": Result(0, "services:\n  db:\n    environment:\n      POSTGRES_PASSWORD: pg-s3cret-value\n")}
    )
    s = session(tmp_path, runner, name="qa", env_files=(tmp_path / "qa.env",))
    stack.show_config(s)
    assert "pg-s3cret-value" not in s.out.getvalue()
    assert "POSTGRES_PASSWORD: ****" in s.out.getvalue()
    assert after_base(runner.commands[0].argv) == ("config",)
