"""`inv logs`, `inv exec` and `inv config` on a Swarm environment, for real (the
reference stack on a single-node swarm, under a project of this module's own):

- logs: one stream of two services' lines (the worker's are on stderr of
  `docker service logs`: merged too), each labelled, in time order; following,
  Ctrl-C ends it with 130, no traceback and no `docker service logs` left;
- exec: the command runs in the service's task container; its exit code is inv's;
- config: the rendered stack file names the secrets by the hash of their value and
  holds no value of any (checked against the values the test generated)."""

from __future__ import annotations

import hashlib
import os
import re
import select
import signal
import subprocess
import sys

import pytest

from tests.conftest import ROOT
from tests.support import TEST_SECRETS, prod_inv, remove_swarm_project, swarm_active

pytestmark = pytest.mark.integration

LINE = re.compile(r"(?P<label>[a-z]+)\.(?P<slot>\d+)(@\S+)? *\| (?P<time>\S+) ")  # @node: a swarm of several


@pytest.fixture(scope="module")
def stack():
    with swarm_active():
        inv = prod_inv("swio")
        inv.env["API_REPLICAS"] = "1"
        try:
            inv("up", "--env", "swarm", timeout=900)
            yield inv
        finally:
            remove_swarm_project(inv)
            leaked = [v for v in TEST_SECRETS.values() if any(v in out for out in inv.outputs)]
            assert not leaked, "a secret's value was printed"


def test_logs_of_two_services_come_in_one_stream_in_time_order(stack):
    inv = stack
    out = inv("logs", "--env", "swarm", "-s", "api,worker", "--tail", "20").stdout
    found = [m for m in map(LINE.match, out.splitlines()) if m]
    assert {m["label"] for m in found} == {"api", "worker"}, out
    assert "worker.1" in out and "celery@" in out  # celery logs on stderr: merged all the same
    times = [m["time"] for m in found]
    assert times == sorted(times)
    grep = inv("logs", "--env", "swarm", "-s", "api,worker", "--tail", "50", "--grep", "CELERY@").stdout
    assert grep.strip() and all(line.startswith("worker.1") for line in grep.splitlines())
    unknown = inv("logs", "--env", "swarm", "-s", "nope", check=False)
    assert unknown.returncode == 1 and "unknown service 'nope': services: api, caddy, db" in unknown.stderr


def test_following_logs_ends_on_ctrl_c_with_130_and_leaves_no_process(stack):
    inv = stack
    project = inv.env["STACKYARD_PROJECT"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "invoke", "logs", "--env", "swarm", "-s", "api,caddy", "--follow", "--tail", "1"],
        cwd=ROOT,
        env=inv.env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own group: Ctrl-C reaches it as a terminal sends it
    )
    try:
        ready, _, _ = select.select([proc.stdout], [], [], 60)  # never a hung test: a minute for the first line
        assert ready, "no log line within 60 s"
        first = proc.stdout.readline()
        assert first.startswith(("api.1", "caddy.1")), first
        os.killpg(proc.pid, signal.SIGINT)
        rest, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    inv.outputs.append(first + rest + err)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    left = subprocess.run(["pgrep", "-f", f"docker service logs .*{project}_"], capture_output=True, text=True)
    assert not left.stdout.strip()


def test_exec_runs_in_the_task_container_and_its_exit_code_is_invs(stack):
    inv = stack
    project = inv.env["STACKYARD_PROJECT"]
    said = inv("exec", "--env", "swarm", "api", "--", "sh", "-c", "hostname; echo in-the-api").stdout.split()
    assert said[1] == "in-the-api"
    names = subprocess.run(
        ["docker", "ps", "--filter", f"label=com.docker.swarm.service.name={project}_api", "--format", "{{.ID}}"],
        capture_output=True,
        text=True,
        timeout=30,
    ).stdout.split()
    assert any(said[0].startswith(short) or short.startswith(said[0]) for short in names), (said, names)
    assert inv("exec", "--env", "swarm", "worker", "--", "sh", "-c", "exit 7", check=False).returncode == 7
    job = inv("exec", "--env", "swarm", "migrate", "--", "true", check=False)
    assert job.returncode == 1 and "service migrate is a job" in job.stderr


def test_config_prints_the_stack_file_with_secret_names_and_no_value(stack):
    inv = stack
    project = inv.env["STACKYARD_PROJECT"]
    out = inv("config", "--env", "swarm").stdout
    for name, variable in (("postgres_password", "POSTGRES_PASSWORD"), ("redis_password", "REDIS_PASSWORD")):
        digest = hashlib.sha256(inv.env[variable].encode()).hexdigest()[:12]
        assert f"name: {project}_{name}_{digest}" in out
    assert not [v for v in TEST_SECRETS.values() if v in out]
    assert "mode: replicated-job" in out and "order: start-first" in out
    assert "# rendered from the compose config; what changed, and why:" in out
    assert "#   - migrate: deploy.mode replicated-job" in out
