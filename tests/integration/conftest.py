"""Integration tier: a real Docker engine, no mocks. Skipped (with the reason)
only when no engine answers; CI provisions one, so there it always runs."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest


def _engine_problem() -> str | None:
    if shutil.which("docker") is None:
        return "docker CLI not found"
    proc = subprocess.run(["docker", "info", "--format", "{{.ServerVersion}}"], capture_output=True, text=True)
    if proc.returncode != 0:
        return "Docker engine not reachable: " + (proc.stderr.strip().splitlines() or ["?"])[-1]
    return None


def pytest_collection_modifyitems(config, items):
    problem = _engine_problem() if any("integration" in i.keywords for i in items) else None
    # Under CI a missing engine is a failure, never a silent skip.
    required = config.getoption("--require-engine") or os.environ.get("CI") == "true"
    if problem and not required:
        for item in items:
            if "integration" in item.keywords:
                item.add_marker(pytest.mark.skip(reason=problem))
    elif problem:
        raise pytest.UsageError(f"--require-engine given, but {problem}")
