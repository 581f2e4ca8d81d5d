"""engine/api.py with the real docker SDK, talking to a small stand-in engine on
a unix socket: the requests it makes, what it makes of the answers, and the
one-line error when no engine answers."""

from __future__ import annotations

import http.server
import json
import socketserver
import threading
import urllib.parse

import pytest

from stackyard.engine import api
from stackyard.errors import StackyardError

API_VERSION = "1.43"


class Engine:
    """Answers GET/POST/DELETE by path from `routes` ({"GET /containers/json": (200, body)}),
    and keeps the requests it saw."""

    def __init__(self, path: str, routes: dict[str, tuple[int, object]]):
        self.routes = {"GET /version": (200, {"ApiVersion": API_VERSION, "Version": "27.0.0"}), **routes}
        self.seen: list[str] = []
        engine = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def answer(self):
                length = int(self.headers.get("content-length") or 0)
                self.rfile.read(length)
                path = urllib.parse.unquote_plus(self.path)
                engine.seen.append(f"{self.command} {path}")
                route = path.split("?")[0].removeprefix(f"/v{API_VERSION}")
                status, body = engine.routes.get(f"{self.command} {route}", (404, {"message": "no such thing"}))
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_DELETE = answer

            def log_message(self, *args):
                pass

        class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
            daemon_threads = True

            def get_request(self):
                conn, _ = super().get_request()
                return conn, ("local", 0)

        self.server = Server(path, Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.01,), daemon=True)

    def __enter__(self) -> Engine:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def engine(tmp_path):
    path = tmp_path / "engine.sock"

    def start(routes: dict[str, tuple[int, object]]) -> tuple[Engine, object]:
        e = Engine(str(path), routes).__enter__()
        started.append(e)
        return e, api.client({"DOCKER_HOST": f"unix://{path}"})

    started: list[Engine] = []
    yield start
    for e in started:
        e.__exit__()


def test_no_engine_is_one_line_naming_where_it_was_looked_for(tmp_path):
    host = f"unix://{tmp_path}/nothing.sock"
    with pytest.raises(api.Unreachable) as err:
        api.client({"DOCKER_HOST": host})
    assert str(err.value) == (
        f"Docker engine not reachable at {host}: start it (e.g. `sudo systemctl start docker`) "
        "or point DOCKER_HOST at one; `inv doctor` checks it"
    )


def test_the_project_containers_in_one_request_filtered_by_compose_labels(engine):
    rows = [{"Id": "1", "Names": ["/p-api-1"], "State": "running", "Status": "Up (healthy)", "Labels": {}}]
    e, client = engine({"GET /containers/json": (200, rows)})
    assert api.containers(client, "p") == rows
    assert api.containers(client, "p", "api", running=True) == rows
    listed = [s for s in e.seen if "/containers/json" in s]
    assert len(listed) == 2  # no inspection per container
    assert "all=1" in listed[0] and "all=0" in listed[1]
    assert json.loads(listed[0].split("filters=")[1].split("&")[0]) == {
        "label": ["com.docker.compose.project=p", "com.docker.compose.oneoff=False"]
    }
    assert "com.docker.compose.service=api" in listed[1]
    assert api.name(rows[0]) == "p-api-1"


def test_a_containers_state_health_image_and_labels(engine):
    inspected = {
        "Id": "1",
        "Name": "/p-api-2",
        "State": {"Status": "running", "Health": {"Status": "starting"}},
        "Config": {"Image": "app:r2", "Labels": {"dev.stackyard.lock.who": "ann"}},
    }
    _, client = engine({"GET /containers/p-api-2/json": (200, inspected)})
    assert api.state(client, "p-api-2") == ("running", "starting")
    assert api.state(client, "gone") == ("gone", "")
    assert api.image_of(client, "p-api-2") == "app:r2"
    assert api.labels(client, "p-api-2") == {"dev.stackyard.lock.who": "ann"}
    assert api.labels(client, "gone") is None
    assert api.logs(client, "gone", 30) == ""


def test_creating_a_container_whose_name_is_taken_says_so(engine):
    taken = (409, {"message": 'Conflict. The container name "/p-deploy-lock" is already in use'})
    e, client = engine({"POST /containers/create": taken})
    assert api.create(client, "p-deploy-lock", "db:17", {"a": "b"}) is False
    assert [s for s in e.seen if s.startswith("POST")] == ["POST /v1.43/containers/create?name=p-deploy-lock"]


def test_creating_pulls_nothing_a_pull_is_its_own_request(engine):
    # Each change is its own call, so that the deploy can echo each one (deploy/engine_changes.py).
    e, client = engine(
        {
            "POST /containers/create": (201, {"Id": "abc", "Warnings": []}),
            "GET /containers/abc/json": (200, {"Id": "abc"}),
        }
    )
    assert api.create(client, "p-deploy-lock", "db:17", {"a": "b"}) is True
    assert [s for s in e.seen if "/images/" in s] == []
    e.routes["POST /images/create"] = (200, {"status": "Downloaded newer image for db:17"})
    e.routes["GET /images/db:17/json"] = (200, {"Id": "sha256:1", "RepoTags": ["db:17"]})
    api.pull(client, "db:17")
    assert any(s.startswith("POST /v1.43/images/create?tag=17&fromImage=db") for s in e.seen), e.seen


def test_images_by_repository_and_their_removal(engine):
    images = [
        {"Id": "sha256:1", "RepoTags": ["app:r1", "app:latest", "other:r1"]},
        {"Id": "sha256:2", "RepoTags": ["app:r2"]},
    ]
    in_use = (409, {"message": "image is being used by stopped container"})
    _, client = engine({"GET /images/json": (200, images), "DELETE /images/app:r1": in_use})
    assert api.tags(client, "app") == ["latest", "r1", "r2"]
    assert api.remove_image(client, "app:r1") is False
    assert api.image_exists(client, "app:r9") is False


def test_an_engine_that_refuses_is_one_line_with_its_reason(engine):
    _, client = engine({"GET /containers/json": (500, {"message": "disk full"})})
    with pytest.raises(StackyardError, match=r"^the Docker engine refused: disk full$"):
        api.containers(client, "p")


def test_an_engine_that_goes_away_is_the_unreachable_line(engine):
    e, client = engine({})
    e.__exit__()
    with pytest.raises(api.Unreachable, match=r"^Docker engine not reachable .*`inv doctor` checks it$"):
        api.containers(client, "p")


def test_an_ssh_engine_that_goes_away_is_said_as_the_link_with_how_to_test_it():
    err = api.unreachable("ssh://deploy@example.com:2222", ConnectionError("Broken pipe"))
    assert str(err) == (
        "cannot reach ssh://deploy@example.com:2222: the SSH link to it failed (ConnectionError): "
        "`ssh -p 2222 deploy@example.com docker version` tests it; "
        "`inv host.check --host ssh://deploy@example.com:2222` checks the rest"
    )
    assert isinstance(err, api.Unreachable) and str(api.unreachable("", OSError())).endswith("`inv doctor` checks it")


def test_a_client_remembers_its_address_for_its_errors(engine, monkeypatch):
    e, client = engine({})
    setattr(client, api.ADDRESS, "ssh://deploy@example.com")  # as api.client() sets it from DOCKER_HOST
    e.__exit__()
    with pytest.raises(api.Unreachable, match=r"^cannot reach ssh://deploy@example.com: the SSH link to it failed"):
        api.containers(client, "p")


def test_the_close_of_an_ssh_connection_whose_process_is_gone_raises_nothing():
    closed = []

    class Proc:
        stdin = type("Stdin", (), {"closed": False, "write": lambda s, b: None, "flush": lambda s: _broken()})()

        def terminate(self):
            closed.append("terminated")

    def _broken():
        raise BrokenPipeError(32, "Broken pipe")

    sshconn = api._sdk().transport.sshconn
    sock = sshconn.SSHSocket.__new__(sshconn.SSHSocket)
    sock.proc = Proc()
    sock.close()  # the SDK's own would raise BrokenPipeError (printed as a traceback at exit)
    assert closed == ["terminated"]
    assert api._sdk().transport.sshconn.SSHSocket.close is sshconn.SSHSocket.close  # patched once


def test_removing_a_container_takes_its_anonymous_volumes(engine):
    # The lock is made from the database image, whose VOLUME would otherwise stay behind.
    e, client = engine(
        {
            "GET /containers/p-deploy-lock/json": (200, {"Id": "abc", "Name": "/p-deploy-lock"}),
            "DELETE /containers/abc": (200, {}),
        }
    )
    assert api.remove(client, "p-deploy-lock") is True
    deleted = [s for s in e.seen if s.startswith("DELETE")]
    assert len(deleted) == 1
    assert "v=True" in deleted[0] or "v=1" in deleted[0]


def test_restarts_reads_each_containers_restart_count(engine):
    rows = [{"Id": "a1", "Names": ["/p-web-1"]}, {"Id": "b2", "Names": ["/p-jobs-1"]}]
    _, client = engine(
        {
            "GET /containers/json": (200, rows),
            "GET /containers/a1/json": (200, {"Id": "a1", "RestartCount": 0}),
            "GET /containers/b2/json": (200, {"Id": "b2", "RestartCount": 4}),
        }
    )
    assert api.restarts(client, "p") == {"p-web-1": 0, "p-jobs-1": 4}


def test_a_projects_named_volumes_in_one_request_by_compose_labels(engine):
    found = {
        "Volumes": [
            {
                "Name": "p_db-data",
                "Labels": {"com.docker.compose.project": "p", "com.docker.compose.volume": "db-data"},
            },
            {"Name": "p_cache", "Labels": {"com.docker.compose.project": "p", "com.docker.compose.volume": "cache"}},
        ],
        "Warnings": [],
    }
    e, client = engine({"GET /volumes": (200, found), "GET /volumes/pgdata": (200, {"Name": "pgdata"})})
    assert api.volumes(client, "p") == {"db-data": "p_db-data", "cache": "p_cache"}
    (listed,) = [s for s in e.seen if s.startswith("GET /v1.43/volumes?")]
    assert json.loads(listed.split("filters=")[1]) == {"label": ["com.docker.compose.project=p"]}
    assert [s for s in e.seen if "/volumes/" in s] == []  # no inspection per volume
    assert api.volume_exists(client, "pgdata") is True
    assert api.volume_exists(client, "gone") is False
