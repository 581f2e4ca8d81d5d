"""Reading Compose's JSON: ps (JSON Lines or, before 2.21, an array) and config."""

from __future__ import annotations

import json

import pytest

from stackyard.engine import state
from stackyard.engine.state import Container, Port, parse_engine
from stackyard.errors import StackyardError
from tests.unit.fakes import CONFIG_JSON, PS_JSON_LINES


def test_parse_ps_json_lines_sorted_by_service():
    containers = state.parse_ps(PS_JSON_LINES)
    assert [c.service for c in containers] == ["api", "db", "migrate"]
    api = containers[0]
    assert api == Container(
        "stackyard-dev-api-1", "api", "running", "healthy", 0, (Port("api", "127.0.0.1", 8000, 8000, "tcp"),)
    )
    migrate = containers[2]
    assert (migrate.state, migrate.health, migrate.exit_code, migrate.ports) == ("exited", "", 0, ())


def test_parse_ps_json_array_of_older_compose_reads_the_same():
    rows = [json.loads(line) for line in PS_JSON_LINES.splitlines()]
    assert state.parse_ps(json.dumps(rows, indent=2)) == state.parse_ps(PS_JSON_LINES)


def test_parse_ps_nothing_running():
    assert state.parse_ps("") == []
    assert state.parse_ps("\n") == []
    assert state.parse_ps("[]") == []


def test_parse_ps_garbage_is_an_error():
    with pytest.raises(StackyardError, match="could not read `docker compose ps` JSON"):
        state.parse_ps("{not json")


def caddy_row(publishers) -> str:
    return json.dumps(
        {
            "Name": "sp-caddy-1",
            "Service": "caddy",
            "State": "running",
            "Health": None,
            "ExitCode": None,
            "Publishers": publishers,
        }
    )


def test_one_port_bound_on_ipv4_and_ipv6_is_listed_once():
    # What Compose prints for "0.0.0.0:443:443" on a dual-stack host.
    row = caddy_row(
        [
            {"URL": "0.0.0.0", "TargetPort": 443, "PublishedPort": 443, "Protocol": "tcp"},
            {"URL": "::", "TargetPort": 443, "PublishedPort": 443, "Protocol": "tcp"},
            {"URL": "0.0.0.0", "TargetPort": 80, "PublishedPort": 80, "Protocol": "tcp"},
            {"URL": "::", "TargetPort": 80, "PublishedPort": 80, "Protocol": "tcp"},
        ]
    )
    (caddy,) = state.parse_ps(row)
    assert [p.url() for p in caddy.ports] == ["https://127.0.0.1:443", "http://127.0.0.1:80"]


def test_exposed_but_unpublished_ports_and_nulls_are_skipped():
    row = caddy_row([{"URL": "", "TargetPort": 2019, "PublishedPort": 0, "Protocol": "tcp"}])
    (caddy,) = state.parse_ps(row)
    assert caddy.ports == ()
    assert caddy.health == "" and caddy.exit_code == 0


def test_same_port_number_on_tcp_and_udp_is_kept_twice():
    row = caddy_row(
        [
            {"URL": "0.0.0.0", "TargetPort": 443, "PublishedPort": 443, "Protocol": "tcp"},
            {"URL": "0.0.0.0", "TargetPort": 443, "PublishedPort": 443, "Protocol": "udp"},
        ]
    )
    (caddy,) = state.parse_ps(row)
    assert [p.protocol for p in caddy.ports] == ["tcp", "udp"]


@pytest.mark.parametrize(
    ("port", "url"),
    [
        (Port("api", "127.0.0.1", 8000, 8000), "http://127.0.0.1:8000"),
        (Port("api", "0.0.0.0", 18000, 8000), "http://127.0.0.1:18000"),
        (Port("api", "", 8080, 8080), "http://127.0.0.1:8080"),
        (Port("api", "192.168.1.5", 8000, 8000), "http://192.168.1.5:8000"),
        (Port("caddy", "::", 443, 443), "https://127.0.0.1:443"),
        (Port("caddy", "0.0.0.0", 8443, 8443), "https://127.0.0.1:8443"),
        (Port("db", "127.0.0.1", 5432, 5432), "127.0.0.1:5432/tcp"),
        (Port("dns", "0.0.0.0", 5353, 53, "udp"), "127.0.0.1:5353/udp"),
    ],
)
def test_port_url(port, url):
    assert port.url() == url


@pytest.mark.parametrize(
    ("st", "health", "code", "failed"),
    [
        ("running", "healthy", 0, False),
        ("running", "", 0, False),
        ("running", "starting", 0, False),
        ("running", "unhealthy", 0, True),
        ("restarting", "", 1, True),
        ("dead", "", 0, True),
        ("exited", "", 0, False),
        ("exited", "", 1, True),
        ("created", "", 0, False),
    ],
)
def test_container_failed(st, health, code, failed):
    assert Container("c", "svc", st, health, code, ()).failed is failed


def test_published_ports_from_config():
    cfg = {
        "services": {
            "web": {
                "ports": [
                    {"target": 80, "published": "8080", "host_ip": "127.0.0.1", "protocol": "tcp"},
                    {"target": 81, "published": "9000-9005"},  # a range: skipped
                    {"target": 82},  # not published: skipped
                    {"target": 83, "published": ""},  # not published either
                ]
            },
            "db": {"ports": [{"target": 5432, "published": 5432}]},
            "worker": {},
            "cache": {"ports": None},
        }
    }
    assert state.published_ports(cfg) == [
        Port("db", "", 5432, 5432, "tcp"),
        Port("web", "127.0.0.1", 8080, 80, "tcp"),
    ]


def test_parse_config_and_services():
    cfg = state.parse_config(CONFIG_JSON)
    assert state.services(cfg) == ["api", "db", "listener", "migrate", "redis", "worker"]
    assert [p.published for p in state.published_ports(cfg)] == [8000, 5432]
    assert state.parse_config("") == {"services": {}}
    with pytest.raises(StackyardError, match="could not read `docker compose config` JSON"):
        state.parse_config("services: {}")


def test_parse_engine_reads_the_engine_api_list():

    rows = [
        {
            "Names": ["/p-api-1"],
            "State": "running",
            "Status": "Up 3 minutes (healthy)",
            "Labels": {"com.docker.compose.service": "api"},
            "Ports": [
                {"IP": "127.0.0.1", "PrivatePort": 8000, "PublicPort": 8001, "Type": "tcp"},
                {"IP": "::1", "PrivatePort": 8000, "PublicPort": 8001, "Type": "tcp"},
                {"PrivatePort": 9000, "Type": "tcp"},
            ],
        },
        {
            "Names": ["/p-migrate-1"],
            "State": "exited",
            "Status": "Exited (3) 2 seconds ago",
            "Labels": {"com.docker.compose.service": "migrate"},
            "Ports": [],
        },
        {
            "Names": ["/p-db-1"],
            "State": "running",
            "Status": "Up 1 second (health: starting)",
            "Labels": {"com.docker.compose.service": "db"},
            "Ports": None,
        },
    ]
    api, db, migrate = parse_engine(rows)
    assert (api.name, api.service, api.health, [p.url() for p in api.ports]) == (
        "p-api-1",
        "api",
        "healthy",
        ["http://127.0.0.1:8001"],
    )
    assert (db.health, db.failed) == ("starting", False)
    assert (migrate.exit_code, migrate.failed, migrate.health) == (3, True, "")


def test_port_url_brackets_an_ipv6_host():

    assert Port("api", "::1", 8000, 8000).url() == "http://[::1]:8000"


@pytest.mark.parametrize(
    ("port", "shown", "everywhere"),
    [
        (Port("flower", "0.0.0.0", 5555, 5555), "http://127.0.0.1:5555 (all interfaces)", True),
        (Port("caddy", "::", 443, 443), "https://127.0.0.1:443 (all interfaces)", True),
        (Port("caddy", "", 80, 80), "http://127.0.0.1:80 (all interfaces)", True),
        (Port("api", "127.0.0.1", 8000, 8000), "http://127.0.0.1:8000", False),
        (Port("db", "192.168.1.5", 5432, 5432), "192.168.1.5:5432/tcp", False),
    ],
)
def test_an_all_interfaces_binding_says_so_and_keeps_a_clickable_url(port, shown, everywhere):
    assert port.shown() == shown
    assert port.all_interfaces is everywhere
    assert port.url() == shown.removesuffix(" (all interfaces)")


DEPENDS_ON = "migrate:service_completed_successfully:false,db:service_healthy:false,redis:service_healthy:false"


def test_parse_ps_reads_what_a_container_waits_for_from_compose_labels():
    # `ps --format json` joins the labels with commas, and the depends_on value has commas too.
    labels = f"com.docker.compose.depends_on={DEPENDS_ON},com.docker.compose.project=sy,com.docker.compose.service=api"
    row = json.dumps({"Name": "sy-api-1", "Service": "api", "State": "running", "Labels": labels})
    (api,) = state.parse_ps(row)
    assert api.waits_for == ("migrate",)
    (db,) = state.parse_ps(json.dumps({"Name": "sy-db-1", "Service": "db", "Labels": "com.docker.compose.depends_on="}))
    assert db.waits_for == ()


def test_parse_engine_reads_what_a_container_waits_for():
    row = {
        "Names": ["/sy-api-1"],
        "State": "running",
        "Status": "Up 3 minutes (healthy)",
        "Labels": {"com.docker.compose.service": "api", "com.docker.compose.depends_on": DEPENDS_ON},
    }
    assert parse_engine([row])[0].waits_for == ("migrate",)
    assert parse_engine([{**row, "Labels": {"com.docker.compose.service": "api"}}])[0].waits_for == ()


REFERENCE_CONFIG = {
    "services": {
        "migrate": {
            "image": "app:dev",
            "build": {"context": "."},
            "depends_on": {"db": {"condition": "service_healthy"}},
        },
        "api": {
            "image": "app:dev",
            "depends_on": {
                "migrate": {"condition": "service_completed_successfully", "required": True},
                "db": {"condition": "service_healthy"},
            },
        },
        "worker": {"image": "app:dev", "depends_on": {"migrate": {"condition": "service_completed_successfully"}}},
        "db": {"image": "postgres:17"},
        "seed": {"image": "app:dev", "build": {"context": "."}},
    }
}


def test_one_shot_services_are_those_others_wait_for_to_complete():
    assert state.one_shot_services(REFERENCE_CONFIG) == {"migrate"}
    assert state.one_shot_services({"services": {"a": {"depends_on": None}}}) == set()
    assert state.one_shot_services({}) == set()


@pytest.mark.parametrize(
    ("service", "builders"),
    [
        ("migrate", ["migrate"]),  # it has the build
        ("api", ["migrate", "seed"]),  # its image is built by others
        ("seed", ["seed"]),
        ("db", []),  # pulled
        ("nope", []),
    ],
)
def test_builders_of_a_service_image(service, builders):
    assert state.builders(REFERENCE_CONFIG, service) == builders
