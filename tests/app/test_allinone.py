"""The all-in-one image's own scripts (docker/allinone), outside any container:
the FATAL event listener's protocol, the name prefixer, supervise's exit status,
and the supervisord config the image runs with."""

from __future__ import annotations

import configparser
import importlib.util
import io
import re
import signal
import sys
import time

import pytest

from tests.conftest import ROOT

HERE = ROOT / "docker" / "allinone"


def load(name: str):
    spec = importlib.util.spec_from_file_location(f"allinone_{name}", HERE / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


fatal, named, supervise = load("fatal"), load("named"), load("supervise")


def event(name: str, payload: str) -> bytes:
    body = payload.encode()
    header = f"ver:3.0 server:supervisor serial:7 pool:fatal poolserial:1 eventname:{name} len:{len(body)}\n"
    return header.encode() + body


def test_the_fatal_listener_names_the_program_and_answers_every_event():
    stdin = io.BytesIO(
        event("PROCESS_STATE_FATAL", "processname:worker groupname:worker from_state:BACKOFF")
        + event("PROCESS_STATE_RUNNING", "processname:api groupname:api from_state:STARTING pid:12")
    )
    stdout, stderr, fatals = io.BytesIO(), io.BytesIO(), []
    fatal.listen(stdin, stdout, stderr, fatals.append)
    assert fatals == ["worker"]
    # READY before each event, RESULT 2 / OK after it, READY again until stdin closes.
    assert stdout.getvalue() == b"READY\nRESULT 2\nOKREADY\nRESULT 2\nOKREADY\n"
    assert stderr.getvalue().decode().startswith("fatal | worker entered FATAL: it could not stay up")


def test_the_fatal_listener_leaves_the_name_and_stops_its_parent(tmp_path, monkeypatch):
    killed = []
    monkeypatch.setenv("ALLINONE_FATAL_FILE", str(tmp_path / "fatal"))
    monkeypatch.setattr(fatal.os, "kill", lambda pid, sig: killed.append((pid, sig)))
    fatal.stop_supervisord("worker")
    assert (tmp_path / "fatal").read_text() == "worker\n"
    assert killed == [(fatal.os.getppid(), signal.SIGTERM)]


@pytest.fixture
def signals_kept():
    """named.run sets handlers for the stop signals: pytest's own come back after."""
    saved = {s: signal.getsignal(s) for s in named.STOP_SIGNALS}
    yield
    for s, handler in saved.items():
        signal.signal(s, handler)


def run_named(*command: str) -> tuple[int, str, str]:
    out, err = io.BytesIO(), io.BytesIO()
    code = named.run("worker", list(command), out, err)
    return code, out.getvalue().decode(), err.getvalue().decode()


def test_named_prefixes_each_line_and_keeps_the_exit_status(signals_kept):
    script = "import sys; print('one'); print('two', file=sys.stderr); sys.stdout.write('no newline'); sys.exit(3)"
    assert run_named(sys.executable, "-c", script) == (3, "worker | one\nworker | no newline\n", "worker | two\n")
    code, _, _ = run_named(sys.executable, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGKILL)")
    assert code == 128 + 9
    code, _, err = run_named("/nonexistent/celery")
    assert (code, err) == (127, "worker | cannot run /nonexistent/celery: No such file or directory\n")


def test_named_ends_with_its_command_though_a_child_left_behind_holds_the_output(signals_kept):
    started = time.monotonic()
    code, out, _ = run_named("sh", "-c", "sleep 5 & echo started")
    assert (code, out) == (0, "worker | started\n")
    assert time.monotonic() - started < 3


def test_named_leaves_the_stop_signals_to_its_command(signals_kept):
    # The handler named sets is reset by exec: the command gets SIGTERM's default, and dies of it.
    code, _, _ = run_named(
        sys.executable, "-c", "import os, signal, time; os.kill(os.getpid(), signal.SIGTERM); time.sleep(5)"
    )
    assert code == 128 + signal.SIGTERM


def test_supervise_exits_1_after_a_fatal_else_as_supervisord():
    assert supervise.exit_status(0, "worker") == 1
    assert supervise.exit_status(0, None) == 0
    assert supervise.exit_status(-signal.SIGKILL, None) == 137


def test_the_supervisord_config_stops_every_program_within_the_container_grace():
    conf = configparser.RawConfigParser()
    conf.read(HERE / "supervisord.conf")
    names = {s.split(":", 1)[1]: conf[s] for s in conf.sections() if s.startswith("program:")}
    assert set(names) == {"api", "worker", "listener"}
    for name, section in names.items():
        assert section["command"].startswith(f"python /opt/allinone/named.py {name} "), name
        assert (section["stopasgroup"], section["killasgroup"], section["autorestart"]) == ("true",) * 3, name
        assert (section["stdout_logfile"], section["stderr_logfile"]) == ("/dev/stdout", "/dev/stderr"), name
    # Stopped one after the other, by priority: the API first, the listener last.
    assert sorted(names, key=lambda n: -int(names[n]["priority"])) == ["api", "worker", "listener"]
    # compose.single.yaml has one grace period, the api service's (its !override tags are not plain YAML).
    (grace,) = re.findall(r"stop_grace_period: (\d+)s", (ROOT / "compose" / "compose.single.yaml").read_text())
    grace = int(grace)
    assert sum(int(s["stopwaitsecs"]) for s in names.values()) < grace
    assert conf["eventlistener:fatal"]["events"] == "PROCESS_STATE_FATAL"
    assert conf["supervisorctl"]["serverurl"] == "unix://" + conf["unix_http_server"]["file"]
