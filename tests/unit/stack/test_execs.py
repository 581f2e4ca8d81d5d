"""stack.execs: a command in a running service; its exit code comes back, and a
service that does not run is said so before anything runs."""

from __future__ import annotations

import io

import pytest

from stackyard.core.runner import Result
from stackyard.errors import StackyardError
from stackyard.session import Session
from stackyard.stack import execs
from tests.unit.fakes import FakeRunner, real_project, tmp_env

PS = (
    '{"Name":"demo-dev-api-1","Service":"api","State":"running","Health":"healthy","ExitCode":0}\n'
    '{"Name":"demo-dev-worker-1","Service":"worker","State":"exited","Health":"","ExitCode":0}\n'
)


def session(tmp_path, runner, **env_changes) -> Session:
    return Session(real_project(), tmp_env(tmp_path, **env_changes), runner, out=io.StringIO())


def test_the_commands_exit_code_comes_back(tmp_path):
    runner = FakeRunner({" ps --all": Result(0, PS), " exec ": Result(7)})
    assert execs.run(session(tmp_path, runner), "api", ["sh", "-c", "exit 7"], tty=False) == 7
    assert runner.subcommands()[-1] == ("exec", "--no-TTY", "api", "sh", "-c", "exit 7")
    assert runner.modes[-1] == "interactive"


def test_the_shells_exit_code_comes_back(tmp_path):
    runner = FakeRunner({" ps --all": Result(0, PS), " exec ": Result(3)})
    assert execs.shell(session(tmp_path, runner), "api", tty=False) == 3


@pytest.mark.parametrize("call", [lambda s: execs.run(s, "worker", ["true"]), lambda s: execs.shell(s, "worker")])
def test_a_stopped_service_is_an_error_before_anything_runs(tmp_path, call):
    runner = FakeRunner({" ps --all": Result(0, PS)})
    with pytest.raises(StackyardError) as info:
        call(session(tmp_path, runner))
    assert str(info.value) == (
        "service worker is not running in dev (project demo-dev; its container is exited): "
        "start it with `inv up -s worker`"
    )
    assert not [c for c in runner.subcommands() if c[0] == "exec"]


def test_a_service_without_a_container_names_the_environment(tmp_path):
    runner = FakeRunner({" ps --all": Result(0, PS)})
    with pytest.raises(StackyardError) as info:
        execs.run(session(tmp_path, runner, name="prod", project="demo-prod"), "db", ["true"])
    assert str(info.value) == (
        "service db is not running in prod (project demo-prod; it has no container): "
        "start it with `inv up -s db --env prod`"
    )


def test_an_unknown_service_lists_the_known_ones(tmp_path):
    runner = FakeRunner({" ps --all": Result(0, PS)})
    with pytest.raises(StackyardError, match="unknown service 'apii': services: api, db"):
        execs.run(session(tmp_path, runner), "apii", ["true"])


def test_a_running_service_needs_no_further_check(tmp_path):
    runner = FakeRunner({" ps --all": Result(0, PS)})
    execs.run(session(tmp_path, runner), "api", ["true"], tty=True)
    assert runner.subcommands() == [("ps", "--all", "--format", "json"), ("exec", "api", "true")]
