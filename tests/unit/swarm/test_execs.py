"""swarm/execs.py: `docker exec` in the newest running task container of the service
on this node; its exit code comes back; with none here, the error says why (unknown,
not deployed, running on other nodes named, a job, none running)."""

from __future__ import annotations

import pytest

from stackyard.commands import compose
from stackyard.core.runner import Result
from stackyard.errors import StackyardError
from stackyard.stack import execs as stackexecs
from stackyard.swarm import execs
from tests.unit.swarm.fakes import PROJECT, FakeClient, MergingRunner, service, session, task

API = f"{PROJECT}_api"
HERE = {
    API: [
        {"Id": "c-old", "Names": [f"/{API}.1.aaaa"], "Created": 100},
        {"Id": "c-new", "Names": [f"/{API}.2.bbbb"], "Created": 200},
    ]
}
DEPLOYED = [service("api", "s-api"), service("worker", "s-worker"), service("migrate", "s-mig", job=True)]


def test_the_command_runs_in_the_newest_running_task_here_and_its_code_comes_back(tmp_path):
    runner = MergingRunner(responses={"docker exec": Result(7)})
    client = FakeClient(DEPLOYED, containers=HERE)
    assert execs.run(session(tmp_path, runner, client), "api", ["sh", "-c", "exit 7"], tty=False) == 7
    assert runner.commands[-1].argv == ("docker", "exec", "--interactive", f"{API}.2.bbbb", "sh", "-c", "exit 7")
    assert runner.modes[-1] == "interactive"
    assert client.filters == [{"label": f"com.docker.swarm.service.name={API}", "status": "running"}]


def test_a_shell_is_bash_or_sh_with_a_tty_when_asked(tmp_path):
    runner = MergingRunner(responses={"docker exec": Result(3)})
    assert execs.shell(session(tmp_path, runner, FakeClient(DEPLOYED, containers=HERE)), "api", tty=True) == 3
    assert runner.commands[-1].argv == ("docker", "exec", "--interactive", "--tty", f"{API}.2.bbbb", *compose.SHELL)


def test_tasks_on_other_nodes_are_named(tmp_path):
    tasks = {"s-worker": [task("n2", "running", "2"), task("n2", "shutdown", "1")]}
    runner = MergingRunner()
    with pytest.raises(StackyardError) as info:
        execs.run(session(tmp_path, runner, FakeClient(DEPLOYED, tasks=tasks)), "worker", ["true"], tty=False)
    assert str(info.value) == (
        "service worker has no running task on this node (manager1): its tasks run on worker1: "
        "run it there: point --host at that node's engine (ssh://USER@ADDRESS of worker1)"
    )
    assert not [c for c in runner.commands if c.argv[:2] == ("docker", "exec")]


def test_a_job_has_nothing_running_to_exec_in(tmp_path):
    tasks = {"s-mig": [task("n1", "complete", "1")]}
    with pytest.raises(StackyardError) as info:
        execs.run(session(tmp_path, MergingRunner(), FakeClient(DEPLOYED, tasks=tasks)), "migrate", ["true"], tty=False)
    assert str(info.value) == (
        f"service migrate is a job of stack {PROJECT}: its tasks ran once and exited, none runs now: "
        "`inv logs --env swarm -s migrate` shows what it did"
    )


def test_a_service_with_no_running_task_says_its_newest_tasks_state(tmp_path):
    tasks = {"s-api": [task("n1", "failed", "2", err="task: non-zero exit (1)"), task("n1", "failed", "1")]}
    with pytest.raises(StackyardError) as info:
        execs.run(session(tmp_path, MergingRunner(), FakeClient(DEPLOYED, tasks=tasks)), "api", ["true"], tty=False)
    assert str(info.value) == (
        f"service api has no running task in stack {PROJECT} (its newest task: failed, task: non-zero exit (1)): "
        "`inv ps --env swarm` and `inv logs --env swarm -s api` say why"
    )


def test_a_known_service_not_deployed_and_an_unknown_one(tmp_path):
    with pytest.raises(StackyardError) as info:
        execs.run(session(tmp_path, MergingRunner(), FakeClient(DEPLOYED)), "flower", ["true"], tty=False)
    assert str(info.value) == (
        f"service flower is not deployed in stack {PROJECT} (swarm): "
        "`inv up --env swarm` deploys it; `inv ps --env swarm` lists what runs"
    )
    with pytest.raises(StackyardError) as info:
        execs.run(session(tmp_path, MergingRunner(), FakeClient(DEPLOYED)), "nope", ["true"], tty=False)
    assert str(info.value) == "unknown service 'nope': services: api, db, flower, migrate, worker"


def test_inv_exec_and_shell_on_a_swarm_environment_use_docker_exec(tmp_path):
    runner = MergingRunner(responses={"docker exec": Result(5)})
    s = session(tmp_path, runner, FakeClient(DEPLOYED, containers=HERE))
    assert stackexecs.run(s, "api", ["false"], tty=False) == 5
    assert stackexecs.shell(s, "api", tty=False) == 5
    assert [c.argv[:3] for c in runner.commands] == [("docker", "exec", "--interactive")] * 2
    with pytest.raises(StackyardError, match="no command given"):
        stackexecs.run(s, "api", [], tty=False)
