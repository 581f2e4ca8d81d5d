"""stack.status: the status table and the app's URL."""

from __future__ import annotations

import io

from stackyard.engine.state import Container, Port, parse_ps
from stackyard.session import Session
from stackyard.stack import status
from tests.unit.fakes import PS_JSON_LINES, FakeRunner, real_project, tmp_env

API = Container("sy-api-1", "api", "running", "healthy", 0, (Port("api", "127.0.0.1", 8000, 8000),))
DB = Container("sy-db-1", "db", "running", "healthy", 0, (Port("db", "127.0.0.1", 5432, 5432),))
FLOWER = Container("sy-flower-1", "flower", "running", "", 0, (Port("flower", "0.0.0.0", 5555, 5555),))
MIGRATE = Container("sy-migrate-1", "migrate", "exited", "", 0, ())


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
    status.print_status(s, parse_ps(PS_JSON_LINES))
    lines = s.out.getvalue().splitlines()
    assert lines[0].split() == ["SERVICE", "STATE", "HEALTH", "PUBLISHED"]
    assert lines[1].split() == ["api", "running", "healthy", "http://127.0.0.1:8000"]
    assert lines[-1] == "dev is up: http://127.0.0.1:8000  (health: http://127.0.0.1:8000/health)"


def test_print_status_of_a_stopped_stack_says_how_to_start(tmp_path):
    s = session(tmp_path, name="qa", project="demo-qa")
    status.print_status(s, [])
    assert s.out.getvalue() == "no containers in project demo-qa (qa); start it with `inv up --env qa`\n"
