"""refapp.programs and the all-in-one /health: the programs' states read from a
stand-in supervisord (its XML-RPC interface on a unix socket), no container."""

from __future__ import annotations

import json
import pathlib
import socket
import socketserver
import threading
import time
import xmlrpc.client
from xmlrpc.server import SimpleXMLRPCDispatcher, SimpleXMLRPCRequestHandler

import pytest
from refapp import programs


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer, SimpleXMLRPCDispatcher):
    daemon_threads = True
    logRequests = False

    def __init__(self, path: str):
        socketserver.UnixStreamServer.__init__(self, path, _Handler)
        SimpleXMLRPCDispatcher.__init__(self, allow_none=True, encoding=None)


class _Handler(SimpleXMLRPCRequestHandler):
    disable_nagle_algorithm = False  # a TCP option: a unix socket has none

    def address_string(self) -> str:  # a unix socket's peer has no address to log
        return "unix"

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def supervisord(tmp_path):
    """A stand-in supervisord answering getAllProcessInfo with `states` (name -> state)."""
    path = str(tmp_path / "supervisor.sock")
    states = {"api": "RUNNING", "worker": "RUNNING", "listener": "RUNNING", "fatal": "RUNNING"}
    server = _Server(path)

    def info():
        if "fault" in states:  # supervisord's answer to every call while it stops (or some other fault)
            raise xmlrpc.client.Fault(int(states["fault"]), "SHUTDOWN_STATE")
        return [{"name": n, "group": n, "statename": s, "pid": 1} for n, s in states.items()]

    server.register_function(info, "supervisor.getAllProcessInfo")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"unix://{path}", states
    finally:
        server.shutdown()
        server.server_close()


def test_states_are_read_from_supervisord_over_its_unix_socket(supervisord):
    url, states = supervisord
    states["worker"] = "BACKOFF"
    found = programs.states(url)
    assert found == {"api": "RUNNING", "worker": "BACKOFF", "listener": "RUNNING", "fatal": "RUNNING"}
    assert programs.down(found) == ["worker (BACKOFF)"]
    assert programs.down({"b": "STARTING", "a": "FATAL", "c": "RUNNING"}) == ["a (FATAL)", "b (STARTING)"]


def test_outside_the_all_in_one_there_is_nothing_to_ask():
    assert programs.here({}) is None


def test_a_supervisord_that_is_gone_or_hangs_is_no_answer(tmp_path):
    with pytest.raises(programs.NoAnswer, match=r"supervisord at unix://.*/none\.sock does not answer \(FileNotFound"):
        programs.states(f"unix://{tmp_path}/none.sock")
    with pytest.raises(programs.NoAnswer, match="only a unix:// socket"):
        programs.states("http://127.0.0.1:9001")
    # Listening, never answering: given up after the timeout.
    path = str(tmp_path / "hung.sock")
    hung = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    hung.bind(path)
    hung.listen(1)
    try:
        started = time.monotonic()
        with pytest.raises(programs.NoAnswer, match=r"does not answer \(TimeoutError\)"):
            programs.states(f"unix://{path}", timeout=0.3)
        assert time.monotonic() - started < 2
    finally:
        hung.close()


@pytest.fixture
def api(monkeypatch, tmp_path):
    api = pytest.importorskip("refapp.api")  # fastapi: installed where the app's tests run
    monkeypatch.setattr(api, "UNHEALTHY_FILE", str(tmp_path / "unhealthy"))
    return api


def test_health_outside_the_all_in_one_is_as_before(api, monkeypatch):
    monkeypatch.delenv(programs.SERVER_URL, raising=False)
    assert api.health() == {"status": "ok"}


def test_health_in_the_all_in_one_reports_each_program_and_names_the_ones_down(api, monkeypatch, supervisord):
    url, states = supervisord
    monkeypatch.setenv(programs.SERVER_URL, url)
    assert api.health() == {"status": "ok", "programs": dict(states)}
    states["worker"], states["listener"] = "STARTING", "FATAL"
    found = api.health()
    assert found.status_code == 503
    assert json.loads(found.body) == {
        "status": "unhealthy",
        "why": "not running: listener (FATAL), worker (STARTING)",
        "programs": dict(states),
    }


def test_health_in_the_all_in_one_without_supervisord_is_unhealthy(api, monkeypatch, tmp_path):
    monkeypatch.setenv(programs.SERVER_URL, f"unix://{tmp_path}/gone.sock")
    found = api.health()
    assert found.status_code == 503
    assert json.loads(found.body)["why"].startswith("supervisord at unix://")


def test_the_unhealthy_marker_wins_in_the_all_in_one_too(api, monkeypatch, supervisord):
    monkeypatch.setenv(programs.SERVER_URL, supervisord[0])
    pathlib.Path(api.UNHEALTHY_FILE).touch()
    assert json.loads(api.health().body)["why"].endswith("unhealthy exists")


def test_health_while_the_container_stops_is_no_failure(api, monkeypatch, supervisord):
    url, states = supervisord
    monkeypatch.setenv(programs.SERVER_URL, url)
    states["fault"] = str(programs.SHUTDOWN_STATE)
    with pytest.raises(programs.Stopping):
        programs.states(url)
    assert api.health() == {"status": "ok"}  # a deploy retiring the container, a docker stop
    states["fault"] = "1"
    found = api.health()
    assert found.status_code == 503 and json.loads(found.body)["why"].endswith("does not answer (Fault 1)")
