"""Fault 3, traffic before health, on the real engine: the proxy (Caddy) looks the
web service's name up on the network it shares with the web service (edge), and
only web containers that passed the health gate are ever on it: a deploy starts its
new container off edge and attaches it once healthy. So the proxy never reaches a
container before it is healthy, from the first deploy on and across a restart of
the proxy."""

from __future__ import annotations

import re
import subprocess
import time

import pytest

from stackyard import config
from stackyard.commands import compose
from tests.conftest import ROOT
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

WEB, PROXY = "api", "caddy"  # the reference stack's web service and proxy
#: A request uvicorn's access log shows as answered, from another address than the
#: container's own (its health check asks from 127.0.0.1).
ANSWERED = re.compile(r'^INFO: +(?!127\.0\.0\.1:)\S+ - "GET ', flags=re.M)


@pytest.fixture
def first():
    """A prod stack of its own, right after its first deploy."""
    inv = prod_inv("upstream")
    try:
        inv("prod-deploy", "--allow-dirty")
        yield inv
    finally:
        remove_prod_project(inv)


def docker(*args: str, timeout: float = 120) -> str:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=True, timeout=timeout).stdout


def on_edge(project: str) -> list[str]:
    """The web containers on the network the proxy shares with the web service (what its
    lookups of the service's name can answer), by `docker network inspect`."""
    names = docker("network", "inspect", f"{project}_edge", "--format", "{{range .Containers}}{{.Name}} {{end}}")
    return sorted(n for n in names.split() if f"-{WEB}-" in n)


def serving(inv: Inv) -> str:
    """The one web container that runs (a deploy leaves one)."""
    running = docker(
        "ps",
        "--filter",
        f"label=com.docker.compose.project={inv.env['STACKYARD_PROJECT']}",
        "--filter",
        f"label=com.docker.compose.service={WEB}",
        "--format",
        "{{.Names}}",
    ).split()
    assert len(running) == 1, running
    return running[0]


def answers(inv: Inv) -> str | None:
    """The version served, or None while the proxy does not answer yet."""
    try:
        return version(inv)
    except (OSError, ValueError):
        return None


def answered(container: str) -> int:
    """The requests from another address than its own that the web container answered."""
    proc = subprocess.run(["docker", "logs", container], capture_output=True, text=True, check=True, timeout=60)
    return len(ANSWERED.findall(proc.stdout + proc.stderr))


def compose_web(inv: Inv, monkeypatch: pytest.MonkeyPatch, release: str, *, start: bool) -> None:
    """One more web container of the release, beside the one serving, as the deploy's own
    command makes it (compose.scale_up, `up --no-start` or `up --detach`), the stack's
    environment as `inv` has it."""
    for key, value in inv.env.items():
        monkeypatch.setenv(key, value)
    env = config.load(ROOT).environment("prod")
    cmd = compose.for_release(compose.scale_up(env, WEB, 2, start=start), release)
    subprocess.run(cmd.argv, env={**inv.env, **cmd.env}, capture_output=True, check=True, timeout=300, cwd=ROOT)


def test_a_broken_release_right_after_a_first_deploy_gets_no_traffic(first, tmp_path):
    project = first.env["STACKYARD_PROJECT"]
    old = serving(first)
    assert on_edge(project) == [old]
    copy = tmp_path / "broken"
    copy_checkout(copy)
    api = copy / "app" / "refapp" / "api.py"
    api.write_text(api.read_text().replace('return {"status": "ok"}', 'raise RuntimeError("broken on purpose")'))
    v1 = version(first)

    with Load(int(first.env["HTTPS_PORT"])) as load:
        proc = inv_in(first, copy, "prod-deploy", "--allow-dirty", "--health-timeout", "20")

    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr
    assert f"{v1} still serves" in proc.stderr
    # The broken container ran for 20 s beside the old one, off edge: the proxy sent it none of
    # them (its /health answers 500: one would have failed).
    assert (load.failed, load.errors) == (0, 0), vars(load)
    assert load.sent > 200 and set(load.versions) == {v1}
    assert version(first) == v1 and serving(first) == old
    assert on_edge(project) == [old]
    assert history(project)[-1]["result"] == "failed"


def test_only_the_serving_container_is_on_the_proxys_network_after_a_deploy_and_a_proxy_restart(first, monkeypatch):
    project = first.env["STACKYARD_PROJECT"]
    assert on_edge(project) == [serving(first)]
    first("prod-deploy", "--allow-dirty")  # a blue/green switch: the new one attached, the old one retired
    pinned, release = serving(first), version(first)
    assert on_edge(project) == [pinned]
    assert history(project)[-1]["version"] == release

    # A web container the proxy must not reach: made as the deploy makes one (created, taken
    # off edge, started), then left healthy beside the serving one, off edge.
    compose_web(first, monkeypatch, release, start=False)
    [extra] = sorted(set(containers(project, WEB)) - {pinned})
    docker("network", "disconnect", f"{project}_edge", extra)
    compose_web(first, monkeypatch, release, start=True)
    wait_for(lambda: "(healthy)" in docker("ps", "-f", f"name={extra}", "--format", "{{.Status}}"), 120, what=extra)
    assert on_edge(project) == [pinned]  # Compose left it off edge when it started it

    [caddy] = containers(project, PROXY)
    docker("restart", "--time", "5", caddy, timeout=60)
    wait_for(lambda: answers(first), 60, interval=0.5, what="the proxy back after its restart")
    assert on_edge(project) == [pinned]

    before = answered(pinned)
    with Load(int(first.env["HTTPS_PORT"])) as load:
        time.sleep(8)
    assert (load.failed, load.errors) == (0, 0), vars(load)
    assert load.sent > 300 and set(load.versions) == {release}
    # Every request went to the serving one (its access log has them), none to the extra one.
    assert answered(pinned) - before >= load.ok
    assert answered(extra) == 0
