"""diagnose: a failed compose call becomes one line a person can act on."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stackyard.engine import diagnose
from stackyard.engine.state import Port
from stackyard.errors import CommandError, ConfigError

UP = ("docker", "compose", "--project-name", "sy", "up", "--detach", "--wait")
PORTS = [Port("api", "127.0.0.1", 8000, 8000), Port("db", "0.0.0.0", 5432, 5432)]
SERVICES = ["api", "db", "redis"]


def explain(stderr: str, **kwargs):
    return diagnose.explain(CommandError(UP, 1, stderr), **kwargs)


def test_engine_down_names_the_socket():
    err = explain("Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?\n")
    assert err is not None
    assert err.message == "Docker engine not reachable at unix:///var/run/docker.sock"
    assert "systemctl start docker" in err.hint and "DOCKER_HOST" in err.hint


# The docker CLI's words when the ssh link to an ssh:// engine is cut (sshd stopped, then a new connection).
SSH_CUT = (
    'error during connect: Get "http://docker.example.com/v1.45/containers/json": command [ssh -o '
    "ConnectTimeout=30 -T -l deploy -p 2222 -- 127.0.0.1 docker system dial-stdio] has exited with exit status "
    "255, make sure the URL is valid, and Docker 18.09 or later is installed on the remote host: "
    "stderr=kex_exchange_identification: read: Connection reset by peer\r\nConnection reset by 127.0.0.1 port 2222\r\n"
)


def test_a_cut_ssh_link_names_the_host_and_sshd_not_systemctl():
    err = explain(SSH_CUT)
    assert err is not None
    assert err.message == (
        "cannot reach ssh://deploy@127.0.0.1:2222: the connection to 127.0.0.1 port 2222 closed before ssh could log in"
    )
    assert "is sshd running there?" in err.hint and "ssh -p 2222 deploy@127.0.0.1 true" in err.hint
    assert "systemctl" not in err.hint


def test_compose_plugin_missing():
    err = explain("docker: 'compose' is not a docker command.\nSee 'docker --help'\n")
    assert err is not None and err.message == "Docker Compose v2 is not installed"
    assert "docker-compose-plugin" in str(err)


def test_compose_too_old_for_a_flag():
    err = explain("unknown flag: --wait\n")
    assert err is not None and "too old" in err.message and "2.24.0" in str(err)


def test_port_taken_by_docker_names_port_address_and_service():
    err = explain(
        "Error response from daemon: driver failed programming external connectivity: "
        "Bind for 127.0.0.1:8000 failed: port is already allocated",
        ports=PORTS,
    )
    assert err is not None
    assert "host port 8000 on 127.0.0.1" in err.message
    assert "api" in err.message and "db" not in err.message


def test_port_taken_by_another_process_names_port_and_service():
    err = explain("Error starting userland proxy: listen tcp4 0.0.0.0:5432: bind: address already in use", ports=PORTS)
    assert err is not None
    assert "host port 5432 on 0.0.0.0" in err.message
    assert "db" in err.message and "api" not in err.message


def test_port_taken_with_holder_and_the_variable_to_change():
    err = explain(
        "Bind for 127.0.0.1:8000 failed: port is already allocated",
        ports=PORTS,
        holder=lambda port: f"pid 4242 (python3) on {port}",
        port_vars={("api", 8000): "API_PORT"},
    )
    assert err is not None
    assert "pid 4242 (python3) on 8000" in err.message
    assert "API_PORT" in err.hint


def test_port_taken_matches_the_published_port_not_the_container_port():
    # api publishes 18000 (container 8000); web's container listens on 18000, published on 8080.
    ports = [Port("api", "127.0.0.1", 18000, 8000), Port("web", "127.0.0.1", 8080, 18000)]
    err = explain(
        "Bind for 127.0.0.1:18000 failed: port is already allocated",
        ports=ports,
        port_vars={("api", 8000): "API_PORT", ("web", 18000): "WEB_PORT"},
    )
    assert err is not None
    assert "for service api " in err.message and "web" not in err.message
    assert err.hint.startswith("stop what holds it, or set API_PORT to a free port")


def test_port_taken_without_the_config_still_names_the_port():
    err = explain("Bind for 0.0.0.0:443 failed: port is already allocated")
    assert err is not None and "host port 443" in err.message


def test_no_such_service_lists_the_services():
    err = explain("no such service: apii", services=SERVICES)
    assert err is not None
    assert err.message == "unknown service 'apii'"
    assert err.hint == "services: api, db, redis"


def test_service_not_running():
    err = explain('service "api" is not running')
    assert err is not None and err.message == "service api is not running"
    assert "inv up" in err.hint


def test_yaml_error_points_at_the_broken_file_and_line(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "compose").mkdir()
    good = tmp_path / "compose" / "compose.yaml"
    good.write_text("services:\n  api:\n    image: nginx\n")
    bad = tmp_path / "compose" / "compose.dev.yaml"
    bad.write_text("services:\n  api:\n\timage: x\n")
    err = explain("yaml: line 3: found character that cannot start any token", files=[good, bad])
    assert isinstance(err, ConfigError)
    assert err.message.startswith("compose/compose.dev.yaml:3: ")
    assert "cannot start any token" in err.message


def test_yaml_error_for_a_missing_compose_file(tmp_path):
    missing = tmp_path / "compose.nope.yaml"
    err = explain("yaml: line 1: did not find expected key", files=[missing])
    assert isinstance(err, ConfigError) and "compose file not found" in err.message
    assert str(missing) in err.message  # outside the current directory: the full path


def test_yaml_error_when_every_file_parses_quotes_compose(tmp_path):
    ok = tmp_path / "compose.yaml"
    ok.write_text("services: {}\n")
    err = explain("yaml: line 7: mapping values are not allowed in this context", files=[ok])
    assert isinstance(err, ConfigError)
    assert "yaml: line 7: mapping values are not allowed" in err.message


@pytest.mark.parametrize("stderr", ["", "something odd happened\n", "exit status 17"])
def test_unknown_failure_is_not_explained(stderr):
    assert explain(stderr, ports=PORTS, services=SERVICES) is None


def test_failed_containers():
    stderr = (
        " Container sy-db-1  Healthy\n"
        "dependency failed to start: container sy-api-1 is unhealthy\n"
        'service "migrate" didn\'t complete successfully: container sy-migrate-1 exited (1)\n'
    )
    assert diagnose.failed_containers(stderr) == ["sy-api-1", "sy-migrate-1"]
    assert diagnose.failed_containers("all good") == []


@pytest.mark.parametrize(
    ("text", "version"),
    [
        ("Docker Compose version v2.29.1", (2, 29, 1)),
        ('{"version":"2.24.0-desktop.1"}', (2, 24, 0)),
        ("Docker Compose version 2.40.3+ds1-0ubuntu1", (2, 40, 3)),
        ("", (0, 0, 0)),
        ("v2", (0, 0, 0)),
    ],
)
def test_parse_version(text, version):
    assert diagnose.parse_version(text) == version


@given(st.tuples(*[st.integers(0, 999)] * 3), st.text(alphabet="abc -_+:"), st.text(alphabet="abc -_+"))
def test_parse_version_finds_the_first_triple(v, before, after):
    assert diagnose.parse_version(f"{before}v{v[0]}.{v[1]}.{v[2]}{after}") == v


MISSING = (
    "error while interpolating services.db.environment.POSTGRES_PASSWORD: required variable POSTGRES_PASSWORD "
    "is missing a value: set POSTGRES_PASSWORD (see .env.example)\n"
)


def test_a_required_variable_not_set_names_it_and_env_init():
    err = explain(MISSING)
    assert isinstance(err, diagnose.MissingVariable)
    assert err.variable == "POSTGRES_PASSWORD"
    assert err.message == "required variable POSTGRES_PASSWORD is not set"
    assert "`inv env.init` (with your --env)" in err.hint and "set POSTGRES_PASSWORD" in err.hint


def test_a_required_variable_not_set_for_a_named_environment():
    err = diagnose.MissingVariable("REDIS_PASSWORD", "prod")
    assert str(err) == (
        "required variable REDIS_PASSWORD is not set for prod: `inv env.init --env prod` writes env/prod.local.env "
        "(secrets generated, required values to fill); or set REDIS_PASSWORD in an env file or the shell"
    )
