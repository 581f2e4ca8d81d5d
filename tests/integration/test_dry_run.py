"""`inv --dry TASK` changes nothing, anywhere: for every task of `inv --list`,
on a running stack with a backup kept on the engine, the engine (containers,
volumes, images of the project, the backups and release history stackyard keeps
there), `.stackyard/`, `backups/`, `env/`, `pyproject.toml` and `tasks.py` are the
same byte for byte afterwards, and no command ran inside a container."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import uuid

import pytest

from tests.conftest import ROOT
from tests.support import TEST_SECRETS, Inv, backup_labels, free_port, history_files, remove_state, state_volumes

pytestmark = pytest.mark.integration

MARKER = "/tmp/stackyard-dry-run-marker"
# Every task, with arguments that would change something if it ran for real.
DRY_CALLS = [
    ["dev"],
    ["up", "--services", "api"],
    ["down", "--volumes"],
    ["ps"],
    ["build"],
    ["restart"],
    ["config"],
    ["logs", "--tail", "5"],
    ["exec", "api", "--", "touch", MARKER],
    ["shell", "api"],
    ["doctor"],
    ["hybrid", "--down"],
    ["prod-deploy", "--env", "dev", "--allow-dirty"],
    ["rollback", "--env", "dev"],
    ["releases", "--env", "dev"],
    ["env.show"],
    ["env.explain", "POSTGRES_PASSWORD"],
    ["env.diff", "dev", "prod"],
    ["env.init", "--force"],
    ["env.check"],
    ["deploy.unlock", "--env", "dev", "--yes"],
    ["db.backup"],
    ["db.backup", "--download"],
    ["db.backups"],
    ["db.backups", "--download", "latest"],
    ["db.restore", "DUMP", "--confirm-data-loss"],
    ["db.restore", "latest", "--confirm-data-loss"],
    ["db.shell"],
    ["db.migrate"],
    ["init", "--force"],
    ["bundle.write", "--env", "prod"],
    ["bundle.verify", "DUMP"],
    ["host.check", "--env", "dev"],
    ["swarm.init"],
    ["swarm.join-token"],
]


def files_under(*names: str) -> dict[str, str]:
    out = {f: hashlib.sha256((ROOT / f).read_bytes()).hexdigest() for f in ("pyproject.toml", "tasks.py")}
    for name in names:
        for path in sorted((ROOT / name).rglob("*")):
            if path.is_file():
                out[str(path.relative_to(ROOT))] = hashlib.sha256(path.read_bytes()).hexdigest()
        out[name + "/ exists"] = str((ROOT / name).exists())
    return out


def docker(*args: str) -> str:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=True, timeout=60).stdout


def engine_state(project: str, image: str) -> dict[str, str]:
    return {
        "containers": docker("ps", "--all", "--filter", f"name={project}", "--format", "{{.Names}} {{.State}} {{.ID}}"),
        "volumes": docker("volume", "ls", "--filter", f"label=com.docker.compose.project={project}", "--quiet"),
        "images": docker("image", "ls", image, "--format", "{{.ID}} {{.Tag}}"),
        "networks": docker("network", "ls", "--filter", f"label=com.docker.compose.project={project}", "--quiet"),
        "state volumes": "\n".join(state_volumes(project)),
        "backups": json.dumps(backup_labels(project)),
        "history": json.dumps(
            {name: hashlib.sha256(data).hexdigest() for name, data in history_files(project).items()}
        ),
    }


@pytest.fixture(scope="module")
def stack():
    image = f"sy-dry-{uuid.uuid4().hex[:8]}"
    inv = Inv(
        "dry",
        API_PORT=str(free_port()),
        DB_PORT=str(free_port()),
        REDIS_PORT=str(free_port()),
        APP_IMAGE=image,
        **TEST_SECRETS,
    )
    try:
        inv("dev")
        inv("db.backup")  # one kept on the engine: the dry db.backups --download and db.restore find it
        yield inv, image
    finally:
        inv("down", "--volumes", check=False, timeout=180)
        remove_state(inv.env["STACKYARD_PROJECT"])
        subprocess.run(["docker", "image", "rm", f"{image}:latest", f"{image}:dev"], capture_output=True, timeout=60)


def test_every_task_is_listed_here():
    listed = json.loads(
        subprocess.run(
            [sys.executable, "-m", "invoke", "--list", "--list-format", "json"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    names = {t["name"] for t in listed["tasks"]} | {
        f"{c['name']}.{t['name']}" for c in listed["collections"] for t in c["tasks"]
    }
    assert names == {call[0] for call in DRY_CALLS}


def test_a_dry_run_of_every_task_changes_nothing(stack, tmp_path):
    inv, image = stack
    dump = tmp_path / "some.dump"
    dump.write_bytes(b"not really a dump")
    project = inv.env["STACKYARD_PROJECT"]
    before_files = files_under(".stackyard", "backups", "env", "dist")
    before_engine = engine_state(project, image)
    assert before_engine["state volumes"] and before_engine["backups"] != "{}"
    saved_env = {p: p.read_bytes() for p in (ROOT / "env").glob("*") if p.is_file()}
    try:
        for call in DRY_CALLS:
            args = [str(dump) if a == "DUMP" else a for a in call]
            proc = inv("--dry", *args, check=False, timeout=300)
            assert "Traceback" not in proc.stderr, (args, proc.stderr)
            assert files_under(".stackyard", "backups", "env", "dist") == before_files, args
            assert not (ROOT / "backups" / project).exists(), args  # not even an empty folder
            assert engine_state(project, image) == before_engine, args
    finally:
        for path, data in saved_env.items():  # a failing dry env.init must not cost the developer a file
            if not path.exists() or path.read_bytes() != data:
                path.write_bytes(data)
    ran = subprocess.run(["docker", "exec", f"{project}-api-1", "test", "-e", MARKER], capture_output=True, timeout=60)
    assert ran.returncode == 1, "the dry `inv exec` ran its command"
