"""doctor's checks are pure: versions, environment and port probes come in as arguments."""

from __future__ import annotations

import io
import json
import shutil

import pytest

from stackyard.core.runner import Result
from stackyard.engine.state import Port
from stackyard.session import Session
from stackyard.stack import doctor
from tests.unit.fakes import ROOT, FakeRunner, real_project

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


@pytest.mark.parametrize(
    ("text", "actions", "status", "detail"),
    [
        ("2.40.3", {"sync", "sync+restart", "rebuild"}, "ok", "Compose 2.40.3: every watch action (`inv dev --watch`)"),
        ("2.32.0", {"restart"}, "ok", "Compose 2.32.0: every watch action (`inv dev --watch`)"),
        (
            "2.29.7",
            {"sync", "sync+restart", "rebuild"},
            "warn",
            "Compose 2.29.7 watches, without the action(s) restart (2.32), sync+exec (2.32)",
        ),
        (
            "2.29.7",
            {"sync", "restart"},
            "warn",
            "Compose 2.29.7 lacks the watch action(s) restart (2.32) the rules use",
        ),
        (
            "2.22.1",
            set(),
            "warn",
            "Compose 2.22.1 watches, without the action(s) restart (2.32), sync+exec (2.32), sync+restart (2.23)",
        ),
        ("Docker Compose version v2.21.0", set(), "warn", "Compose 2.21.0 has no watch: `inv dev --watch` cannot run"),
    ],
)
def test_check_watch_says_what_this_compose_lacks_and_the_fix(text, actions, status, detail):
    c = doctor.check_watch(text, actions)
    assert (c.name, c.status, c.detail) == ("watch", status, detail)
    assert c.fix == ("upgrade docker-compose-plugin to 2.32 or newer" if status == "warn" else "")


def doctor_session(env: str, tmp_path, monkeypatch, cfg: dict) -> tuple[Session, FakeRunner]:
    runner = FakeRunner(
        {
            "docker version": Result(0, engine_json()),
            "compose version": Result(0, '{"version":"2.29.7"}'),
            " config --format json": Result(0, json.dumps(cfg)),
            "docker info": Result(0, f"{tmp_path}\n"),
        }
    )
    monkeypatch.setattr(shutil, "which", lambda name: "/usr/bin/" + name)
    project = real_project()
    return Session(project, project.environment(env), runner, out=io.StringIO()), runner


RULES = {"services": {"api": {"develop": {"watch": [{"action": "restart", "path": "/src/app"}]}}}}


def test_doctor_on_dev_checks_watch_against_the_rules_of_its_override(tmp_path, monkeypatch):
    s, runner = doctor_session("dev", tmp_path, monkeypatch, RULES)
    watch_checks = [c for c in doctor.gather(s) if c.name == "watch"]
    assert [(c.status, c.detail) for c in watch_checks] == [
        ("warn", "Compose 2.29.7 lacks the watch action(s) restart (2.32) the rules use")
    ]
    override = str(ROOT / "compose" / "compose.dev.watch.yaml")
    configs = [c.argv for c in runner.commands if c.argv[-3:] == ("config", "--format", "json")]
    assert [override in argv for argv in configs] == [False, True]  # the env's own, then with the override


def test_doctor_on_a_protected_environment_has_no_watch_check(tmp_path, monkeypatch):
    s, _ = doctor_session("prod", tmp_path, monkeypatch, RULES)
    assert "watch" not in [c.name for c in doctor.gather(s)]
