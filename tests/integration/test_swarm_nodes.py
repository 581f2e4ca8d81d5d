"""Two nodes: a second Docker host (tests/hosts/remote-host) joins this engine's swarm
as a worker. `inv up --env swarm` with `nodes = [its address]` ships the stack's
images to it (no registry), the worker service runs its replica there, and a job
queued through the API (HTTPS through Caddy, on this node) is processed on it,
across the overlay network. In `nox -s remote` (a second host: outside the
default set). Each step's time is printed (run with -s)."""

from __future__ import annotations

import http.client as httpclient
import json
import shutil
import ssl
import subprocess
import time

import pytest

from tests.support import inv_in, prod_inv, remote_host, remove_swarm_project, swarm_active, swarm_checkout

pytestmark = [pytest.mark.integration, pytest.mark.remote]


def numbers(line: str) -> None:
    print(f"\n[swarm-nodes] {line}", flush=True)


def docker(*args: str, check: bool = True) -> str:
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=300, check=check).stdout


def request(port: int, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
    conn = httpclient.HTTPSConnection("127.0.0.1", port, timeout=10, context=ssl._create_unverified_context())
    try:
        data = json.dumps(body).encode() if body is not None else None
        conn.request(method, path, body=data, headers={"Host": "localhost", "Content-Type": "application/json"})
        found = conn.getresponse()
        return found.status, json.loads(found.read() or b"{}")
    finally:
        conn.close()


def test_a_worker_node_gets_the_images_runs_the_worker_and_processes_a_job(tmp_path):
    with swarm_active(), remote_host("swnode") as node:
        inv = prod_inv("swnodes")
        project = inv.env["STACKYARD_PROJECT"]
        checkout = tmp_path / "checkout"
        swarm_checkout(checkout, f'nodes = ["{node["host"]}"]')
        token = docker("swarm", "join-token", "--quiet", "worker").strip()
        manager = docker("info", "--format", "{{.Swarm.NodeAddr}}").strip()
        joined = subprocess.run(
            ["docker", "-H", node["host"], "swarm", "join", "--token", token, f"{manager}:2377"],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert joined.returncode == 0, joined.stderr
        worker_node = docker("node", "ls", "--filter", "role=worker", "--format", "{{.ID}} {{.Hostname}}").split()
        node_id = worker_node[0]
        try:
            started = time.monotonic()
            up = inv_in(inv, checkout, "up", "--env", "swarm", timeout=1800)
            out = up.stdout + up.stderr
            assert up.returncode == 0, out[-5000:]
            numbers(f"up with a worker node: {time.monotonic() - started:.1f} s")
            for line in out.splitlines():
                if line.startswith(("ship: ", "ship to ")):
                    numbers(f"  {line}")
            assert f"ship to {node['host']}:" in out and "ship: 4 images sent" in out
            # The worker service's replica goes to the worker node.
            docker(
                "service", "update", "--detach=false", "--constraint-add", f"node.id=={node_id}", f"{project}_worker"
            )
            where = docker(
                "service", "ps", "--filter", "desired-state=running", "--format", "{{.Node}}", f"{project}_worker"
            )
            assert where.split() == [worker_node[1]], where
            # A job queued through the API on this node is processed there.
            port = int(inv.env["HTTPS_PORT"])
            status, job = request(port, "POST", "/jobs", {"numbers": [1, 2, 3, 4]})
            assert status == 202, job
            started = time.monotonic()
            while time.monotonic() - started < 60:
                status, found = request(port, "GET", f"/jobs/{job['id']}")
                if found.get("status") == "done":
                    break
                time.sleep(0.5)
            numbers(f"job processed on the worker node in {time.monotonic() - started:.1f} s: {found}")
            assert found["status"] == "done" and found["result"]["sum"] == 10, found
            containers = subprocess.run(
                [
                    "docker",
                    "-H",
                    node["host"],
                    "ps",
                    "--quiet",
                    "--filter",
                    f"label=com.docker.swarm.service.name={project}_worker",
                ],
                capture_output=True,
                text=True,
                timeout=60,
            ).stdout.split()
            assert containers, "no worker container on the worker node"
            logs = subprocess.run(
                ["docker", "-H", node["host"], "logs", containers[0]], capture_output=True, text=True, timeout=60
            )
            assert job["id"] in logs.stdout + logs.stderr
        finally:
            remove_swarm_project(inv)
            subprocess.run(
                ["docker", "-H", node["host"], "swarm", "leave", "--force"], capture_output=True, timeout=120
            )
            subprocess.run(["docker", "node", "rm", "--force", node_id], capture_output=True, timeout=120)
            shutil.rmtree(checkout, ignore_errors=True)
