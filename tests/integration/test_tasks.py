"""The Invoke tasks against the real engine, run as a user runs them: `inv ...`
in a subprocess, with no TTY (as in CI). Each test module has its own project
name and ports; everything is removed in a finally."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid

import pytest
from dotenv import dotenv_values

from tests.conftest import ROOT
from tests.support import Inv, backups, free_port, http, remove_state, unique_project, wait_for

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def inv():
    runner = Inv("tasks", API_PORT=str(free_port()), DB_PORT=str(free_port()), REDIS_PORT=str(free_port()))
    try:
        yield runner
    finally:
        runner("down", "--volumes", check=False, timeout=180)
        remove_state(runner.env["STACKYARD_PROJECT"])
        shutil.rmtree(ROOT / "backups" / runner.env["STACKYARD_PROJECT"], ignore_errors=True)


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


def test_exec_failure_exits_with_the_commands_code_and_its_own_words(inv):
    proc = inv("exec", "db", "--", "psql", "-U", "app", "-d", "app", "-c", "select nonsense", check=False)
    assert proc.returncode == 1  # psql's
    assert "Traceback" not in proc.stderr
    assert 'column "nonsense" does not exist' in proc.stderr
    assert "stackyard: error" not in proc.stderr  # psql said why


def test_exec_gives_back_the_exit_code_of_the_command(inv):
    assert inv("exec", "api", "--", "sh", "-c", "exit 7", check=False).returncode == 7


def test_shell_gives_back_the_exit_code_of_its_last_command(inv):
    proc = subprocess.run(
        [sys.executable, "-m", "invoke", "shell", "api"],
        cwd=ROOT,
        env=inv.env,
        input="echo in-the-shell\nfalse\n",  # no TTY: the shell reads its commands from stdin
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1, proc.stderr
    assert proc.stdout.strip() == "in-the-shell"


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
        "stackyard: error: unknown environment 'qa': known: dev, prod, single, staging, swarm "
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


# --- a half-started environment: what runs and what does not, said truthfully ---


def test_a_half_started_environment(inv):
    project = inv.env["STACKYARD_PROJECT"]
    subprocess.run(["docker", "stop", "--time", "5", f"{project}-listener-1"], check=True, capture_output=True)
    try:
        last = inv("ps").stdout.strip().splitlines()[-1]
        assert re.fullmatch(r"dev is not up: listener exited \(\d+\); `inv logs -s listener` shows why", last), last

        # logs shows what there is, the stopped service's lines too
        services = {ln.split("-")[0] for ln in inv("logs", "--tail", "3").stdout.splitlines() if ln.strip()}
        assert {"api", "listener"} <= services

        for args in (["exec", "listener", "--", "true"], ["shell", "listener"]):
            proc = inv(*args, check=False)
            assert proc.returncode == 1
            assert proc.stderr.strip() == (
                f"stackyard: error: service listener is not running in dev (project {project}; "
                "its container is exited): start it with `inv up -s listener`"
            )
    finally:
        inv("up", "-s", "listener", "--no-build")
    assert inv("ps").stdout.strip().splitlines()[-1].startswith(f"dev is up: {inv.url}")


def test_a_stopped_environment_has_no_logs_and_says_how_to_start_it(inv):
    env = dict(inv.env, STACKYARD_PROJECT=unique_project("stopped"))
    proc = subprocess.run(
        [sys.executable, "-m", "invoke", "logs"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 1
    assert proc.stderr.strip() == (
        f"stackyard: error: no containers in project {env['STACKYARD_PROJECT']} (dev): no logs to show: "
        "start it with `inv up`"
    )
    proc = subprocess.run(
        [sys.executable, "-m", "invoke", "ps"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert proc.stdout == f"no containers in project {env['STACKYARD_PROJECT']} (dev); start it with `inv up`\n"


# --- db.restore: the restored values are what the API serves, not its cache ---


def test_restore_drops_the_cache_of_the_old_values(inv):
    key = "restore" + uuid.uuid4().hex[:8]
    url = f"{inv.url}/items/{key}"
    assert http("PUT", url, {"value": "backed up"})[0] == 200
    proc = inv("db.backup")
    assert f"db.backup: backing up the database of dev (project {inv.env['STACKYARD_PROJECT']})" in proc.stderr
    name = re.search(r"^backup: (\S+) kept on the engine ", proc.stdout, flags=re.M).group(1)
    assert name in backups(inv.env["STACKYARD_PROJECT"])

    # a value written after the backup, read until the API serves it from its cache
    assert http("PUT", url, {"value": "written later"})[0] == 200

    def served() -> tuple[str, bool]:
        status, body = http("GET", url)
        assert status == 200, body
        return body["value"], body["cached"]

    wait_for(lambda: served() == ("written later", True), 10, what="the value from the cache")

    proc = inv("db.restore", name)
    assert f"db.restore: restoring {name}.dump into the database of dev (project " in proc.stderr
    assert "db.restore: after_restore: running its command in redis" in proc.stderr
    assert re.search(r"^redis: [1-9]\d* cached items dropped$", proc.stdout, flags=re.M), proc.stdout
    assert served() == ("backed up", False)  # from the database, as restored

    # the hook read the Redis password inside the container: it is on no command line we printed
    local = dotenv_values(ROOT / "env" / "dev.local.env")
    password = inv.env.get("REDIS_PASSWORD") or local.get("REDIS_PASSWORD")
    assert password and password not in proc.stdout + proc.stderr
