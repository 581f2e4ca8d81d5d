"""The deploy tasks' dry runs on the real engine: they make the read-only checks
the real run makes and fail where it would, and change nothing anywhere: the
project's containers, images, volumes, networks and lock on the engine, its
release history and backups kept there (byte for byte), and `.stackyard/` and
`backups/` here are the same afterwards.

Each test has its own project (and image names), with a release history of two
good releases whose images are on the engine, so that a rollback can be planned;
nothing runs."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess

import pytest

from tests.conftest import ROOT
from tests.support import (
    TEST_SECRETS,
    Inv,
    backup_labels,
    free_port,
    history_files,
    put_history,
    remove_state,
    state_volumes,
)

pytestmark = pytest.mark.integration

OLD = "0ff1ce0-20261121090909"
NEW = "abc1234-20261122101010"
BASE_IMAGE = os.environ.get("POSTGRES_IMAGE", "pgvector/pgvector:pg17")  # on the engine: the lock is made from it


def docker(*argv: str, check: bool = True) -> list[str]:
    proc = subprocess.run(["docker", *argv], capture_output=True, text=True, check=check)
    return sorted(proc.stdout.splitlines())


def lock_name(inv: Inv) -> str:
    return f"{inv.env['STACKYARD_PROJECT']}-deploy-lock"


def snapshot(inv: Inv) -> dict[str, object]:
    """What a deploy of this project could change, here and on the engine."""
    project = inv.env["STACKYARD_PROJECT"]
    label = f"label=com.docker.compose.project={project}"
    files = {}
    for top in (".stackyard", "backups"):
        for path in sorted((ROOT / top).rglob("*")):
            if project in path.name or project in path.parent.name:
                files[str(path.relative_to(ROOT))] = (
                    hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "dir"
                )
    return {
        "files": files,
        "containers": docker("ps", "-a", "--filter", label, "--format", "{{.Names}} {{.State}} {{.Image}}"),
        "lock": docker("ps", "-a", "--filter", f"name=^{lock_name(inv)}$", "--format", "{{.Names}} {{.Labels}}"),
        "images": docker(
            "images",
            "--filter",
            f"reference={inv.env['APP_IMAGE']}",
            "--filter",
            f"reference={inv.env['CADDY_APP_IMAGE']}",
            "--format",
            "{{.Repository}}:{{.Tag}} {{.ID}}",
        ),
        "volumes": docker("volume", "ls", "--filter", label, "--format", "{{.Name}}"),
        "networks": docker("network", "ls", "--filter", label, "--format", "{{.Name}}"),
        "state volumes": state_volumes(project),
        "history": {name: hashlib.sha256(data).hexdigest() for name, data in history_files(project).items()},
        "backups": backup_labels(project),
    }


@pytest.fixture
def project():
    inv = Inv(
        "drydeploy",
        HTTPS_PORT=str(free_port()),
        HTTP_PORT=str(free_port()),
        PUBLISH_ADDRESS="127.0.0.1",
        **TEST_SECRETS,
    )
    name = inv.env["STACKYARD_PROJECT"]
    inv.env.update(APP_IMAGE=f"{name}-app", CADDY_APP_IMAGE=f"{name}-caddy")
    images = [f"{inv.env['APP_IMAGE']}:{OLD}", f"{inv.env['CADDY_APP_IMAGE']}:{OLD}"]
    try:
        put_history(
            name,
            [{"version": v, "time": "2026-11-21T09:09:09+00:00", "who": "ci@test", "result": "ok"} for v in (OLD, NEW)],
        )
        for image in images:
            docker("tag", BASE_IMAGE, image)
        yield inv
    finally:
        remove_state(name)
        shutil.rmtree(ROOT / "backups" / name, ignore_errors=True)
        docker("rmi", *images, check=False)  # untags: the base image stays
        docker("rm", "--force", "--volumes", lock_name(inv), check=False)  # ours, if a test made one


DRY_RUNS = [
    ("--dry", "prod-deploy", "--allow-dirty"),
    ("prod-deploy", "--dry-run", "--allow-dirty"),
    ("prod-deploy", "-e", "staging", "--dry-run", "--allow-dirty"),
    ("--dry", "rollback"),
    ("rollback", "--dry-run"),
    ("rollback", OLD, "--dry-run"),
    ("--dry", "deploy.unlock", "--yes"),
]


@pytest.mark.parametrize("argv", DRY_RUNS, ids=" ".join)
def test_a_dry_run_changes_nothing_anywhere(project, argv):
    before = snapshot(project)
    assert len(before["history"]) == 2 and before["state volumes"]  # the seeded history, on the engine
    # Nothing runs in this project: a rollback, dry or not, is refused (it would start
    # the stack and its migrations); refused before it changes anything.
    proc = project(*argv, check="rollback" not in argv)
    assert snapshot(project) == before
    if "prod-deploy" in argv:
        env = "staging" if "staging" in argv else "prod"
        assert f"to {env} (project {project.env['STACKYARD_PROJECT']}):" in proc.stdout.splitlines()[0]
        assert ". preflight " in proc.stdout and ". start " in proc.stdout
    elif "rollback" in argv:
        assert proc.returncode == 1 and "(a rollback never migrates)" in proc.stderr, proc.stderr
    else:
        assert proc.stdout == f"no deploy lock on {project.env['STACKYARD_PROJECT']}\n"
    assert "==> " not in proc.stdout  # planned, not run


@pytest.mark.parametrize("argv", [("--dry", "prod-deploy"), ("prod-deploy", "--dry-run")], ids=" ".join)
def test_a_dry_run_fails_at_env_check_as_the_real_run_would(project, argv):
    project.env["POSTGRES_PASSWORD"] = "tooshort1"
    before = snapshot(project)
    dry = project(*argv, "--allow-dirty", check=False)
    assert dry.returncode == 1
    assert "ENV005: secret POSTGRES_PASSWORD too short" in dry.stdout
    assert dry.stderr.startswith("stackyard: error: env.check --env prod: ")
    assert "deploy " not in dry.stdout  # no plan: it stopped where the real run stops
    assert snapshot(project) == before


@pytest.mark.parametrize("dry", [(), ("--dry-run",)], ids=["real", "dry-run"])
def test_a_rollback_to_an_unknown_release_is_refused_naming_inv_releases(project, dry):
    before = snapshot(project)
    for argv in (("rollback", "nope", *dry), ("rollback", "--release", "nope", *dry)):
        proc = project(*argv, check=False)
        assert proc.returncode == 1, proc
        assert proc.stderr == (
            "stackyard: error: no release 'nope' in the release history of prod: `inv releases --env prod` lists them\n"
        )
    assert snapshot(project) == before


def test_a_dry_unlock_names_the_lock_it_would_remove_and_keeps_it(project):
    lock = lock_name(project)
    docker("create", "--name", lock, "--label", "dev.stackyard.lock.who=ghost@ci", BASE_IMAGE, "true")
    before = snapshot(project)
    proc = project("--dry", "deploy.unlock", "--yes")
    assert snapshot(project) == before and before["lock"]
    assert proc.stdout == "[dry-run] the lock of ghost@ci would be removed\n"
    assert f"[dry-run] $ [engine] remove container {lock} and its anonymous volumes" in proc.stderr
    proc = project("deploy.unlock", "--yes")
    assert proc.stdout == "lock of ghost@ci removed\n" and f"$ [engine] remove container {lock} " in proc.stderr
    assert snapshot(project)["lock"] == []
