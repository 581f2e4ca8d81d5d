"""The engine reads host.check adds to engine/api.py, with the real docker SDK
against the stand-in engine of test_api (conftest keeps api.client() from any
engine here: the client is made directly)."""

from __future__ import annotations

import pytest

import docker
from stackyard.engine import api
from tests.unit.engine.test_api import API_VERSION, Engine


@pytest.fixture
def engine(tmp_path):
    started: list[Engine] = []

    def start(routes):
        e = Engine(str(tmp_path / "engine.sock"), routes).__enter__()
        started.append(e)
        return e, docker.DockerClient(base_url=f"unix://{tmp_path}/engine.sock", version=API_VERSION)

    yield start
    for e in started:
        e.__exit__()


def test_info_disk_usage_and_every_running_container(engine):
    info = {"SystemTime": "2026-11-22T14:06:17.47762893Z", "Driver": "overlay2", "DockerRootDir": "/var/lib/docker"}
    usage = {"Images": [], "Volumes": [], "BuildCache": [], "Containers": [], "LayersSize": 0}
    rows = [{"Id": "1", "Names": ["/web"], "Ports": [{"PublicPort": 80, "Type": "tcp"}], "Labels": {}}]
    e, client = engine({"GET /info": (200, info), "GET /system/df": (200, usage), "GET /containers/json": (200, rows)})
    assert api.info(client) == info
    assert api.disk_usage(client) == usage
    assert api.running(client) == rows
    listed = [s for s in e.seen if "/containers/json" in s]
    assert listed == ["GET /v1.43/containers/json?limit=-1&all=0&size=0&trunc_cmd=0"]  # running only, any project


def test_an_engine_refusing_is_one_error(engine):
    _, client = engine({"GET /system/df": (500, {"message": "a disk usage operation is already running"})})
    try:
        api.disk_usage(client)
    except api.StackyardError as exc:
        assert str(exc) == "the Docker engine refused: a disk usage operation is already running"
    else:
        raise AssertionError("no error")
