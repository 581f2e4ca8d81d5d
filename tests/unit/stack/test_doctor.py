"""doctor's checks are pure: versions, environment and port probes come in as arguments."""

from __future__ import annotations

import json

import pytest

from stackyard.engine.state import Port
from stackyard.stack import doctor

GiB = 2**30


def engine_json(version: str = "27.3.1", api: str = "1.47") -> str:
    return json.dumps({"Client": {"Version": version}, "Server": {"Version": version, "ApiVersion": api}})


def test_engine_unreachable_fails_with_the_error_and_a_fix():
    c = doctor.check_engine(None, "Cannot connect to the Docker daemon at unix:///var/run/docker.sock.")
    assert c.status == "fail"
    assert c.detail == "Cannot connect to the Docker daemon at unix:///var/run/docker.sock."
    assert "systemctl start docker" in c.fix
    assert doctor.check_engine(None).detail == "not reachable"


def test_engine_ok_shows_version_and_api():
    assert doctor.check_engine(engine_json()) == doctor.Check("engine", "ok", "Docker 27.3.1 (API 1.47)")


@pytest.mark.parametrize(
    ("text", "status", "detail"),
    [
        (None, "fail", "docker compose (v2) not found"),
        ("Docker Compose version v2.20.2", "fail", "Compose 2.20.2 is older than 2.24.0"),
        ("Docker Compose version v2.24.0", "ok", "Compose 2.24.0"),
        ('{"version":"2.29.7"}', "ok", "Compose 2.29.7"),
        ("Docker Compose version v3.0.0", "ok", "Compose 3.0.0"),
    ],
)
def test_check_compose(text, status, detail):
    c = doctor.check_compose(text)
    assert (c.status, c.detail) == (status, detail)
    assert bool(c.fix) == (status == "fail")


def test_buildkit_off_fails_even_on_a_new_engine():
    c = doctor.check_buildkit(engine_json(), {"DOCKER_BUILDKIT": "0"})
    assert c.status == "fail" and "DOCKER_BUILDKIT=0" in c.detail
    assert c.fix == "unset DOCKER_BUILDKIT"


@pytest.mark.parametrize(
    ("version_json", "environ", "status"),
    [
        (engine_json(), {}, "ok"),
        (engine_json(), {"DOCKER_BUILDKIT": "1"}, "ok"),
        (engine_json("20.10.24"), {}, "warn"),
        (None, {}, "warn"),
    ],
)
def test_check_buildkit(version_json, environ, status):
    assert doctor.check_buildkit(version_json, environ).status == status


PUBLISHED = [
    Port("api", "127.0.0.1", 8000, 8000),
    Port("db", "127.0.0.1", 5432, 5432),
    Port("caddy", "", 443, 443),
]


def test_check_ports_names_a_taken_port_its_service_and_holder():
    probed = []

    def is_free(port, host):
        probed.append((port, host))
        return port != 5432

    checks = doctor.check_ports(PUBLISHED, ours={8000}, is_free=is_free, holder=lambda port: "pid 4242 (postgres)")
    by_name = {c.name: c for c in checks}
    assert [c.name for c in checks] == ["port 8000", "port 5432", "port 443"]
    assert by_name["port 5432"].status == "fail"
    assert by_name["port 5432"].detail == "127.0.0.1:5432 for db: taken by pid 4242 (postgres)"
    assert by_name["port 5432"].fix
    assert by_name["port 443"] == doctor.Check("port 443", "ok", "0.0.0.0:443 for caddy: free")
    # the port our own stack holds is fine, and is not even probed
    assert by_name["port 8000"] == doctor.Check("port 8000", "ok", "127.0.0.1:8000 for api: in use by this stack")
    assert probed == [(5432, "127.0.0.1"), (443, "")]


def test_check_ports_without_a_known_holder():
    (c,) = doctor.check_ports(PUBLISHED[1:2], ours=set(), is_free=lambda p, h: False, holder=lambda p: None)
    assert c.status == "fail" and c.detail == "127.0.0.1:5432 for db: taken"


@pytest.mark.parametrize(
    ("free", "status", "detail"),
    [
        (None, "warn", "cannot read free space of /var/lib/docker (remote engine?)"),
        (GiB // 2, "fail", "0.5 GiB free on /var/lib/docker"),
        (3 * GiB, "warn", "3.0 GiB free on /var/lib/docker"),
        (5 * GiB, "ok", "5 GiB free on /var/lib/docker"),
        (120 * GiB, "ok", "120 GiB free on /var/lib/docker"),
    ],
)
def test_check_disk(free, status, detail):
    c = doctor.check_disk(free, "/var/lib/docker")
    assert (c.status, c.detail) == (status, detail)
    assert ("docker system prune" in c.fix) == (status in ("warn", "fail") and free is not None)
