"""Targets and shipping, on a second Docker host reached over SSH (tests/hosts/remote-host:
a privileged container with its own dockerd and sshd, its own image store, no registry).

- The deploy's ship step sends the reference app's images, built on this machine, and
  the images the stack pulls, to the host: afterwards each has the same image ID on both
  engines; a second ship sends nothing; a release whose build changed nothing is only
  tagged there.
- `inv up`, `inv ps` and `inv down` of a small stack act on the host an environment's
  `host` names (pyproject.toml), and `--host` overrides it. (The reference stack's dev
  environment bind-mounts the source, which a remote engine does not have: a stack of
  one pulled image stands in for it.)"""

from __future__ import annotations

import io
import os
import subprocess
import sys

import pytest

from stackyard import config
from stackyard.core.runner import Runner
from stackyard.deploy import actions
from stackyard.deploy import plan as deploy
from stackyard.deploy import run as deploy_run
from stackyard.engine import api, ship
from stackyard.session import Session
from tests.conftest import ROOT
from tests.support import TEST_SECRETS, Stack, remote_host, unique_project

# A second Docker host (tests/hosts/remote-host): `nox -s remote`, outside the default set (CI time).
pytestmark = [pytest.mark.integration, pytest.mark.remote]


@pytest.fixture(scope="module")
def host():
    """A fresh remote host of its own, removed at the end; its ssh wrapper first on PATH."""
    with remote_host("ship") as found:
        yield found


@pytest.fixture(scope="module")
def release():
    """The reference app's prod images, built on this machine under names of their own
    (removed at the end): (tag, {variable: repository})."""
    stack = Stack.make("prod", "ship")
    names = {"APP_IMAGE": f"{stack.project}-app", "CADDY_APP_IMAGE": f"{stack.project}-caddy"}
    tag = "r1"
    try:
        proc = subprocess.run(
            stack.argv("build"),
            env={**stack.environ(), **names, "APP_TAG": tag},
            capture_output=True,
            text=True,
            timeout=1800,
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr
        yield tag, names
    finally:
        refs = [f"{repo}:{t}" for repo in names.values() for t in ("r1", "r2")]
        subprocess.run(["docker", "rmi", *refs], capture_output=True, timeout=120)


def session(target: str, names: dict[str, str]) -> Session:
    """A prod session whose target is the remote host; its echoes kept."""
    project = config.load(ROOT)
    s = Session(project, project.environment("prod"), Runner(out=io.StringIO(), target=target), out=io.StringIO())
    s.add_variables({**TEST_SECRETS, **names})
    return s


def ship_step(s: Session, tag: str) -> tuple[deploy.Step, deploy.Target]:
    """The deploy plan's ship step for release `tag`, made as `inv prod-deploy` makes it."""
    target = deploy_run.remote_target(s, "deploy", tag, "local")
    assert target is not None
    build, ship_ = deploy.build_steps(s.env, tag, target)
    assert build.action.commands()[0].local_engine and ship_.name == "ship"
    return ship_, target


def run(step: deploy.Step, s: Session) -> str:
    x = actions.Deploy(s)
    x.deadline = step.deadline
    step.action.run(x)
    return s.out.getvalue() + s.runner.out.getvalue()


def test_the_ship_sends_what_the_host_lacks_the_ids_match_and_the_second_time_nothing(host, release):
    tag, names = release
    s = session(host["host"], names)
    assert s.remote
    step, target = ship_step(s, tag)
    refs = [i.ref for i in target.images]
    assert refs == [
        f"{names['APP_IMAGE']}:{tag}",
        f"{names['CADDY_APP_IMAGE']}:{tag}",
        os.environ.get("POSTGRES_IMAGE", "pgvector/pgvector:pg17"),
        os.environ.get("REDIS_IMAGE", "redis:8"),
    ]
    assert [i.need for i in target.images] == [ship.SEND] * 4  # a host that has never seen anything
    assert [line.split(" (")[0] for line in step.detail] == [f"send {ref}" for ref in refs]

    out = run(step, s)
    local, remote = s.local_engine(), s.engine()
    for ref in refs:
        assert api.inspect_image(remote, ref)["Id"] == api.inspect_image(local, ref)["Id"], ref
        assert f"$ [engine] load {ref} into the target's engine, streamed from this machine's" in out
        assert f"  sent {ref}: " in out
    summary = out.split("ship: 4 images sent, ", 1)[1].splitlines()[0]
    assert summary.endswith("MB/s)")
    print(f"first ship: {summary}", file=sys.stderr)

    # The second time, the host has them all, with the same IDs: nothing goes.
    s = session(host["host"], names)
    step, target = ship_step(s, tag)
    assert [i.need for i in target.images] == [ship.CURRENT] * 4
    out = run(step, s)
    assert "ship: nothing sent; 4 already on the target" in out
    assert "$ [engine] load" not in out

    # A release whose build changed nothing (the same image IDs, another tag): only named there.
    for repo in names.values():
        subprocess.run(["docker", "tag", f"{repo}:{tag}", f"{repo}:r2"], check=True, timeout=60)
    s = session(host["host"], names)
    step, target = ship_step(s, "r2")
    assert [i.need for i in target.images] == [ship.TAG, ship.TAG, ship.CURRENT, ship.CURRENT]
    out = run(step, s)
    assert "ship: nothing sent; 2 tagged there (nothing sent); 2 already on the target" in out
    for repo in names.values():
        assert (
            api.inspect_image(s.engine(), f"{repo}:r2")["Id"] == api.inspect_image(s.local_engine(), f"{repo}:r2")["Id"]
        )


COMPOSE = """\
services:
  cache:
    image: ${REDIS_IMAGE:-redis:8}
    command: ["redis-server", "--save", "", "--appendonly", "no"]
    healthcheck:
      test: ["CMD", "redis-cli", "ping"]
      interval: 1s
      timeout: 3s
      retries: 30
"""


def test_up_ps_and_down_act_on_the_environments_host_and_host_overrides_it(host, tmp_path):
    # The stack's one image, shipped first: the host has no registry to pull it from.
    s = session(host["host"], {})
    image = os.environ.get("REDIS_IMAGE", "redis:8")
    local, remote = s.local_engine(), s.engine()
    ship.ship(
        local,
        remote,
        ship.look(local, remote, (), [image]),
        change=lambda what, do: do(),
        say=lambda line: None,
        clock=lambda: 0.0,
        until=float("inf"),
    )
    root = tmp_path / "remote-stack"
    (root / "compose").mkdir(parents=True)
    (root / "compose" / "compose.yaml").write_text(COMPOSE)
    (root / "compose" / "compose.dev.yaml").write_text("services: {}\n")
    (root / "pyproject.toml").write_text(
        f'[tool.stackyard]\nname = "remote-stack"\n\n[tool.stackyard.environments.dev]\nhost = "{host["host"]}"\n'
    )
    (root / "tasks.py").write_text("from stackyard.tasks import namespace\n\nns = namespace\n")
    project = unique_project("remote")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STACKYARD_", "DOCKER_HOST"))}
    env["STACKYARD_PROJECT"] = project

    def inv(*args: str) -> str:
        proc = subprocess.run(
            [sys.executable, "-m", "invoke", *args], cwd=root, env=env, capture_output=True, text=True, timeout=300
        )
        assert proc.returncode == 0, f"inv {' '.join(args)}: {proc.stdout}{proc.stderr}"
        return proc.stdout + proc.stderr

    def containers(*where: str) -> list[str]:
        argv = ["docker", *where, "ps", "--all", "--filter", f"label=com.docker.compose.project={project}"]
        return subprocess.run([*argv, "--format", "{{.Names}}"], capture_output=True, text=True, env=env).stdout.split()

    try:
        inv("up", "--no-build", "--timeout", "60")
        assert containers("-H", host["host"]) == [f"{project}-cache-1"]  # on the host...
        assert containers() == []  # ...not here
        status = inv("ps")
        assert "cache    running  healthy" in status and "dev is up" in status
        # --host wins over the environment's host: this machine's engine runs nothing of it.
        local = inv("ps", "--host", "unix:///var/run/docker.sock")
        assert f"no containers in project {project}" in local.lower()
        inv("down")
        assert containers("-H", host["host"]) == []
    finally:
        subprocess.run(
            ["docker", "-H", host["host"], "compose", "-p", project, "down", "--timeout", "5"],
            capture_output=True,
            env=env,
            timeout=120,
        )
