"""The reference stack with plain `docker compose`: dev and prod up and healthy,
jobs, cache invalidation, persistence, a worker killed mid-task, and Flower
(profile flower) answering on its published port in dev."""

from __future__ import annotations

import os
import signal
import subprocess
import urllib.request
import uuid

import pytest

from stackyard.engine.ports import free_port
from tests.support import Stack, http, wait_for

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def dev():
    stack = Stack.make("dev", "ref-dev")
    try:
        stack.compose("up", "--build", "--detach", "--wait", "--wait-timeout", "180")
        yield stack
    finally:
        stack.down(volumes=True)


def post_job(stack: Stack, numbers: list, delay: float = 0) -> str:
    status, body = http("POST", stack.base_url + "/jobs", {"numbers": numbers, "delay": delay})
    assert status == 202, body
    return body["id"]


def job_done(stack: Stack, job_id: str):
    status, body = http("GET", f"{stack.base_url}/jobs/{job_id}")
    return body if status == 200 and body["status"] == "done" else None


def psql(stack: Stack, sql: str) -> str:
    return stack.compose(
        "exec", "-T", "db", "psql", "-U", "app", "-d", "app", "-v", "ON_ERROR_STOP=1", "-tAc", sql
    ).stdout.strip()


def test_dev_health_and_ready(dev):
    assert http("GET", dev.base_url + "/health") == (200, {"status": "ok"})
    status, body = http("GET", dev.base_url + "/ready")
    assert status == 200, body
    assert body["checks"] == {"postgres": "ok", "redis": "ok", "broker": "ok"}


def test_dev_publishes_on_loopback_only(dev):
    out = dev.compose("ps", "--format", "{{.Service}} {{.Ports}}").stdout
    published = [p for p in out.split() if "->" in p]
    assert published, out
    assert all(p.startswith("127.0.0.1:") for p in published), out


def test_job_goes_through_the_worker(dev):
    job_id = post_job(dev, [1, 2, 3, 4])
    body = wait_for(lambda: job_done(dev, job_id), timeout=30, what=f"job {job_id}")
    assert body["result"] == {"count": 4, "sum": 10, "mean": 2.5}
    assert body["completions"] == 1


def test_invalid_job_is_rejected(dev):
    status, body = http("POST", dev.base_url + "/jobs", {"numbers": "nope"})
    assert status == 422
    assert "numbers" in body["detail"]


def test_update_in_psql_invalidates_the_cache(dev):
    key = "k" + uuid.uuid4().hex[:8]
    assert http("PUT", f"{dev.base_url}/items/{key}", {"value": "before"})[0] == 200
    first = http("GET", f"{dev.base_url}/items/{key}")[1]
    second = http("GET", f"{dev.base_url}/items/{key}")[1]
    assert (first["value"], second["value"], second["cached"]) == ("before", "before", True)

    psql(dev, f"UPDATE items SET value = 'after' WHERE key = '{key}'")

    body = wait_for(
        lambda: (b := http("GET", f"{dev.base_url}/items/{key}")[1])["value"] == "after" and b,
        timeout=2.0,
        interval=0.05,
        what="the new value after UPDATE",
    )
    assert body["value"] == "after"


def test_pgvector_extension_is_installed(dev):
    assert psql(dev, "SELECT extname FROM pg_extension WHERE extname = 'vector'") == "vector"
    assert psql(dev, "SELECT embedding <-> '[1,0,0]' FROM items WHERE key = 'hello'") == "0"


def test_worker_killed_mid_task_finishes_the_job_once(dev):
    job_id = post_job(dev, [5, 5], delay=4)
    wait_for(
        lambda: http("GET", f"{dev.base_url}/jobs/{job_id}")[1]["status"] == "running",
        timeout=20,
        what="the job to start",
    )
    container = dev.container_id("worker")
    pid = int(
        subprocess.run(
            ["docker", "inspect", "-f", "{{.State.Pid}}", container], capture_output=True, text=True, check=True
        ).stdout
    )
    os.kill(pid, signal.SIGKILL)  # the container's init: the whole worker dies at once
    wait_for(
        lambda: "exited" in dev.compose("ps", "-a", "--format", "{{.State}}", "worker").stdout,
        timeout=20,
        what="the worker container to die",
    )
    dev.compose("start", "worker")
    # Redelivered after the visibility timeout (30 s) by the restarted worker.
    body = wait_for(lambda: job_done(dev, job_id), timeout=90, interval=1, what="the redelivered job")
    assert body["result"] == {"count": 2, "sum": 10, "mean": 5.0}
    assert body["completions"] == 1
    assert body["attempts"] >= 2


def test_data_survives_down_and_up(dev):
    key = "keep" + uuid.uuid4().hex[:8]
    assert http("PUT", f"{dev.base_url}/items/{key}", {"value": "persisted"})[0] == 200
    dev.compose("down")  # no -v: named volumes stay
    dev.compose("up", "--detach", "--wait", "--wait-timeout", "180")
    status, body = http("GET", f"{dev.base_url}/items/{key}")
    assert (status, body["value"]) == (200, "persisted")


def test_dev_flower_answers_on_its_published_port():
    stack = Stack.make("dev", "ref-flower")
    stack.ports["FLOWER_PORT"] = free_port()
    url = f"http://127.0.0.1:{stack.ports['FLOWER_PORT']}/healthcheck"
    try:
        # Healthy is not enough: on an internal network only, the port binding is dropped.
        stack.compose("--profile", "flower", "up", "--build", "--detach", "--wait", "--wait-timeout", "180")
        out = stack.compose("ps", "--format", "{{.Service}} {{.Ports}}", "flower").stdout
        assert f"127.0.0.1:{stack.ports['FLOWER_PORT']}->5555/tcp" in out, out
        with urllib.request.urlopen(url, timeout=5) as resp:
            assert (resp.status, resp.read()) == (200, b"OK")
    finally:
        stack.compose("--profile", "flower", "down", "--remove-orphans", "-v", "-t", "5", check=False, timeout=180)


def test_prod_behind_caddy_over_https_hardened():
    stack = Stack.make("prod", "ref-prod")
    try:
        stack.compose("up", "--build", "--detach", "--wait", "--wait-timeout", "180")
        assert http("GET", stack.base_url + "/health") == (200, {"status": "ok"})
        assert http("GET", stack.base_url + "/ready")[0] == 200

        api = stack.container_id("api")
        user, read_only, caps = (
            subprocess.run(
                [
                    "docker",
                    "inspect",
                    "-f",
                    "{{.Config.User}}|{{.HostConfig.ReadonlyRootfs}}|{{.HostConfig.CapDrop}}",
                    api,
                ],
                capture_output=True,
                text=True,
                check=True,
            )
            .stdout.strip()
            .split("|")
        )
        assert user not in ("", "root", "0", "0:0")
        assert read_only == "true"
        assert caps == "[ALL]"
        uid = stack.compose("exec", "-T", "api", "id", "-u").stdout.strip()
        assert uid != "0"
        touch = stack.compose("exec", "-T", "api", "touch", "/probe", check=False)
        assert touch.returncode != 0 and "Read-only file system" in touch.stderr

        # Only Caddy publishes ports.
        out = stack.compose("ps", "--format", "{{.Service}} {{.Ports}}").stdout
        publishing = {line.split()[0] for line in out.splitlines() if "->" in line}
        assert publishing == {"caddy"}, out

        # Nothing from the machine that ran Compose: no container bind-mounts a path
        # (the Caddyfile, served above over HTTPS, is baked into the caddy image).
        ids = stack.compose("ps", "--all", "--quiet").stdout.split()
        template = "{{.Name}}{{range .Mounts}} {{.Type}}:{{.Source}}{{end}}"
        mounts = subprocess.run(["docker", "inspect", "-f", template, *ids], capture_output=True, text=True, check=True)
        assert len(mounts.stdout.splitlines()) == len(ids) >= 6 and " bind:" not in mounts.stdout, mounts.stdout
    finally:
        stack.down(volumes=True)


@pytest.mark.parametrize("env", ["dev", "staging", "prod"])
def test_compose_config_is_valid(env):
    stack = Stack.make(env, "cfg")
    proc = stack.compose("config", "-q", check=False, timeout=60)
    assert proc.returncode == 0, proc.stderr
