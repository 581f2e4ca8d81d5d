"""Fault 7 of #13: a hung command fails its step at the step's deadline, and the
deploy fails cleanly (the undo runs, the lock is removed, the release recorded as
failed) instead of holding the lock forever.

The injection: the proxy frozen (SIGSTOP to its process) from the health gate on,
so that the switch's `caddy reload` hangs; the switch has the shortest deadline
of the steps that run a command (plan.SWITCH_DEADLINE, 30 s). The proxy is
thawed (SIGCONT) once the undo begins: the reload stuck in it is then served
first (to the new container, still there), the undo's switch back after it."""

from __future__ import annotations

import re
import subprocess

import pytest

from stackyard.deploy.plan import SWITCH_DEADLINE
from tests.conftest import ROOT
from tests.support import (
    Background,
    containers,
    history,
    lock_held,
    prod_inv,
    remove_deploy_lock,
    remove_prod_project,
    version,
)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def prod():
    inv = prod_inv("deadlines")
    try:
        inv("prod-deploy", "--allow-dirty")
        yield inv
    finally:
        remove_deploy_lock(inv.env["STACKYARD_PROJECT"])  # a deploy killed, or left hanging by a failed test
        remove_prod_project(inv)


def signal_container(name: str, sig: str) -> None:
    subprocess.run(["docker", "kill", "--signal", sig, name], capture_output=True, text=True, check=True)


def test_a_hung_proxy_reload_fails_the_switch_at_its_deadline_and_the_deploy_cleanly(prod):
    project = prod.env["STACKYARD_PROJECT"]
    (proxy,) = containers(project, "caddy")
    serving = version(prod)
    deploy = Background(prod, "prod-deploy", "--allow-dirty")
    frozen = False
    try:
        head = deploy.until(lambda line: re.match(r"deploy \S+ to prod", line), 60, "the plan")
        release = head.split()[1]
        deploy.until(lambda line: re.match(r"==> \d+/\d+ health:", line), 300, "the health step")
        signal_container(proxy, "SIGSTOP")
        frozen = True
        deploy.until(lambda line: re.match(r"==> \d+/\d+ switch:", line), 300, "the switch step")
        # The deadline, and a margin for what follows it (stopping the command, printing).
        deploy.until(lambda line: re.match(r"<== undo \d+ switch:", line), SWITCH_DEADLINE + 30, "the switch's undo")
        signal_container(proxy, "SIGCONT")
        frozen = False
        code = deploy.finish()
    finally:
        if frozen:
            signal_container(proxy, "SIGCONT")
        if deploy.proc.poll() is None:
            deploy.proc.kill()
            deploy.finish()

    out = deploy.output
    assert code == 1, out[-4000:]
    reason = f"step switch did not finish within its deadline of {SWITCH_DEADLINE} s: "
    error = [line for line in out.splitlines() if line.startswith("stackyard: error: ")]
    assert len(error) == 1 and error[0].startswith(f"stackyard: error: deploy of {release} failed: {reason}"), out
    assert f"{serving} still serves" in error[0]
    assert re.search(r"^<== undo \d+ api: ", out, flags=re.M)
    record = history(ROOT, project)[-1]
    assert (record["version"], record["result"]) == (release, "failed")
    assert record["reason"].startswith(reason)
    assert not lock_held(project)
    assert version(prod) == serving
    assert len(containers(project, "api")) == 1
