"""Fault 4 of #13: failures after the switch, on the real engine. A step after the
switch fails (in process: stackyard.deploy.run.execute with a plan whose workers
step is broken): the switch back runs and the old release serves, the new
container is removed; or the switch back fails too (a `docker` first on PATH
refuses its `docker stop` of the new container): then the new release still
serves, beside the old one (both on Caddy's network), its container is kept, and
the error and the release history say so. A SIGTERM during the
finishing steps waits until the release is retired, recorded and unlocked. Each
case asserts what serves (through the proxy), the containers, the lock, the record
and the message."""

from __future__ import annotations

import dataclasses
import io
import os
import pathlib
import re
import shlex
import shutil
import signal
import subprocess

import pytest

from stackyard import config
from stackyard.core.runner import Runner
from stackyard.deploy import actions
from stackyard.deploy import plan as deploy
from stackyard.deploy import run as deploy_run
from stackyard.deploy.proxy import CADDY_DRAIN
from stackyard.engine import roles
from stackyard.errors import StackyardError
from stackyard.session import Session
from tests.conftest import ROOT
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
    with deployed_prod("switch") as inv:
        yield inv


@pytest.fixture
def session(prod, monkeypatch) -> Session:
    """A session on the module's prod, in this process (as `inv` would make it)."""
    monkeypatch.chdir(ROOT)
    for key, value in prod.env.items():
        monkeypatch.setenv(key, value)
    project = config.load(ROOT)
    return Session(project, project.environment("prod"), Runner(echo=False), out=io.StringIO())


@dataclasses.dataclass(frozen=True)
class Broken(actions.Action):
    """A step after the switch that fails."""

    def run(self, x: actions.Deploy) -> None:
        raise StackyardError("workers broken on purpose")


def broken_after_the_switch(s: Session) -> deploy.Plan:
    """The plan of a deploy of the checkout (whatever runs: leftovers converge first), its
    workers step broken (its undo, recreating them with the old release, kept)."""
    plan = deploy_run.make_plan(s, allow_dirty=True, health_timeout=60)
    names = [step.name for step in plan.steps]
    assert names[-2:] == ["switch", "workers"], names
    steps = (*plan.steps[:-1], dataclasses.replace(plan.steps[-1], action=Broken()))
    return dataclasses.replace(plan, steps=steps)


STOP_REFUSED = """#!/bin/sh
# The switch back's `docker stop --time DRAIN` of the new container fails; all else is docker's.
if [ "$1" = stop ] && [ "$2" = --time ] && [ "$3" = {drain} ]; then
    echo "Error response from daemon: cannot stop container: $4: refused on purpose" >&2
    exit 1
fi
exec {docker} "$@"
"""


def with_switch_back_failing(monkeypatch: pytest.MonkeyPatch, bin_dir: pathlib.Path) -> None:
    """A `docker` first on this process's PATH (the session's commands') that refuses the
    switch back's stop of the new container (Caddy's: the only stop with its drain time)."""
    real = shutil.which("docker")
    assert real, "no docker CLI on PATH"
    bin_dir.mkdir()
    wrapper = bin_dir / "docker"
    wrapper.write_text(STOP_REFUSED.format(drain=CADDY_DRAIN, docker=shlex.quote(real)))
    wrapper.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")


def execute(s: Session, plan: deploy.Plan) -> StackyardError:
    with pytest.raises(StackyardError) as err:
        deploy_run.execute(plan, actions.Deploy(s))
    return err.value


def api_images(project: str) -> dict[str, str]:
    """The api containers, each with its release (its image's tag)."""
    out = {}
    for name in containers(project, "api"):
        image = subprocess.run(
            ["docker", "inspect", "--format", "{{.Config.Image}} {{.State.Status}}", name],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        assert image[1] == "running", (name, image)
        out[name] = image[0].rsplit(":", 1)[1]
    return out


def test_a_failure_after_the_switch_switches_back_and_the_old_release_serves(prod, session):
    project = session.env.project
    plan = broken_after_the_switch(session)

    err = execute(session, plan)

    assert str(err).startswith(
        f"deploy of {plan.release} failed: workers broken on purpose: {plan.previous} still serves; "
        f"the schema was migrated by {plan.release}"
    )
    assert version(prod) == plan.previous
    assert list(api_images(project).values()) == [plan.previous]  # the new container removed
    assert not lock_held(project)
    record = history(project)[-1]
    assert (record["version"], record["result"], record["reason"]) == (
        plan.release,
        "failed",
        "workers broken on purpose",
    )


def test_a_switch_back_that_fails_leaves_the_new_release_serving_and_says_so(prod, session, monkeypatch, tmp_path):
    project = session.env.project
    plan = broken_after_the_switch(session)
    with_switch_back_failing(monkeypatch, tmp_path / "bin")

    err = execute(session, plan)

    said = (
        f"deploy of {plan.release} failed: workers broken on purpose: {plan.previous} and {plan.release} serve: "
        f"switching back to {plan.previous} failed: `docker stop --time ...` exited 1: Error response from daemon: "
        f"cannot stop container: {project}-api-"
    )
    assert str(err).startswith(said), str(err)
    assert str(err).endswith(": refused on purpose")
    # What the error says serves, serves: both, each on the proxy's network.
    assert {version(prod) for _ in range(40)} == {plan.previous, plan.release}
    running = api_images(project)
    assert sorted(running.values()) == sorted([plan.previous, plan.release])  # both kept: none removed under traffic
    assert f"kept {project}-api-" in session.out.getvalue()
    assert not lock_held(project)
    record = history(project)[-1]
    assert (record["version"], record["result"]) == (plan.release, "failed-serving")
    assert record["reason"].startswith(
        f"workers broken on purpose; {plan.previous} and {plan.release} serve: switching back"
    )

    # The next deploy keeps the container that serves, and removes the other one first.
    new = next(name for name, tag in running.items() if tag == plan.release)
    old = next(name for name, tag in running.items() if tag == plan.previous)
    rows = deploy_run.web_rows(session, roles.resolve(session.project.roles, session.config()))
    assert deploy_run.keep_one(rows, plan.release) == ([new], [old])
    dry = prod("prod-deploy", "--dry-run", "--allow-dirty")
    assert f", replacing {plan.release}:" in dry.stdout.splitlines()[0]
    assert re.search(rf"converge +remove 1 leftover api container \({old}\); point caddy at {new} first", dry.stdout)


def test_a_sigterm_during_the_finishing_steps_waits_until_recorded_and_unlocked(prod):
    project = prod.env["STACKYARD_PROJECT"]
    run = Background(prod, "prod-deploy", "--allow-dirty", "--health-timeout", "60")
    try:
        run.until(lambda line: re.match(r"==> \d+/\d+ retire: ", line), 600, "the retire step")
        run.proc.send_signal(signal.SIGTERM)
    finally:
        code = run.finish()
    assert code == 128 + signal.SIGTERM, run.output[-3000:]
    record = history(project)[-1]
    assert record["result"] == "ok"
    assert run.output.strip().splitlines()[-1] == (
        f"stackyard: error: {record['version']} serves prod; SIGTERM came during the finishing steps: held until "
        f"they were done: `inv ps --env prod` shows what runs; the next deploy removes a container left over"
    )
    steps = [line.split(":")[0].split(" ", 2)[2] for line in run.lines if line.startswith("==> ")]
    assert steps[-3:] == ["retire", "record", "unlock"]
    assert not [line for line in run.lines if line.startswith("<== ")]  # nothing undone
    assert list(api_images(project).values()) == [record["version"]]
    assert version(prod) == record["version"]
    assert not lock_held(project)
