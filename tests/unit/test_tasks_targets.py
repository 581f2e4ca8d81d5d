"""Targets: every task that talks to the engine takes `--host`; an environment's
`host` ([tool.stackyard.environments.<env>]) is its default, and `--host` wins; what
is neither an ssh://, tcp:// nor unix:// address is refused, naming the option."""

from __future__ import annotations

import copy
import json
import subprocess
import sys

import invoke
import pytest
from invoke.parser import Parser

import stackyard.core.runner
from stackyard import tasks
from stackyard.errors import ConfigError

from .fakes import ROOT, FakeRunner
from .test_config import make_project

HOST = "ssh://deploy@prod.example.com"
# The tasks that talk to the engine, and the words `inv` needs besides --host.
ENGINE_TASKS = {
    "up": [],
    "down": [],
    "ps": [],
    "build": [],
    "restart": [],
    "logs": [],
    "exec": ["api"],
    "shell": ["api"],
    "prod-deploy": [],
    "rollback": [],
    "releases": [],
    "deploy.unlock": [],
    "db.backup": [],
    "db.restore": ["x.dump"],
    "db.shell": [],
    "db.migrate": [],
}


def parse(*argv: str) -> dict[str, dict]:
    """{task: its keyword arguments}, as `inv ARGV` would call them."""
    namespace = copy.deepcopy(tasks.namespace)  # Invoke pops a task's help texts as it parses
    return {ctx.name: ctx.as_kwargs for ctx in Parser(contexts=namespace.to_contexts()).parse_argv(list(argv))}


@pytest.mark.parametrize("task", sorted(ENGINE_TASKS))
def test_every_task_that_talks_to_the_engine_takes_host(task):
    assert parse(task, *ENGINE_TASKS[task], "--host", HOST)[task]["host"] == HOST


def test_host_has_a_help_text_naming_its_default():
    # A fresh process: Invoke consumes a task's help texts when it parses their arguments.
    bodies = ["up", "down", "ps_", "build", "restart", "logs", "exec_", "shell", "prod_deploy", "rollback"]
    bodies += ["releases", "unlock", "backup", "restore", "db_shell", "migrate"]
    code = f"import json; from stackyard import tasks; print(json.dumps([getattr(tasks, n).help['host'] for n in {bodies!r}]))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(proc.stdout) == [tasks.HOST_HELP] * len(ENGINE_TASKS)
    assert "the environment's `host`" in tasks.HOST_HELP


@pytest.fixture
def runners(monkeypatch):
    """Every Runner the tasks make, with the target it was given."""
    made: list[FakeRunner] = []

    def make_runner(dry: bool = False, target: str | None = None, **kwargs):
        runner = FakeRunner(dry=dry)
        runner.target = target
        made.append(runner)
        return runner

    monkeypatch.setattr(stackyard.core.runner, "Runner", make_runner)
    return made


def test_host_names_the_target_of_the_tasks_commands(runners, monkeypatch):
    monkeypatch.chdir(ROOT)
    tasks.ps_(invoke.Context(), env="dev", host=HOST)
    assert [r.target for r in runners] == [HOST]
    assert runners[0].commands and all(not c.local_engine for c in runners[0].commands)


def test_the_environments_host_is_the_default_and_host_wins(tmp_path, monkeypatch):
    toml = '[tool.stackyard.environments.qa]\nhost = "ssh://deploy@qa.example.com"\n'
    monkeypatch.chdir(make_project(tmp_path, pyproject=toml))
    c = invoke.Context()
    assert tasks.session(c, "qa").target == "ssh://deploy@qa.example.com"
    assert tasks.session(c, "qa", HOST).target == HOST  # --host overrides
    assert tasks.session(c, "dev").target is None  # the docker CLI's default: the local engine


def test_a_host_option_that_is_no_engine_address_is_refused(monkeypatch):
    monkeypatch.chdir(ROOT)
    with pytest.raises(ConfigError) as info:
        tasks.session(invoke.Context(), "prod", "deploy@prod.example.com")
    assert str(info.value).startswith("--host 'deploy@prod.example.com' is not a Docker engine address: e.g.")


def test_the_same_engine_as_the_local_one_is_no_remote_target(monkeypatch):
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("DOCKER_HOST", HOST)
    s = tasks.session(invoke.Context(), "prod", HOST)
    assert s.target == HOST and not s.remote  # nothing to ship: it built there
    monkeypatch.setenv("DOCKER_HOST", "unix:///var/run/docker.sock")
    assert s.remote


def test_build_on_is_a_prod_deploy_option():
    assert parse("prod-deploy", "--build-on", "host")["prod-deploy"]["build_on"] == "host"
    assert parse("prod-deploy")["prod-deploy"]["build_on"] is None  # the environment's build_on
