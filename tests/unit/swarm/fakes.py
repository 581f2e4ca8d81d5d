"""Fakes for the swarm tasks: an Engine API client answering as a swarm manager does
(services, tasks, nodes, containers) and a FakeRunner that merges canned log lines."""

from __future__ import annotations

import io
import pathlib
from collections.abc import Iterator, Mapping, Sequence
from types import SimpleNamespace

from stackyard.core.command import Command
from stackyard.core.runner import Result
from stackyard.session import Session
from tests.unit.fakes import FakeRunner, real_project, tmp_env

PROJECT = "shop-swarm"
SERVICES = "api\ndb\nmigrate\nworker\nflower\n"  # `config --services`: flower is known, not deployed


def service(name: str, sid: str, job: bool = False) -> dict:
    mode = {"ReplicatedJob": {"TotalCompletions": 1}} if job else {"Replicated": {"Replicas": 1}}
    return {"ID": sid, "Spec": {"Name": f"{PROJECT}_{name}", "Mode": mode}}


def task(node: str, state: str, created: str, err: str = "") -> dict:
    return {"NodeID": node, "CreatedAt": created, "Status": {"State": state, **({"Err": err} if err else {})}}


class FakeClient:
    """A manager node "manager1" of a swarm with a worker "worker1"; `containers` are
    the /containers/json rows of this node's running task containers, by service."""

    def __init__(
        self,
        services: list[dict] | None = None,
        tasks: Mapping[str, list[dict]] | None = None,
        containers: Mapping[str, list[dict]] | None = None,
        nodes: Mapping[str, str] | None = None,
        manager: bool = True,
    ):
        self._services = services if services is not None else []
        self._tasks = dict(tasks or {})
        self._containers = dict(containers or {})
        self._nodes = dict(nodes if nodes is not None else {"n1": "manager1", "n2": "worker1"})
        self._manager = manager
        self.filters: list[dict] = []
        self.api = SimpleNamespace(services=self.services, tasks=self.tasks, containers=self.containers)
        self.nodes = SimpleNamespace(list=self.node_list)

    def info(self) -> dict:
        return {"Name": "manager1", "Swarm": {"LocalNodeState": "active", "ControlAvailable": self._manager}}

    def services(self, filters: dict, status: bool = False) -> list[dict]:
        assert filters == {"label": f"com.docker.stack.namespace={PROJECT}"}
        return list(self._services)

    def tasks(self, filters: dict) -> list[dict]:
        return list(self._tasks.get(filters["service"], []))

    def containers(self, filters: dict) -> list[dict]:
        self.filters.append(filters)
        assert filters["status"] == "running"
        name = filters["label"].removeprefix("com.docker.swarm.service.name=")
        return list(self._containers.get(name, []))

    def node_list(self) -> list:
        return [SimpleNamespace(id=i, attrs={"Description": {"Hostname": h}}) for i, h in self._nodes.items()]


class MergingRunner(FakeRunner):
    """A FakeRunner whose merged_lines yields canned (name, line) pairs, in order, of
    the commands it was given; the commands are recorded."""

    def __init__(self, merged: Sequence[tuple[str, str]] = (), responses: dict[str, Result] | None = None):
        super().__init__({" config --services": Result(0, SERVICES), **(responses or {})})
        self.merged = list(merged)
        self.merged_cmds: dict[str, Command] = {}

    def merged_lines(self, cmds: Mapping[str, Command], idle: float | None = None) -> Iterator[tuple[str, str]]:
        self.merged_cmds, self.idle = dict(cmds), idle
        self.commands += list(cmds.values())
        self.modes += ["merged"] * len(cmds)
        for name, line in self.merged:
            if name in cmds:
                yield name, line


def session(tmp_path: pathlib.Path, runner: FakeRunner, client: FakeClient, tty: bool = False) -> Session:
    env = tmp_env(tmp_path, name="swarm", project=PROJECT, orchestrator="swarm")
    out = _Terminal() if tty else io.StringIO()
    return Session(real_project(), env, runner, out=out, client=client)


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True
