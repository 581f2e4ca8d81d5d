"""Roles: detected from a rendered compose config, each with its reason, and what
[tool.stackyard.roles] states laid over them. Pure: config dicts in, Roles out."""

from __future__ import annotations

import dataclasses
import json
import pathlib

import pytest

from stackyard import config
from stackyard.config import Database, Proxy, Roles, Web
from stackyard.engine import roles
from stackyard.errors import ConfigError
from tests.unit.fakes import ROOT

HERE = pathlib.Path(__file__).parent
# `compose config --format json` of prod, trimmed to what detection reads.
REFERENCE = json.loads((HERE / "reference-prod-config.json").read_text())
OTHER = json.loads((HERE / "otherstack-prod-config.json").read_text())


def test_the_reference_stack_is_detected_with_a_reason_for_each_role():
    found, why = roles.detect(REFERENCE)
    assert found == Roles(
        Web("api", 8000, "/health"),
        Proxy("caddy", "caddy"),
        Database("db", "postgres"),
        "migrate",
        ("listener", "worker"),
        ("caddy", "migrate"),
    )
    assert why["proxy"] == "caddy: its image names caddy"
    assert why["web"].startswith("api: the proxy caddy depends on it, with a healthcheck and HTTP port 8000")
    assert why["migrate"].startswith("migrate: a one-shot (restart: no) that ")
    assert why["workers"] == "listener, worker: long-running, publish no port, depend on db, redis"


def test_a_differently_named_stack_is_detected_too():
    found, why = roles.detect(OTHER)
    assert found == Roles(
        Web("web", 8080, "/healthz"),
        Proxy("proxy", "nginx"),  # built from a distribution image: its healthcheck says nginx
        Database("pg", "postgres"),
        "setup",
        ("jobs",),
        ("proxy", "setup"),
    )
    assert why["proxy"] == "proxy: its healthcheck or command names nginx"
    assert "(health path /healthz, from its healthcheck)" in why["web"]


def test_without_a_proxy_the_web_service_is_the_one_with_a_healthcheck_and_a_port():
    services = {
        "app": {"ports": [{"target": 5000, "published": "5000"}], "healthcheck": {"test": ["CMD", "true"]}},
        "mq": {"image": "rabbitmq:4"},
        "sql": {"image": "mysql:8"},
    }
    found, why = roles.detect({"services": services})
    assert found.web == Web("app", 5000, None) and found.proxy is None
    assert found.database == Database("sql", "mysql")
    assert set(why) == {"web", "database"}


def test_nothing_to_detect_gives_no_roles():
    assert roles.detect({"services": {"x": {"image": "busybox"}}}) == (Roles(), {})


def test_what_the_roles_state_wins_and_the_rest_is_detected():
    stated = {"web": {"port": 9000}, "workers": ["jobs"], "database": {"service": "cache", "kind": "postgres"}}
    found = roles.resolve(stated, OTHER)
    assert found.web == Web("web", 9000, None)  # the healthcheck's path is only proposed (`inv init`)
    assert found.database == Database("cache", "postgres")
    assert (found.proxy, found.migrate, found.workers) == (Proxy("proxy", "nginx"), "setup", ("jobs",))


def test_a_stated_proxy_missing_from_an_environment_is_no_proxy_there():
    dev = {"services": {n: s for n, s in OTHER["services"].items() if n != "proxy"}}
    assert roles.resolve({"proxy": {"service": "proxy", "kind": "nginx"}}, dev).proxy is None


def test_a_stated_service_the_config_lacks_is_an_error_listing_the_services():
    with pytest.raises(ConfigError) as info:
        roles.resolve({"migrate": "migrations"}, OTHER)
    assert str(info.value).startswith("pyproject.toml: [tool.stackyard.roles] migrate names 'migrations', which is not")
    assert info.value.hint == "services: cache, jobs, pg, proxy, setup, web"


def test_a_proxy_of_unknown_kind_must_say_its_kind():
    services = {"edge": {"image": "haproxy:3"}}
    with pytest.raises(ConfigError, match="kind of proxy 'edge' is not detected") as info:
        roles.resolve({"proxy": {"service": "edge"}}, {"services": services})
    assert "caddy, nginx, traefik" in info.value.hint


def test_the_reference_project_states_the_roles_detection_finds_in_prod():
    project = config.load(ROOT)
    detected, _ = roles.detect(REFERENCE)
    assert roles.resolve(project.roles, REFERENCE) == dataclasses.replace(
        detected, web=Web("api", 8000), workers=("worker", "listener")
    )


def test_the_health_path_is_the_stated_one_or_the_environments():
    assert roles.resolve({}, OTHER).web == Web("web", 8080, None)
    assert roles.resolve({"web": {"health_path": "/up"}}, OTHER).web == Web("web", 8080, "/up")


@pytest.mark.parametrize(
    ("table", "message", "hint"),
    [
        ({"webb": {}}, "[tool.stackyard.roles] unknown key 'webb'", "did you mean 'web'?"),
        ({"web": {"servce": "x"}}, "[tool.stackyard.roles.web] unknown key 'servce'", "did you mean 'service'?"),
        ({"web": {"port": "80"}}, "[tool.stackyard.roles.web] port must be a integer, not string", ""),
        ({"web": {"port": 70000}}, "[tool.stackyard.roles.web] port 70000 is not a port number", "e.g. port = 8000"),
        ({"proxy": {"kind": "ngnix"}}, "[tool.stackyard.roles.proxy] unknown kind 'ngnix'", "did you mean 'nginx'?"),
        ({"database": {"kind": "oracle"}}, "[tool.stackyard.roles.database] unknown kind 'oracle'", "known: "),
        ({"workers": "jobs"}, "[tool.stackyard.roles] workers must be a list, not string", ""),
    ],
)
def test_the_roles_table_is_checked_with_did_you_mean(tmp_path, table, message, hint):
    with pytest.raises(ConfigError) as info:
        config.build(tmp_path, {"roles": table})
    assert str(info.value).startswith("pyproject.toml: " + message)
    assert (info.value.hint or "").startswith(hint)


def test_a_worker_scaled_to_zero_is_no_worker_of_that_environment():
    # `single`: an all-in-one container runs the worker and the listener; their services stay, with no container
    config_ = {"services": {"w": {"deploy": {"replicas": 0}}, "l": {"scale": 0}, "jobs": {}}}
    assert roles.resolve({"workers": ["w", "l", "jobs"]}, config_).workers == ("jobs",)
