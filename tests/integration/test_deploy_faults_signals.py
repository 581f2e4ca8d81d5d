"""Fault 1 of #13: a deploy stopped by a signal mid-way. SIGTERM (a CI job
cancelled, `kill`) and SIGHUP (a closed terminal) take the Ctrl-C path: the undo
runs, the release is recorded as failed, the lock is removed, the old release
still serves from one api container. SIGKILL cannot be caught: the lock stays and
names its holder (pid, host, age) to the next deploy, `inv deploy.unlock --yes`
clears it, and the next deploy removes the api container the killed one left.
A second signal during the undo does not cut it short.
Each deploy is stopped while its health gate waits for the new api container."""

from __future__ import annotations

import re
import signal
import socket

import pytest

from tests.support import (
    Background,
    containers,
    deployed_prod,
    history,
    lock_held,
    version,
)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def prod():
    with deployed_prod("signals") as inv:
        yield inv


def at_health_gate(inv) -> tuple[Background, str]:
    """A deploy started, once it waits for its new api container to be healthy; its release."""
    deploy = Background(inv, "prod-deploy", "--allow-dirty")
    try:
        head = deploy.until(lambda line: re.match(r"deploy \S+ to prod", line), 60, "the plan")
        deploy.until(lambda line: re.match(r"==> \d+/\d+ health:", line), 300, "the health step")
    except BaseException:
        deploy.proc.kill()
        deploy.finish()
        raise
    return deploy, head.split()[1]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP], ids=lambda s: s.name)
def test_a_signal_mid_deploy_runs_the_undo_and_the_old_release_serves(prod, sig):
    project = prod.env["STACKYARD_PROJECT"]
    serving = version(prod)
    records = len(history(project))
    deploy, release = at_health_gate(prod)
    deploy.proc.send_signal(sig)
    deploy.until(lambda line: line.startswith("<== undo "), 60, "the undo")
    deploy.proc.send_signal(sig)  # a second one, during the undo: held until it is done
    code = deploy.finish()

    out = deploy.output
    assert code == 1, out[-4000:]
    assert re.search(r"^==> \d+/\d+ switch:", out, flags=re.M) is None  # stopped before the switch
    assert re.search(r"^<== undo \d+ api: ", out, flags=re.M), out[-4000:]  # the new container removed (below)
    assert f"stackyard: {sig.name} received during the cleanup; it finishes first" in out
    assert f"{release} recorded as failed in `inv releases`" in out
    assert f"stackyard: error: deploy of {release} failed: interrupted ({sig.name}): {serving} still serves" in out
    assert not lock_held(project)
    found = history(project)
    assert len(found) == records + 1
    assert (found[-1]["version"], found[-1]["result"], found[-1]["reason"]) == (
        release,
        "failed",
        f"interrupted ({sig.name})",
    )
    assert version(prod) == serving
    assert len(containers(project, "api")) == 1


def test_a_deploy_killed_leaves_a_lock_naming_it_and_the_next_deploy_converges(prod):
    project = prod.env["STACKYARD_PROJECT"]
    records = len(history(project))
    deploy, killed = at_health_gate(prod)
    deploy.proc.kill()  # SIGKILL: no undo can run
    deploy.finish()
    assert lock_held(project)
    assert len(containers(project, "api")) == 2  # the old one and the killed deploy's new one

    refused = prod("prod-deploy", "--allow-dirty", check=False)
    assert refused.returncode == 1
    error = refused.stderr.strip().splitlines()[-1]
    holder = re.escape(f"@{socket.gethostname()} (pid {deploy.proc.pid}) since ")
    assert re.search(rf"another deploy holds the lock: \S+{holder}\S+ \(\d+ min ago\), deploying {killed}", error)
    assert "inv deploy.unlock" in error
    assert lock_held(project) and len(containers(project, "api")) == 2  # the refused one changed nothing
    assert len(history(project)) == records

    prod("deploy.unlock", "--env", "prod", "--yes")
    assert not lock_held(project)

    proc = prod("prod-deploy", "--allow-dirty")
    release = re.search(r"^deploy (\S+) to prod", proc.stdout, flags=re.M).group(1)
    assert re.search(r"^==> \d+/\d+ converge: remove 1 leftover api container", proc.stdout, flags=re.M)
    assert version(prod) == release
    assert len(containers(project, "api")) == 1
    assert history(project)[-1]["version"] == release
    assert not lock_held(project)
