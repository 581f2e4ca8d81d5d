"""swarm/run.py: what up, down and ps do on a swarm, against a small fake Engine API."""

from __future__ import annotations

import io
from types import SimpleNamespace

import pytest

from stackyard import config
from stackyard.core.runner import Result
from stackyard.errors import StackyardError
from stackyard.session import Session
from stackyard.stack import ops
from stackyard.swarm import render
from stackyard.swarm import run as swarm
from tests.unit.fakes import FakeRunner, tmp_env

PROJECT = "shop-swarm"


class Client:
    """The part of the docker SDK's client swarm/run.py and engine/swarm.py use."""

    def __init__(self, state="active", manager=True, nodes=1):
        self._info = {"Swarm": {"LocalNodeState": state, "ControlAvailable": manager, "NodeAddr": "10.0.0.5"}}
        self.service_rows: list[dict] = []
        self.task_rows: dict[str, list[dict]] = {}
        self.made: list[tuple[str, str, bytes]] = []
        self.secret_names: set[str] = set()
        self.node_rows = [
            SimpleNamespace(id=f"n{i}", attrs={"Spec": {"Labels": {"dev.stackyard.db": "true"}}}) for i in range(nodes)
        ]
        self.api = SimpleNamespace(
            services=lambda filters, status: self.service_rows,
            tasks=lambda filters: self.task_rows.get(filters["service"], []),
            service_logs=lambda *a, **kw: iter([b"alembic: connection refused\n"]),
        )
        self.secrets = SimpleNamespace(
            list=lambda: [SimpleNamespace(name=n) for n in self.secret_names],
            create=lambda name, data, labels: self.made.append(("secret", name, data)),
        )
        self.configs = SimpleNamespace(list=lambda: [], create=lambda name, data, labels: None)
        self.nodes = SimpleNamespace(list=lambda: self.node_rows)

    def info(self):
        return self._info


def session(tmp_path, client=None, runner=None, **env) -> Session:
    project = config.Project(tmp_path, "shop", tmp_path / "compose", tmp_path / "env", "dev")
    environment = tmp_env(tmp_path, "swarm", project=PROJECT, orchestrator="swarm", **env)
    return Session(project, environment, runner or FakeRunner(), out=io.StringIO(), client=client or Client())


def replicated(name: str, replicas: int, update: str = "") -> dict:
    spec = {
        "Name": f"{PROJECT}_{name}",
        "Mode": {"Replicated": {"Replicas": replicas}},
        "TaskTemplate": {"ContainerSpec": {"Image": f"shop-app:r1@sha256:{'0' * 64}"}},
        "EndpointSpec": {"Ports": [{"PublishedPort": 8443, "TargetPort": 443, "Protocol": "tcp"}]}
        if name == "caddy"
        else {},
    }
    return {"ID": name, "Spec": spec} | ({"UpdateStatus": {"State": update}} if update else {})


def job(name: str, attempts: int = 12) -> dict:
    spec = {
        "Name": f"{PROJECT}_{name}",
        "Mode": {"ReplicatedJob": {"TotalCompletions": 1}},
        "TaskTemplate": {"ContainerSpec": {"Image": "shop-app:r1"}, "RestartPolicy": {"MaxAttempts": attempts}},
    }
    return {"ID": name, "Spec": spec}


def task(state: str, desired: str = "running", err: str = "") -> dict:
    return {"DesiredState": desired, "Status": {"State": state, "Err": err}, "CreatedAt": state}


def test_an_engine_in_no_swarm_or_a_worker_is_refused_with_the_way_out(tmp_path):
    with pytest.raises(StackyardError) as err:
        swarm.require_manager(session(tmp_path, Client(state="inactive")))
    assert str(err.value) == (
        "environment swarm runs on Swarm, and this engine is in no swarm (inactive): "
        "`inv swarm.init` makes it a single-node swarm (README: Docker Swarm)"
    )
    with pytest.raises(StackyardError, match=r"^this engine is a swarm worker: swarm is deployed from a manager"):
        swarm.require_manager(session(tmp_path, Client(manager=False)))


def test_a_service_has_converged_when_all_its_tasks_run_and_no_update_is_under_way():
    client = Client()
    api = replicated("api", 2)
    client.task_rows["api"] = [task("running"), task("starting")]  # a task with a health check: running once healthy
    assert swarm.pending_reason(client, api) == f"{PROJECT}_api: 1/2 running"
    client.task_rows["api"] = [task("running"), task("running"), task("shutdown", desired="shutdown")]
    assert swarm.pending_reason(client, api) == ""
    assert swarm.pending_reason(client, replicated("api", 2, update="updating")) == f"{PROJECT}_api: updating"


def test_a_job_converges_when_complete_and_fails_once_swarm_gave_up_on_it():
    client = Client()
    migrate = job("migrate", attempts=2)
    client.task_rows["migrate"] = [task("failed", err="task: non-zero exit (1)"), task("starting")]
    assert swarm.pending_reason(client, migrate) == f"job {PROJECT}_migrate: 0/1 complete"  # still trying
    client.task_rows["migrate"] = [task("failed", err="task: non-zero exit (1)")] * 3
    with pytest.raises(StackyardError) as err:
        swarm.pending_reason(client, migrate)
    assert str(err.value).startswith(
        f"job {PROJECT}_migrate failed after 3 attempt(s): task: non-zero exit (1); its last lines:\n"
        "alembic: connection refused"
    )
    client.task_rows["migrate"] = [task("complete", desired="shutdown"), task("failed")]
    assert swarm.pending_reason(client, migrate) == ""


def test_converge_waits_then_names_what_did_not_converge(tmp_path):
    client = Client()
    client.service_rows = [replicated("api", 2)]
    client.task_rows["api"] = [task("running")]
    s = session(tmp_path, client)
    now = [0.0]
    with pytest.raises(StackyardError) as err:
        swarm.converge(s, 5, clock=lambda: now[0], sleep=lambda dt: now.__setitem__(0, now[0] + dt))
    assert str(err.value) == (
        f"{PROJECT} did not converge within 5 s: {PROJECT}_api: 1/2 running: "
        "`inv logs --env swarm` shows why; `inv ps --env swarm` what runs"
    )
    assert now[0] == pytest.approx(6.0)  # polled once a second until past the deadline


def test_ps_is_a_table_of_the_stacks_services(tmp_path):
    client = Client()
    client.service_rows = [replicated("api", 2), replicated("caddy", 1), job("migrate")]
    client.task_rows = {"api": [task("running")] * 2, "caddy": [task("starting")], "migrate": [task("complete")]}
    s = session(tmp_path, client)
    swarm.ps(s)
    assert s.out.getvalue().splitlines() == [
        "SERVICE  REPLICAS          IMAGE        PORTS          UPDATE",
        "api      2/2               shop-app:r1  -              -",
        "caddy    0/1               shop-app:r1  8443->443/tcp  -",
        "migrate  job 1/1 complete  shop-app:r1  -              -",
    ]
    client.service_rows = []
    s.out.truncate(0), s.out.seek(0)
    swarm.ps(s)
    assert s.out.getvalue() == f"no services in stack {PROJECT} (swarm); start it with `inv up --env swarm`\n"


def test_secrets_are_made_from_their_values_once_and_never_shown(tmp_path, monkeypatch):
    client = Client()
    client.secret_names = {f"{PROJECT}_redis_password_bbb"}
    monkeypatch.setenv("POSTGRES_PASSWORD", "s3cr3t-value-1")
    monkeypatch.setenv("REDIS_PASSWORD", "s3cr3t-value-2")
    compose_config = {
        "secrets": {
            "pg_password": {"environment": "POSTGRES_PASSWORD"},
            "redis_password": {"environment": "REDIS_PASSWORD"},
        }
    }
    stack = render.Stack(
        document={}, secrets={"pg_password": f"{PROJECT}_pg_password_aaa", "redis_password": f"{PROJECT}_redis_password_bbb"},
        configs={}, job=None, node_labels=(), notes=(),
    )  # fmt: skip
    runner = FakeRunner()
    runner.echo = True
    s = session(tmp_path, client, runner)
    swarm.make_secrets(s, stack, compose_config)
    assert client.made == [("secret", f"{PROJECT}_pg_password_aaa", b"s3cr3t-value-1")]  # the other exists
    echoed = runner.out.getvalue()
    assert f"create secret {PROJECT}_pg_password_aaa (its value from the environment, not shown)" in echoed
    assert "s3cr3t" not in echoed + s.out.getvalue()


def test_a_secret_whose_variable_is_not_set_says_how_to_set_it(tmp_path, monkeypatch):
    monkeypatch.delenv("NOPE_PW", raising=False)
    with pytest.raises(StackyardError) as err:
        swarm.secret_values(session(tmp_path), {"secrets": {"pw": {"environment": "NOPE_PW"}}})
    assert str(err.value) == (
        "secret pw: variable NOPE_PW is not set: `inv env.init --env swarm` writes it (or set it in the environment)"
    )


def test_the_labels_no_node_carries_go_to_this_managers_node(tmp_path):
    stack = render.Stack({}, {}, {}, None, ("dev.stackyard.db", "dev.stackyard.caddy"), ())
    runner = FakeRunner()
    client = Client(nodes=2)  # n0 carries dev.stackyard.db (and n1 too)
    client._info["Swarm"]["NodeID"] = "me"
    swarm.label_nodes(session(tmp_path, client, runner), stack)
    assert [c.argv for c in runner.commands] == [
        ("docker", "node", "update", "--label-add=dev.stackyard.caddy=true", "me")
    ]
    for node in client.node_rows:
        node.attrs["Spec"]["Labels"]["dev.stackyard.caddy"] = "true"  # an operator chose a node
    runner = FakeRunner()
    swarm.label_nodes(session(tmp_path, client, runner), stack)
    assert runner.commands == []


def test_down_removes_the_stack_and_refuses_to_remove_volumes(tmp_path):
    runner = FakeRunner()
    s = session(tmp_path, Client(), runner)
    with pytest.raises(StackyardError, match=r"^swarm runs on Swarm, which never removes volumes: `down` keeps them"):
        ops.down(s, volumes=True, confirm_data_loss=True)
    assert runner.commands == []
    ops.down(s)
    assert [c.argv for c in runner.commands] == [("docker", "stack", "rm", PROJECT)]
    assert s.out.getvalue() == f"stack {PROJECT} removed; its volumes are kept (`docker volume ls` on each node)\n"


def test_join_token_prints_the_command_a_worker_runs(tmp_path):
    runner = FakeRunner({"join-token": Result(0, "SWMTKN-1-abc\n")})
    s = session(tmp_path, Client(), runner)
    swarm.join_token(s)
    assert s.out.getvalue() == "docker swarm join --token SWMTKN-1-abc 10.0.0.5:2377\n"


def test_up_of_some_services_is_refused_on_swarm(tmp_path, monkeypatch):
    runner = FakeRunner()
    s = session(tmp_path, Client(), runner)
    monkeypatch.setattr(ops, "prepare_env", lambda s: s.env)
    with pytest.raises(StackyardError) as err:
        ops.up(s, ["api"])
    assert str(err.value) == (
        "swarm runs on Swarm: `up` deploys the whole stack, not some services: run `inv up --env swarm` without services"
    )
    assert runner.commands == []


def test_a_job_run_again_is_complete_only_when_this_run_is():
    client = Client()
    migrate = job("migrate") | {"JobStatus": {"JobIteration": {"Index": 12}}}
    earlier = task("complete", desired="shutdown") | {"JobIteration": {"Index": 5}}
    now = task("starting") | {"JobIteration": {"Index": 12}}
    client.task_rows["migrate"] = [earlier, now]
    assert swarm.pending_reason(client, migrate) == f"job {PROJECT}_migrate: 0/1 complete"
    client.task_rows["migrate"] = [earlier, task("complete", desired="shutdown") | {"JobIteration": {"Index": 12}}]
    assert swarm.pending_reason(client, migrate) == ""
