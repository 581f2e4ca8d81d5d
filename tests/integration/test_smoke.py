"""`python -m stackyard.smoke` (what `nox -s smoke` runs): a failing run reports
the check, the response and the logs, and leaves nothing of its project behind;
so does Ctrl-C; prod passes through Caddy over HTTPS."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.integration

BROKEN = ROOT / "tests" / "fixtures" / "broken-stack"


def smoke(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STACKYARD_")}
    return subprocess.run(
        [sys.executable, "-m", "stackyard.smoke", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def project_of(output: str) -> str:
    return re.search(r"as project (\S+) \(removed at the end\)", output).group(1)


def leftovers(project: str) -> dict[str, str]:
    label = f"label=com.docker.compose.project={project}"
    found = {}
    for kind, argv in {
        "containers": ["docker", "ps", "-aq"],
        "networks": ["docker", "network", "ls", "-q"],
        "volumes": ["docker", "volume", "ls", "-q"],
    }.items():
        out = subprocess.run([*argv, "--filter", label], capture_output=True, text=True, check=True).stdout.strip()
        if out:
            found[kind] = out
    return found


def test_a_failing_check_is_reported_and_nothing_is_left():
    proc = smoke("--root", str(BROKEN))
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out
    assert "smoke: FAIL health: smoke check 'health' failed: GET /health -> 500" in out
    assert "broken on purpose" in out  # the response it got
    assert "--- web: last 30 log lines ---" in out
    assert re.search(r"timings: build [\d.]+s, up [\d.]+s, checks [\d.]+s, down [\d.]+s", out)
    assert leftovers(project_of(out)) == {}


def test_ctrl_c_tears_down_what_was_started():
    env = {k: v for k, v in os.environ.items() if not k.startswith("STACKYARD_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "stackyard.smoke", "--root", str(BROKEN)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines = []
    try:
        for line in proc.stdout:
            lines.append(line)
            if "Container" in line and ("Started" in line or "Healthy" in line or "Waiting" in line):
                break
        time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        rest, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    out = "".join(lines) + rest
    assert proc.returncode == 130, out
    assert "interrupted: tearing down" in out and "Traceback" not in out
    assert leftovers(project_of(out)) == {}


def test_prod_smoke_passes_through_caddy():
    proc = smoke("--env", "prod")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    assert re.search(r"checking https://127\.0\.0\.1:\d+ \(Host: localhost\)", out)
    for check in ("health", "ready", "jobs", "cache"):
        assert f"smoke: ok   {check}" in out
    assert leftovers(project_of(out)) == {}
