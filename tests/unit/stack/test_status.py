"""stack.status: the status table and the app's URL."""

from __future__ import annotations

import io
import json

from stackyard.core.runner import Result
from stackyard.engine.state import Container, Port, parse_ps
from stackyard.session import Session
from stackyard.stack import status
from tests.unit.fakes import PS_JSON_LINES, FakeRunner, real_project, tmp_env

API = Container("sy-api-1", "api", "running", "healthy", 0, (Port("api", "127.0.0.1", 8000, 8000),))
DB = Container("sy-db-1", "db", "running", "healthy", 0, (Port("db", "127.0.0.1", 5432, 5432),))
FLOWER = Container("sy-flower-1", "flower", "running", "", 0, (Port("flower", "0.0.0.0", 5555, 5555),))
MIGRATE = Container("sy-migrate-1", "migrate", "exited", "", 0, ())
# api, db and migrate (a one-shot: api waits for it to complete), as PS_JSON_LINES has them.
CONFIG = {
    "services": {
        "api": {"depends_on": {"migrate": {"condition": "service_completed_successfully"}}},
        "db": {},
        "migrate": {},
    }
}


def session(tmp_path, runner=None, **env_changes) -> Session:
    return Session(real_project(), tmp_env(tmp_path, **env_changes), runner or FakeRunner(), out=io.StringIO())


def test_status_rows():
    assert status.status_rows([API, MIGRATE]) == [
        ["api", "running", "healthy", "http://127.0.0.1:8000"],
        ["migrate", "exited (0)", "-", "-"],
    ]


def test_entry_url_configured_wins_without_its_slash(tmp_path):
    s = session(tmp_path, url="https://shop.example.org/", entry="api")
    assert status.entry_url(s, [API]) == "https://shop.example.org"


def test_entry_url_of_the_entry_service(tmp_path):
    assert status.entry_url(session(tmp_path, entry="api"), [FLOWER, API]) == "http://127.0.0.1:8000"


def test_entry_url_first_http_port_otherwise(tmp_path):
    assert status.entry_url(session(tmp_path), [DB, FLOWER, API]) == "http://127.0.0.1:5555"
    # an entry service without an HTTP port: fall back to the others
    assert status.entry_url(session(tmp_path, entry="db"), [DB, API]) == "http://127.0.0.1:8000"
    assert status.entry_url(session(tmp_path), [DB, MIGRATE]) is None


def test_print_status_shows_table_and_url(tmp_path):
    s = session(tmp_path, entry="api")
    status.print_status(s, parse_ps(PS_JSON_LINES), CONFIG)
    lines = s.out.getvalue().splitlines()
    assert lines[0].split() == ["SERVICE", "STATE", "HEALTH", "PUBLISHED"]
    assert lines[1].split() == ["api", "running", "healthy", "http://127.0.0.1:8000"]
    assert lines[-1] == "dev is up: http://127.0.0.1:8000  (health: http://127.0.0.1:8000/health)"


def test_print_status_of_a_stopped_stack_says_how_to_start(tmp_path):
    s = session(tmp_path, name="qa", project="demo-qa")
    status.print_status(s, [])
    assert s.out.getvalue() == "no containers in project demo-qa (qa); start it with `inv up --env qa`\n"


def test_status_rows_say_a_port_is_published_on_all_interfaces():
    assert status.status_rows([FLOWER]) == [["flower", "running", "-", "http://127.0.0.1:5555 (all interfaces)"]]


def test_a_failed_first_deploy_is_not_up_and_names_what_does_not_run(tmp_path):
    # prod after a first deploy whose migration failed: the rest created, never started.
    s = session(tmp_path, name="prod", project="demo-prod", url="https://localhost")
    containers = [
        Container("p-api-1", "api", "created", "", 0, (), waits_for=("migrate",)),
        Container("p-caddy-1", "caddy", "created", "", 0, ()),
        Container("p-db-1", "db", "running", "healthy", 0, ()),
        Container("p-migrate-1", "migrate", "exited", "", 1, ()),
    ]
    status.print_status(s, containers, None)
    last = s.out.getvalue().splitlines()[-1]
    assert last == (
        "prod is not up: api created, caddy created, migrate exited (1); `inv logs --env prod -s migrate` shows why"
    )
    assert "https://localhost" not in s.out.getvalue()


def test_up_needs_every_long_running_service_running_and_healthy():
    healthy = Container("p-api-1", "api", "running", "healthy", 0, ())
    assert status.problems([healthy, MIGRATE], CONFIG) == {"db": "no container"}
    assert status.problems([healthy, DB, MIGRATE], CONFIG) == {}
    starting = Container("p-api-1", "api", "running", "starting", 0, ())
    unhealthy = Container("p-api-1", "api", "running", "unhealthy", 0, ())
    stopped = Container("p-api-1", "api", "exited", "", 0, ())  # uvicorn exits 0 on SIGTERM
    assert status.problems([starting, DB, MIGRATE], CONFIG) == {"api": "starting"}
    assert status.problems([unhealthy, DB, MIGRATE], CONFIG) == {"api": "unhealthy"}
    assert status.problems([stopped, DB, MIGRATE], CONFIG) == {"api": "exited (0)"}
    # a service with no health check only needs to run
    assert status.problems([FLOWER], None) == {}


def test_a_one_shot_is_fine_done_or_not_yet_run_but_not_failed():
    api = Container("p-api-1", "api", "running", "healthy", 0, (), waits_for=("migrate",))
    for state, code, wrong in [
        ("exited", 0, None),
        ("created", 0, None),
        ("running", 0, None),
        ("exited", 3, "exited (3)"),
    ]:
        migrate = Container("p-migrate-1", "migrate", state, "", code, ())
        # known as a one-shot from the config, or from the label of what waits for it
        assert status.problems([api, migrate], CONFIG).get("migrate") == wrong
        assert status.problems([api, migrate], None).get("migrate") == wrong
    # without either, an exited service is one that does not run
    assert status.problems([Container("p-migrate-1", "migrate", "exited", "", 0, ())], None) == {
        "migrate": "exited (0)"
    }
    # a one-shot with no container at all is no problem
    assert status.problems([api, DB], CONFIG) == {}


def test_services_without_a_container_say_how_to_start_them(tmp_path):
    s = session(tmp_path)
    verdict = status.verdict(s, [DB], CONFIG)
    assert verdict == "dev is not up: api no container; `inv up` starts them"


def test_env_option_only_when_a_bare_command_would_pick_another_env(tmp_path, monkeypatch):
    assert status.env_option(session(tmp_path)) == ""
    assert status.env_option(session(tmp_path, name="prod")) == " --env prod"
    monkeypatch.setenv("STACKYARD_ENV", "prod")
    assert status.env_option(session(tmp_path, name="prod")) == ""
    assert status.env_option(session(tmp_path)) == " --env dev"


def test_ps_reads_the_config_beside_the_containers_and_judges_by_it(tmp_path):
    ps = PS_JSON_LINES.replace('"State":"running","Health":"healthy"', '"State":"created","Health":""', 1)
    runner = FakeRunner(
        {" ps --all --format json": Result(0, ps), " config --format json": Result(0, json.dumps(CONFIG))}
    )
    s = session(tmp_path, runner)
    status.ps(s)
    assert sorted(runner.subcommands()) == [("config", "--format", "json"), ("ps", "--all", "--format", "json")]
    assert s.out.getvalue().splitlines()[-1] == "dev is not up: api created; `inv logs -s api` shows why"


def test_ps_goes_by_the_containers_when_the_config_does_not_render(tmp_path):
    runner = FakeRunner(
        {" config --format json": Result(1, "", "required variable POSTGRES_PASSWORD is missing a value")}
    )
    s = session(tmp_path, runner)
    status.ps(s)
    # migrate is not known as a one-shot here: its exited container does not run
    assert s.out.getvalue().splitlines()[-1] == "dev is not up: migrate exited (0); `inv logs -s migrate` shows why"


def test_a_service_scaled_to_zero_is_expected_to_have_no_container():
    config = {"services": {"api": {}, "worker": {"deploy": {"replicas": 0}}, "listener": {"scale": 0}}}
    running = Container("sy-api-1", "api", "running", "", 0, ())
    assert status.problems([running], config) == {}
    assert status.problems([], config) == {"api": "no container"}
