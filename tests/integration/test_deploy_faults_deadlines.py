"""Fault 7 of #13: a hung command fails its step at the step's deadline, and the
deploy fails cleanly (the undo runs, the lock is removed, the release recorded as
failed) instead of holding the lock forever.

The injection: the deploy runs with a `docker` first on its PATH that hangs on
`docker network connect` (as a CLI stuck on an engine that does not answer) and runs
the real docker CLI for everything else; so the switch, which attaches the new
container to the proxy's network (deploy/proxy.py, Caddy), hangs. It has the shortest
deadline of the steps that run a command (plan.SWITCH_DEADLINE, 30 s). The switch
back is a `docker stop` of the new container: the real CLI's.
"""

from __future__ import annotations

import copy
import os
import pathlib
import re
import shlex
import shutil
import subprocess
import time

import pytest

from stackyard.deploy.plan import SWITCH_DEADLINE
from tests.support import (
    Background,
    Inv,
    containers,
    deployed_prod,
    history,
    lock_held,
    version,
)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def prod():
    with deployed_prod("deadlines") as inv:
        yield inv


HANGS_ON_CONNECT = """#!/bin/sh
# `docker network connect` hangs (until the deploy's deadline stops it); all else is docker's.
if [ "$1" = network ] && [ "$2" = connect ]; then
    exec sleep 3600
fi
exec {docker} "$@"
"""


def hanging_connect(inv: Inv, bin_dir: pathlib.Path) -> Inv:
    """`inv` with a `docker` first on its PATH that hangs on `network connect`."""
    real = shutil.which("docker")
    assert real, "no docker CLI on PATH"
    bin_dir.mkdir()
    wrapper = bin_dir / "docker"
    wrapper.write_text(HANGS_ON_CONNECT.format(docker=shlex.quote(real)))
    wrapper.chmod(0o755)
    hung = copy.copy(inv)
    hung.env = {**inv.env, "PATH": f"{bin_dir}{os.pathsep}{inv.env.get('PATH', os.defpath)}"}
    return hung


def on_edge(project: str) -> list[str]:
    """The api containers on the network the proxy shares with them (what its lookups answer)."""
    argv = ["docker", "network", "inspect", f"{project}_edge", "--format", "{{range .Containers}}{{.Name}} {{end}}"]
    names = subprocess.run(argv, capture_output=True, text=True, check=True, timeout=60).stdout.split()
    return sorted(n for n in names if "-api-" in n)


def test_a_hung_network_connect_fails_the_switch_at_its_deadline_and_the_deploy_cleanly(prod, tmp_path):
    project = prod.env["STACKYARD_PROJECT"]
    serving = version(prod)
    [old] = containers(project, "api")
    deploy = Background(hanging_connect(prod, tmp_path / "bin"), "prod-deploy", "--allow-dirty")
    try:
        head = deploy.until(lambda line: re.match(r"deploy \S+ to prod", line), 60, "the plan")
        release = head.split()[1]
        deploy.until(lambda line: re.match(r"==> \d+/\d+ switch:", line), 600, "the switch step")
        began = time.monotonic()
        # The deadline, and a margin for what follows it (stopping the command, printing).
        deploy.until(lambda line: re.match(r"<== undo \d+ switch:", line), SWITCH_DEADLINE + 30, "the switch's undo")
        waited = time.monotonic() - began
        code = deploy.finish()
    finally:
        if deploy.proc.poll() is None:
            deploy.proc.kill()
            deploy.finish()

    out = deploy.output
    assert code == 1, out[-4000:]
    assert SWITCH_DEADLINE - 1 <= waited <= SWITCH_DEADLINE + 30, waited
    reason = (
        f"step switch did not finish within its deadline of {SWITCH_DEADLINE} s: `docker network connect ...` "
        f"did not finish within {SWITCH_DEADLINE} s and was stopped"
    )
    error = [line for line in out.splitlines() if line.startswith("stackyard: error: ")]
    assert len(error) == 1 and error[0].startswith(f"stackyard: error: deploy of {release} failed: {reason}"), out
    assert f"{serving} still serves" in error[0]
    # The undo: the switch back (the new container stopped), then the new container removed.
    assert re.search(r"^<== undo \d+ api: ", out, flags=re.M)
    record = history(project)[-1]
    assert (record["version"], record["result"]) == (release, "failed")
    assert record["reason"].startswith(reason)
    assert not lock_held(project)
    assert version(prod) == serving
    assert containers(project, "api") == [old]
    assert on_edge(project) == [old]
