"""Fault 3, traffic before health, on the real engine: the proxy points at a web
container that passed the health gate, by its name, from the first deploy on and
across a restart of the proxy; never at the web service's DNS alias, which covers
a new container from the moment it is created, healthy or not."""

from __future__ import annotations

import json
import subprocess
import time

import pytest

from tests.support import (
    Inv,
    Load,
    containers,
    copy_checkout,
    history,
    inv_in,
    prod_inv,
    remove_prod_project,
    version,
    wait_for,
)

pytestmark = pytest.mark.integration

WEB, PROXY, PORT = "api", "caddy", 8000  # the reference stack's web service and proxy


@pytest.fixture
def first():
    """A prod stack of its own, right after its first deploy."""
    inv = prod_inv("upstream")
    try:
        inv("prod-deploy", "--allow-dirty")
        yield inv
    finally:
        remove_prod_project(inv)


def upstreams(project: str) -> list[str]:
    """The upstreams of the proxy's live config (Caddy's admin API, inside its container)."""
    [caddy] = containers(project, PROXY)
    argv = ["docker", "exec", caddy, "wget", "-qO-", "http://127.0.0.1:2019/config/"]
    config = json.loads(subprocess.run(argv, capture_output=True, text=True, check=True, timeout=30).stdout)
    found: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            found.extend([node["dial"]] if isinstance(node.get("dial"), str) else [])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(config)
    return found


def serving(inv: Inv) -> str:
    """The one web container that runs (a deploy leaves one)."""
    running = subprocess.run(
        ["docker", "ps", "--filter", f"label=com.docker.compose.project={inv.env['STACKYARD_PROJECT']}"]
        + ["--filter", f"label=com.docker.compose.service={WEB}", "--format", "{{.Names}}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert len(running) == 1, running
    return running[0]


def answers(inv: Inv) -> str | None:
    """The version served, or None while the proxy does not answer yet."""
    try:
        return version(inv)
    except (OSError, ValueError):
        return None


def test_a_broken_release_right_after_a_first_deploy_gets_no_traffic(first, tmp_path):
    project = first.env["STACKYARD_PROJECT"]
    old = serving(first)
    assert upstreams(project) == [f"{old}:{PORT}"]  # pinned by the first deploy, not the alias
    copy = tmp_path / "broken"
    copy_checkout(copy)
    api = copy / "app" / "refapp" / "api.py"
    api.write_text(api.read_text().replace('return {"status": "ok"}', 'raise RuntimeError("broken on purpose")'))
    v1 = version(first)

    with Load(int(first.env["HTTPS_PORT"])) as load:
        proc = inv_in(first, copy, "prod-deploy", "--allow-dirty", "--health-timeout", "20")

    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr
    assert "still serves" in proc.stderr
    # The broken container ran for 20 s beside the old one, under the alias: it answered none of them.
    assert (load.failed, load.errors) == (0, 0), vars(load)
    assert load.sent > 200 and set(load.versions) == {v1}
    assert version(first) == v1 and serving(first) == old
    assert upstreams(project) == [f"{old}:{PORT}"]
    assert history(copy, project)[-1]["result"] == "failed"


def test_a_restarted_proxy_comes_back_on_the_pinned_container_not_the_alias(first):
    project = first.env["STACKYARD_PROJECT"]
    pinned = serving(first)
    [caddy] = containers(project, PROXY)
    image = subprocess.run(
        ["docker", "inspect", "--format", "{{.Config.Image}}", pinned], capture_output=True, text=True, check=True
    ).stdout.strip()
    # What a scaled-up web container is to the proxy: one more address of the alias. This
    # one is unhealthy and answers 503 to everything: any request it gets fails.
    intruder = f"{project}-{WEB}-intruder"
    answer_503 = (
        "import http.server as h\n"
        "class H(h.BaseHTTPRequestHandler):\n"
        "    def do_GET(self):\n"
        "        self.send_response(503); self.send_header('content-length', '0'); self.end_headers()\n"
        f"h.ThreadingHTTPServer(('', {PORT}), H).serve_forever()\n"
    )
    run = ["docker", "run", "--detach", "--name", intruder, "--network", f"{project}_edge"]
    run += ["--network-alias", WEB, "--health-cmd", "exit 1", "--health-interval", "2s", "--entrypoint", "python"]
    subprocess.run([*run, image, "-c", answer_503], capture_output=True, check=True)
    try:
        wait_for(
            lambda: (
                "unhealthy"
                in subprocess.run(["docker", "ps", "-f", f"name={intruder}"], capture_output=True, text=True).stdout
            ),
            60,
            what=f"{intruder} unhealthy",
        )
        subprocess.run(["docker", "restart", "--time", "5", caddy], capture_output=True, check=True, timeout=60)
        wait_for(lambda: answers(first), 60, interval=0.5, what="the proxy back after its restart")

        assert upstreams(project) == [f"{pinned}:{PORT}"]
        with Load(int(first.env["HTTPS_PORT"])) as load:
            time.sleep(8)
        assert (load.failed, load.errors) == (0, 0), vars(load)
        assert load.sent > 300
        logs = subprocess.run(["docker", "logs", caddy], capture_output=True, text=True, check=True)
        assert f"upstream {pinned}:{PORT}, pinned by the last deploy" in logs.stdout + logs.stderr
        # It logs every request it answers (http.server, on stderr): none came.
        served = subprocess.run(["docker", "logs", intruder], capture_output=True, text=True, check=True)
        assert '"GET ' not in served.stdout + served.stderr
    finally:
        subprocess.run(["docker", "rm", "--force", intruder], capture_output=True)
