"""The reference stack on a single-node swarm (`orchestrator = "swarm"`), for real:

- `inv up --env swarm` renders the stack file, creates the secrets, deploys, waits
  until every service has converged (the migration job complete) and serves HTTPS
  through Caddy (published in host mode: no IPVS here);
- an api task made unhealthy at runtime (its /health fails while /tmp/unhealthy
  exists) is replaced by Swarm with a new task within its health check's window,
  the other replica serving meanwhile: plain Docker would leave it unhealthy;
- `inv down --env swarm` removes the stack and keeps its volumes (the data), and
  `down --volumes` is refused with the reason.

Each step's time is printed (run with -s to see them)."""

from __future__ import annotations

import http.client as httpclient
import json
import ssl
import subprocess
import time

import pytest

from tests.support import prod_inv, remove_swarm_project, swarm_active

pytestmark = pytest.mark.integration


def numbers(line: str) -> None:
    print(f"\n[swarm] {line}", flush=True)


def get(port: int, path: str) -> tuple[int, dict]:
    conn = httpclient.HTTPSConnection("127.0.0.1", port, timeout=10, context=ssl._create_unverified_context())
    try:
        conn.request("GET", path, headers={"Host": "localhost"})
        found = conn.getresponse()
        return found.status, json.loads(found.read() or b"{}")
    finally:
        conn.close()


def docker(*args: str) -> str:
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=60, check=True).stdout


def tasks(project: str, service: str) -> list[dict]:
    """The service's tasks as `docker service ps` shows them (newest first)."""
    out = docker("service", "ps", "--no-trunc", "--format", "{{json .}}", f"{project}_{service}")
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def running_containers(project: str, service: str) -> list[str]:
    out = docker(
        "ps",
        "--quiet",
        "--filter",
        f"label=com.docker.swarm.service.name={project}_{service}",
        "--filter",
        "status=running",
    )
    return out.split()


@pytest.fixture(scope="module")
def stack():
    with swarm_active():
        inv = prod_inv("swarm")
        inv.env["API_REPLICAS"] = "2"
        try:
            started = time.monotonic()
            up = inv("up", "--env", "swarm", timeout=900)
            numbers(f"up: {time.monotonic() - started:.1f} s")
            yield inv, up
        finally:
            remove_swarm_project(inv)


def test_up_converges_and_serves_https_through_the_proxy(stack):
    inv, up = stack
    project = inv.env["STACKYARD_PROJECT"]
    out = up.stdout + up.stderr
    assert "$ docker stack deploy --compose-file " in out and "--resolve-image never" in out
    assert f"create secret {project}_postgres_password_" in out and inv.env["POSTGRES_PASSWORD"] not in out
    table = out[out.index("SERVICE   REPLICAS") :]
    for row in ("api       2/2", "migrate   job 1/1 complete", "db        1/1", "caddy     1/1"):
        assert row in table, table
    port = int(inv.env["HTTPS_PORT"])
    assert get(port, "/health") == (200, {"status": "ok"})
    status, ready = get(port, "/ready")
    assert status == 200 and ready["status"] == "ready", ready
    # The secrets are Swarm's, named by their content's hash; no value in any spec.
    spec = docker("service", "inspect", f"{project}_api")
    assert inv.env["POSTGRES_PASSWORD"] not in spec and f"{project}_postgres_password_" in spec
    ps = inv("ps", "--env", "swarm").stdout
    assert ("api       2/2" in ps and "8443" not in ps) or inv.env["HTTPS_PORT"] in ps


def test_an_api_task_made_unhealthy_is_replaced_while_the_other_serves(stack):
    inv, _ = stack
    project = inv.env["STACKYARD_PROJECT"]
    port = int(inv.env["HTTPS_PORT"])
    before = running_containers(project, "api")
    assert len(before) == 2
    sick = before[0]
    docker("exec", sick, "touch", "/tmp/unhealthy")
    started = time.monotonic()
    failed = ok = 0
    replaced = False
    while time.monotonic() - started < 120:
        try:
            status, _ = get(port, "/version")
            ok += status == 200
            failed += status != 200
        except OSError:
            failed += 1
        now = running_containers(project, "api")
        if sick not in now and len(now) == 2:
            replaced = True
            break
        time.sleep(0.2)
    took = time.monotonic() - started
    numbers(f"unhealthy api task replaced in {took:.1f} s; meanwhile {ok} ok, {failed} failed requests")
    assert replaced, tasks(project, "api")[:4]
    # Swarm says why it went: its health check.
    shut = [t for t in tasks(project, "api") if t["DesiredState"] == "Shutdown"]
    assert any("unhealthy" in t.get("Error", "") for t in shut), shut
    assert get(port, "/health") == (200, {"status": "ok"})


def test_down_keeps_the_volumes_and_refuses_to_remove_them(stack):
    inv, _ = stack
    project = inv.env["STACKYARD_PROJECT"]
    refused = inv("down", "--env", "swarm", "--volumes", "--confirm-data-loss", check=False)
    assert refused.returncode == 1 and "Swarm, which never removes volumes" in refused.stderr, refused.stderr
    down = inv("down", "--env", "swarm", timeout=300)
    assert f"stack {project} removed; its volumes are kept" in down.stdout
    volumes = docker("volume", "ls", "--quiet", "--filter", f"label=com.docker.stack.namespace={project}").split()
    assert f"{project}_db-data" in volumes and f"{project}_redis-data" in volumes, volumes
    services = docker("service", "ls", "--quiet", "--filter", f"label=com.docker.stack.namespace={project}")
    assert services.strip() == ""
