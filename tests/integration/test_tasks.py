"""The Invoke tasks against the real engine, run as a user runs them: `inv ...`
in a subprocess, with no TTY (as in CI). Each test module has its own project
name and ports; everything is removed in a finally."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid

import pytest

from tests.conftest import ROOT
from tests.support import Inv, free_port, http, unique_project, wait_for

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def inv():
    runner = Inv("tasks", API_PORT=str(free_port()), DB_PORT=str(free_port()), REDIS_PORT=str(free_port()))
    try:
        yield runner
    finally:
        runner("down", "--volumes", check=False, timeout=180)


def test_dev_brings_the_stack_to_healthy_and_prints_urls(inv):
    proc = inv("dev")
    assert http("GET", inv.url + "/health") == (200, {"status": "ok"})
    out = proc.stdout
    for service in ("api", "db", "redis", "worker", "listener"):
        assert f"\n{service} " in "\n" + out, out
    assert "healthy" in out
    assert f"dev is up: {inv.url}" in out
    # The command line is echoed, quoted, on stderr.
    assert "$ docker compose --project-name " + inv.env["STACKYARD_PROJECT"] in proc.stderr


def test_ps_json_lists_services(inv):

    rows = json.loads(inv("ps", "--json").stdout)
    assert {r["service"] for r in rows} >= {"api", "db", "redis", "worker", "listener", "migrate"}
    api = next(r for r in rows if r["service"] == "api")
    assert api["health"] == "healthy" and api["urls"] == [inv.url]


def test_logs_since_shows_api_lines(inv):
    http("GET", inv.url + "/health")
    proc = inv("logs", "--since", "5m", "--services", "api")
    lines = [ln for ln in proc.stdout.splitlines() if ln.strip()]
    assert lines and all(ln.startswith("api-") for ln in lines), proc.stdout[:2000]
    assert any("GET /health" in ln for ln in lines)


def test_logs_grep_filters(inv):
    proc = inv("logs", "--grep", "GET /HEALTH", "--tail", "200")
    lines = [ln for ln in proc.stdout.splitlines() if ln.strip()]
    assert lines and all("get /health" in ln.lower() for ln in lines)


def test_exec_psql_without_a_tty(inv):
    proc = inv("exec", "db", "--", "psql", "-U", "app", "-d", "app", "-tAc", "select 1")
    assert proc.stdout.strip() == "1"
    assert "--no-TTY" in proc.stderr


def test_exec_failure_exits_non_zero_with_one_line(inv):
    proc = inv("exec", "db", "--", "psql", "-U", "app", "-d", "app", "-c", "select nonsense", check=False)
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("stackyard: error: `psql")


def test_down_keeps_the_database_volume_and_data_survives(inv):
    key = "keep" + uuid.uuid4().hex[:8]
    assert http("PUT", f"{inv.url}/items/{key}", {"value": "still here"})[0] == 200
    inv("down")
    volumes = subprocess.run(
        [
            "docker",
            "volume",
            "ls",
            "-q",
            "--filter",
            f"label=com.docker.compose.project={inv.env['STACKYARD_PROJECT']}",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "db-data" in volumes
    inv("dev")
    status, body = wait_for(lambda: http("GET", f"{inv.url}/items/{key}"), timeout=10, what="the item")
    assert (status, body["value"]) == (200, "still here")


def test_down_volumes_on_prod_is_refused(inv):
    proc = inv("down", "--volumes", "--env", "prod", check=False)
    assert proc.returncode != 0
    assert "refusing to delete the volumes" in proc.stderr and "--confirm-data-loss" in proc.stderr
    assert "$ docker compose" not in proc.stderr  # nothing ran


def test_doctor_reports_a_port_held_by_this_test(inv):
    held = free_port()
    env = dict(inv.env, API_PORT=str(held))
    env["STACKYARD_PROJECT"] = unique_project("doctor")
    with socket.socket() as s:
        s.bind(("127.0.0.1", held))
        s.listen()
        proc = subprocess.run(
            [sys.executable, "-m", "invoke", "doctor"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
        )
    assert proc.returncode != 0
    line = next(ln for ln in proc.stdout.splitlines() if f"port {held}" in ln)
    assert line.startswith("FAIL") and "for api" in line and f"pid {os.getpid()}" in line
    assert "ENGINE" not in proc.stdout and "OK    engine" in proc.stdout


def test_unknown_env_and_service_are_one_clear_line(inv):
    proc = inv("ps", "--env", "qa", check=False)
    assert proc.returncode != 0
    assert proc.stderr.strip() == (
        "stackyard: error: unknown environment 'qa': known: dev, prod, staging "
        "(add compose/compose.qa.yaml or [tool.stackyard.environments.qa])"
    )
    proc = inv("logs", "-s", "nope", check=False)
    assert proc.returncode != 0
    assert "unknown service 'nope': services: api, db, listener, migrate, redis, worker" in proc.stderr


def test_logs_follow_ends_on_ctrl_c_with_130_and_no_traceback(inv):

    proc = subprocess.Popen(
        [sys.executable, "-m", "invoke", "logs", "-f", "-s", "api", "--tail", "5"],
        cwd=ROOT,
        env=inv.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        stdin=subprocess.DEVNULL,
        start_new_session=True,  # its own process group, as a terminal's foreground job
    )
    try:
        assert proc.stdout.readline().startswith("api-")  # streaming
        time.sleep(0.5)
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C does: the whole group gets SIGINT
        _, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    leftovers = subprocess.run(
        ["pgrep", "-f", f"--project-name {inv.env['STACKYARD_PROJECT']}.*logs"], capture_output=True, text=True
    ).stdout
    assert leftovers == ""
