"""The `single` environment on the real engine: the all-in-one container
(supervisord running the API, the Celery worker and the listener: docker/allinone)
behind Caddy on a 127.0.0.1 port, against the stack's PostgreSQL and Redis.

The smoke checks (`nox -s smoke -- --env single`); up and healthy with every
program named in /health and in the logs; a job through the in-container worker;
the cache flow through the in-container listener; a killed worker restarted by
supervisord, the container healthy again; SIGTERM stopping all three within the
grace period with the job in flight kept (acks late); `inv prod-deploy --env
single` under load with no failed request; a worker that can never start ending
the container, with the reason in `inv logs`.
Run with -s to see what was measured."""

from __future__ import annotations

import http.client as httpclient
import json
import os
import subprocess
import sys
import time
import uuid

import pytest

from stackyard import config
from tests.conftest import ROOT
from tests.support import (
    TEST_SECRETS,
    Inv,
    Load,
    free_port,
    history,
    http,
    remove_prod_project,
    wait_for,
)

pytestmark = pytest.mark.integration

GRACE = 30  # compose.single.yaml: the api service's stop_grace_period
PROGRAMS = {"api", "worker", "listener", "fatal"}  # docker/allinone/supervisord.conf


@pytest.fixture(scope="module")
def single():
    inv = Inv("single", API_PORT=str(free_port()), PUBLISH_ADDRESS="127.0.0.1", **TEST_SECRETS)
    project = inv.env["STACKYARD_PROJECT"]
    inv.env.update(APP_IMAGE=f"{project}-app", CADDY_APP_IMAGE=f"{project}-caddy")  # its own: removed at the end
    try:
        started = time.monotonic()
        inv("up", "--env", "single", timeout=900)
        print(f"\nsingle: inv up --env single (build included): {time.monotonic() - started:.1f} s")
        yield inv
    finally:
        remove_prod_project(inv, "single")


def base(inv: Inv) -> str:
    return f"http://127.0.0.1:{inv.env['API_PORT']}"


def docker(*args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
    proc = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)} exited {proc.returncode}: {proc.stderr}")
    return proc


def running(inv: Inv, service: str) -> list[str]:
    project = inv.env["STACKYARD_PROJECT"]
    argv = ["ps", "--filter", f"label=com.docker.compose.project={project}"]
    argv += ["--filter", f"label=com.docker.compose.service={service}", "--format", "{{.Names}}"]
    return docker(*argv).stdout.split()


def the_container(inv: Inv) -> str:
    found = running(inv, "api")
    assert len(found) == 1, found
    return found[0]


def inspect(container: str, template: str) -> str:
    return docker("inspect", "--format", template, container).stdout.strip()


def programs(container: str) -> dict[str, tuple[str, str]]:
    """supervisorctl status in the container: name -> (state, pid or why)."""
    out = docker("exec", container, "supervisorctl", "status", check=False).stdout
    found = {}
    for line in out.splitlines():
        name, state, *rest = line.split(None, 2)
        found[name] = (state, rest[0] if rest else "")
    return found


def job_done(inv: Inv, job: str):
    code, body = http("GET", f"{base(inv)}/jobs/{job}")
    return code == 200 and body["status"] == "done" and body


def test_smoke_passes_on_single():
    """`nox -s smoke -- --env single`: a throwaway project of its own, removed at the end."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("STACKYARD_")}
    argv = [sys.executable, "-m", "stackyard.smoke", "--env", "single"]
    proc = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert "smoke: passed: health, services, ready, jobs, cache, restarts, tracebacks" in out
    print("\nsingle: " + next(line for line in out.splitlines() if line.startswith("smoke: timings")))


def test_up_is_healthy_and_every_program_is_named(single):
    code, body = http("GET", base(single) + "/health")
    assert code == 200, body
    assert body == {"status": "ok", "programs": dict.fromkeys(PROGRAMS, "RUNNING")}
    container = the_container(single)
    assert inspect(container, "{{.State.Health.Status}} {{.Config.User}}") == "healthy 10001:10001"
    # worker and listener run inside it: their services have no container of their own.
    assert running(single, "worker") == running(single, "listener") == []
    ps = single("ps", "--env", "single").stdout
    rows = {line.split()[0]: line.split()[1:3] for line in ps.splitlines()[1:] if line.strip() and " " in line}
    assert rows["api"] == rows["caddy"] == ["running", "healthy"] and "worker" not in rows, ps
    logs = single("logs", "--env", "single", "--services", "api").stdout
    for name in ("api", "worker", "listener"):
        assert f"{name} | " in logs, f"no line of {name} in:\n{logs[-3000:]}"
    assert "success: worker entered RUNNING state" in logs


def test_a_job_round_trips_through_the_in_container_worker(single):
    code, body = http("POST", base(single) + "/jobs", {"numbers": [1, 2, 3, 4]})
    assert code == 202, body
    done = wait_for(lambda: job_done(single, body["id"]), 30, what="the job done")
    assert done["result"]["sum"] == 10 and done["completions"] == 1


def test_the_in_container_listener_invalidates_the_cache(single):
    key = "single-" + uuid.uuid4().hex[:8]
    assert http("PUT", f"{base(single)}/items/{key}", {"value": "before"})[0] == 200
    http("GET", f"{base(single)}/items/{key}")
    assert http("GET", f"{base(single)}/items/{key}")[1]["cached"] is True
    (db,) = running(single, "db")
    docker("exec", db, "psql", "-U", "app", "-d", "app", "-v", "ON_ERROR_STOP=1", "-tAc",
           f"UPDATE items SET value = 'after' WHERE key = '{key}'")  # fmt: skip
    started = time.monotonic()
    wait_for(lambda: http("GET", f"{base(single)}/items/{key}")[1]["value"] == "after", 5, what="the new value")
    print(f"\nsingle: an UPDATE in psql reached the API through the listener in {time.monotonic() - started:.2f} s")


# Run inside the container (no pkill there): SIGKILL the Celery main process, the child
# of the worker program's process (named.py), whose pid is argv[1].
KILL_CELERY = """
import os, signal, sys
for pid in filter(str.isdigit, os.listdir('/proc')):
    try:
        status = open(f'/proc/{pid}/status').read()
        argv = open(f'/proc/{pid}/cmdline', 'rb').read().split(b'\\0')
    except OSError:
        continue
    ppid = next(line.split()[1] for line in status.splitlines() if line.startswith('PPid:'))
    if ppid == sys.argv[1] and b'celery' in argv[0] + argv[1]:
        os.kill(int(pid), signal.SIGKILL)
        print(pid)
"""


def test_a_killed_worker_is_restarted_and_the_container_is_healthy_again(single):
    container = the_container(single)
    state, before = programs(container)["worker"]
    assert state == "RUNNING", programs(container)
    wrapper = before.split()[1].rstrip(",")  # "pid 42, uptime 0:01:02"
    killed = docker("exec", container, "python", "-c", KILL_CELERY, wrapper).stdout.split()
    assert len(killed) == 1, killed
    started = time.monotonic()
    seen: list[dict] = []

    def back() -> bool:
        code, body = http("GET", base(single) + "/health")
        if code != 200:
            seen.append(body)
        state, pid = programs(container)["worker"]
        return code == 200 and state == "RUNNING" and not pid.startswith(f"pid {wrapper},")

    # Polled fast: the worker is STARTING for its startsecs (5 s), and /health says so meanwhile.
    wait_for(back, 60, interval=0.1, what="the worker restarted and /health 200")
    took = time.monotonic() - started
    print(f"\nsingle: worker's Celery process killed -> RUNNING again, /health 200 after {took:.1f} s")
    assert any("worker" in body.get("why", "") for body in seen), seen
    state, after = programs(container)["worker"]
    assert state == "RUNNING" and after != before
    logs = docker("logs", container).stdout
    assert "exited: worker (exit status 137; not expected)" in logs
    wait_for(lambda: inspect(container, "{{.State.Health.Status}}") == "healthy", 60, what="the container healthy")
    assert inspect(container, "{{.RestartCount}}") == "0"  # supervisord restarted the program, not the engine


def test_sigterm_stops_all_three_within_the_grace_period_and_keeps_the_job(single):
    code, body = http("POST", base(single) + "/jobs", {"numbers": [5, 6], "delay": 25})
    assert code == 202, body
    job = body["id"]
    wait_for(lambda: http("GET", f"{base(single)}/jobs/{job}")[1]["status"] == "running", 30, what="the job running")
    container = the_container(single)
    started = time.monotonic()
    docker("stop", "--time", str(GRACE), container, timeout=GRACE + 30)  # SIGTERM, then SIGKILL after GRACE s
    took = time.monotonic() - started
    print(f"\nsingle: docker stop (SIGTERM) -> exited in {took:.1f} s (grace {GRACE} s)")
    assert took < GRACE - 1
    assert inspect(container, "{{.State.ExitCode}}") == "0"  # supervisord's own end, not the engine's SIGKILL
    logs = docker("logs", container).stdout
    for name in ("api", "worker", "listener"):
        assert f"stopped: {name} (" in logs, f"{name} not stopped:\n{logs[-3000:]}"
    started = time.monotonic()
    single("up", "--env", "single", "--no-build", timeout=300)
    done = wait_for(lambda: job_done(single, job), 120, interval=0.5, what="the job done after the restart")
    print(
        f"single: the job in flight at the stop done {time.monotonic() - started:.1f} s after the start "
        f"(attempts {done['attempts']}, completions {done['completions']})"
    )
    # Interrupted by the stop (the pool process got the SIGTERM), given back to the queue, run again once.
    assert done["result"]["sum"] == 11 and (done["attempts"], done["completions"]) == (2, 1)


class HttpLoad(Load):
    """Load's requests over plain HTTP: Caddy in single serves no TLS. Keeps what
    each failed request got."""

    def __init__(self, port: int):
        super().__init__(port)
        self.failures: list[tuple[str, int, bytes]] = []

    def _one(self, path: str) -> None:
        try:
            conn = httpclient.HTTPConnection("127.0.0.1", self.port, timeout=10)
            conn.request("GET", path)
            resp = conn.getresponse()
            body = resp.read()
            conn.close()
        except OSError:
            with self._lock:
                self.errors += 1
            return
        with self._lock:
            if resp.status != 200:
                self.failed += 1
                self.failures.append((path, resp.status, body[:300]))
                return
            self.ok += 1
            if path == "/version":
                v = json.loads(body)["version"]
                self.versions[v] = self.versions.get(v, 0) + 1


def test_prod_deploy_switches_the_all_in_one_container_with_no_failed_request(single):
    before = http("GET", base(single) + "/version")[1]["version"]
    started = time.monotonic()
    with HttpLoad(int(single.env["API_PORT"])) as load:
        out = single("prod-deploy", "--env", "single", "--allow-dirty", timeout=900).stdout
    took = time.monotonic() - started
    after = http("GET", base(single) + "/version")[1]["version"]
    print(
        f"\nsingle: prod-deploy under load {took:.1f} s: {load.sent} requests, {load.failed} failed, {load.errors} errors"
    )
    assert (load.failed, load.errors) == (0, 0), load.failures
    assert after != before and set(load.versions) == {before, after}, load.versions
    assert ". switch" in out and ". retire" in out, out
    (record,) = history(single.env["STACKYARD_PROJECT"])
    assert (record["version"], record["result"]) == (after, "ok")
    code, body = http("GET", base(single) + "/health")
    assert code == 200 and set(body["programs"]) == PROGRAMS, body
    assert len(running(single, "api")) == 1


def test_a_worker_that_can_never_start_ends_the_container_with_the_reason_in_the_logs(single, tmp_path):
    """Last: it leaves the stack broken. The broker URL gets a scheme Celery does not
    know, so the worker exits at each start: FATAL, then the container exits (1)."""
    override = tmp_path / "compose.bad-broker.yaml"
    override.write_text("services:\n  api:\n    environment:\n      JOB_QUEUE_URL: nosuch://redis:6379/1\n")
    env = config.load(ROOT).environments["single"]
    argv = ["docker", "compose", "--project-name", single.env["STACKYARD_PROJECT"]]
    for f in (*env.files, override):
        argv += ["--file", str(f)]
    for f in env.env_files:
        argv += ["--env-file", str(f)]
    argv += ["up", "--detach", "--no-deps", "--no-build", "--force-recreate", "api"]
    subprocess.run(argv, env=single.env, check=True, capture_output=True, timeout=300)
    container = the_container(single)
    started = time.monotonic()
    # `docker wait` returns as the container stops (the restart policy starts it again after).
    code = docker("wait", container, timeout=120).stdout.strip()
    print(
        f"\nsingle: a worker that cannot start -> the container exited ({code}) after {time.monotonic() - started:.1f} s"
    )
    assert code == "1"
    logs = single("logs", "--env", "single", "--services", "api").stdout
    assert "No such transport: nosuch" in logs
    assert "gave up: worker entered FATAL state, too many start retries too quickly" in logs
    assert "fatal | worker entered FATAL" in logs
    assert "supervise | exiting 1: program worker entered FATAL" in logs
