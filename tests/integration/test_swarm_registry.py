"""With `registry = ...` in a swarm environment, `inv up` and `inv prod-deploy` push
the images the project builds to that registry and the stack runs them by their
names there (every node pulls them: nothing is shipped). The registry is a
throwaway one on a loopback port (tests/hosts/registry); the swarm is this
engine's, a single node."""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.request

import pytest

from tests.support import inv_in, prod_inv, registry, remove_swarm_project, swarm_active, swarm_checkout

pytestmark = [pytest.mark.integration, pytest.mark.remote]


def catalog(address: str) -> dict[str, list[str]]:
    """Each repository of the registry, with its tags."""
    with urllib.request.urlopen(f"http://{address}/v2/_catalog", timeout=10) as found:
        names = json.load(found)["repositories"]
    out = {}
    for name in names:
        with urllib.request.urlopen(f"http://{address}/v2/{name}/tags/list", timeout=10) as found:
            out[name] = sorted(json.load(found)["tags"] or [])
    return out


def images_run(project: str) -> set[str]:
    rows = subprocess.run(
        [
            "docker",
            "service",
            "ls",
            "--filter",
            f"label=com.docker.stack.namespace={project}",
            "--format",
            "{{.Image}}",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    return {row.split("@")[0] for row in rows.split()}


def test_the_images_go_through_the_registry_on_up_and_on_a_deploy(tmp_path):
    with swarm_active(), registry() as address:
        inv = prod_inv("swreg")
        project = inv.env["STACKYARD_PROJECT"]
        where = f"{address}/team"
        checkout = tmp_path / "checkout"
        swarm_checkout(checkout, f'registry = "{where}"')
        try:
            up = inv_in(inv, checkout, "up", "--env", "swarm", timeout=1200)
            out = up.stdout + up.stderr
            assert up.returncode == 0, out[-5000:]
            assert f"push: {where}/{project}-app:latest in " in out and "ship" not in out
            assert {f"{where}/{project}-app:latest", f"{where}/{project}-caddy:latest"} <= images_run(project)
            assert catalog(address) == {f"team/{project}-app": ["latest"], f"team/{project}-caddy": ["latest"]}

            deploy = inv_in(inv, checkout, "prod-deploy", "--env", "swarm", "--allow-dirty", timeout=1800)
            out = deploy.stdout + deploy.stderr
            assert deploy.returncode == 0, out[-5000:]
            release = next(
                line.split()[1] for line in out.splitlines() if line.startswith("deploy ") and " to swarm" in line
            )
            assert f"{where}/{project}-app:{release}" in images_run(project)
            assert release in catalog(address)[f"team/{project}-app"]
            assert "--with-registry-auth" in out
        finally:
            remove_swarm_project(inv)
            names = subprocess.run(
                ["docker", "images", "--format", "{{.Repository}}:{{.Tag}}"],
                capture_output=True,
                text=True,
                timeout=60,
            ).stdout.split()
            local = [name for name in names if name.startswith(f"{where}/")]
            if local:
                subprocess.run(["docker", "rmi", *local], capture_output=True, timeout=120)
            shutil.rmtree(checkout, ignore_errors=True)
