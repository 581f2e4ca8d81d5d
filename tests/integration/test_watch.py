"""`inv dev --watch` on the real engine: a saved API file is copied into the running
container and served (no bind mount, no new container); a saved worker file restarts
the worker, which then runs it; a requirements change rebuilds the image and the API
serves from the new one; Ctrl-C ends the watch (exit 130) and leaves the stack up.

Runs on a copy of the project in tmp (the checkout's files are never edited), under
its own project name, image name and ports."""

from __future__ import annotations

import os
import pathlib
import shutil
import signal
import subprocess
import sys
import threading
import uuid

import pytest

import docker
from tests.conftest import ROOT
from tests.support import free_port, http, unique_project, wait_for

pytestmark = pytest.mark.integration

COPIED = ("app", "compose", "docker", "config", "env", "pyproject.toml", "tasks.py", ".dockerignore", ".env.example")


class Watching:
    """A copy of the project with `inv dev --watch` running in it, its output kept."""

    def __init__(self, root: pathlib.Path):
        self.root = root
        project = unique_project("watch")
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("STACKYARD_")}
        self.env.update(
            STACKYARD_PROJECT=project,
            APP_IMAGE=f"{project}-app",
            API_PORT=str(free_port()),
            DB_PORT=str(free_port()),
            REDIS_PORT=str(free_port()),
        )
        self.url = f"http://127.0.0.1:{self.env['API_PORT']}"
        self.client = docker.from_env()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "invoke", "dev", "--watch"],
            cwd=root,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        self.lines: list[str] = []
        threading.Thread(target=lambda: self.lines.extend(self.proc.stdout), daemon=True).start()

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def watching(self) -> bool:
        assert self.proc.poll() is None, f"inv dev --watch ended ({self.proc.returncode})\n{self.output[-4000:]}"
        return "Watch enabled" in self.output

    def container(self, service: str):
        """The running container of `service`, or None."""
        labels = [
            f"com.docker.compose.project={self.env['STACKYARD_PROJECT']}",
            f"com.docker.compose.service={service}",
        ]
        found = self.client.containers.list(filters={"label": labels, "status": "running"})
        return found[0] if found else None

    def edit(self, path: str, text: str) -> None:
        (self.root / path).write_text((self.root / path).read_text() + text)

    def inv(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "invoke", *args], cwd=self.root, env=self.env, capture_output=True, text=True
        )


@pytest.fixture(scope="module")
def watching(tmp_path_factory):
    root = tmp_path_factory.mktemp("watch") / "project"
    for name in COPIED:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, root / name, ignore=shutil.ignore_patterns("__pycache__", "*.local.env"))
        elif src.is_file():
            shutil.copy2(src, root / name)
    w = Watching(root)
    try:
        wait_for(w.watching, timeout=420, interval=0.5, what="inv dev --watch to watch")
        yield w
    finally:
        if w.proc.poll() is None:
            os.killpg(w.proc.pid, signal.SIGKILL)
        w.inv("down", "--volumes")
        for image in w.client.images.list(name=w.env["APP_IMAGE"]):
            for tag in image.tags:
                w.client.images.remove(tag, force=True)
        w.client.close()


def test_a_saved_api_file_is_copied_in_and_served_by_the_same_container(watching):
    api = watching.container("api")
    assert not [m for m in api.attrs["Mounts"] if m["Type"] == "bind"]  # copied, not mounted
    marker = uuid.uuid4().hex[:8]
    watching.edit("app/refapp/version.py", f'VERSION = "{marker}"\n')
    wait_for(lambda: http("GET", watching.url + "/version")[1]["version"] == marker, timeout=30, what="the new version")
    assert watching.container("api").id == api.id  # uvicorn reloaded it; nothing was recreated
    assert 'Syncing service "api"' in watching.output


def test_a_saved_worker_file_restarts_the_worker_which_runs_it(watching):
    worker = watching.container("worker")
    started = worker.attrs["State"]["StartedAt"]
    marker = uuid.uuid4().hex[:8]
    watching.edit(
        "app/refapp/jobs.py",
        f'\n\n_compute = compute\n\n\ndef compute(payload):\n    return {{**_compute(payload), "mark": "{marker}"}}\n',
    )

    def restarted():
        now = watching.container("worker")  # None while it restarts
        return now is not None and now.attrs["State"]["StartedAt"] != started

    wait_for(restarted, timeout=60, what="a restart")

    def new_result():
        status, job = http("POST", watching.url + "/jobs", {"numbers": [1, 2]})
        assert status == 202
        done = wait_for(
            lambda: (r := http("GET", f"{watching.url}/jobs/{job['id']}")[1])["status"] == "done" and r,
            timeout=60,
            what="the job",
        )
        return done["result"].get("mark") == marker

    wait_for(new_result, timeout=60, what="a job computed by the new code")
    assert watching.container("worker").id == worker.id  # restarted, not recreated


def test_a_requirements_change_rebuilds_the_image_and_the_api_serves_from_it(watching):
    before = watching.container("api").attrs["Image"]
    watching.edit("app/requirements-dev.txt", f"# {uuid.uuid4().hex}: a change, and no download\n")

    def serving_new_image():
        api = watching.container("api")
        return api is not None and api.attrs["Image"] != before and http("GET", watching.url + "/health")[0] == 200

    wait_for(serving_new_image, timeout=300, interval=1, what=f"the rebuilt image\n{watching.output[-3000:]}")
    assert "Rebuilding service(s)" in watching.output


def test_ctrl_c_ends_the_watch_and_leaves_the_stack_running(watching):
    os.kill(watching.proc.pid, signal.SIGINT)  # Ctrl-C reaches inv
    assert watching.proc.wait(timeout=60) in (0, 130)
    assert {s: watching.container(s) is not None for s in ("api", "worker", "db")} == {
        "api": True,
        "worker": True,
        "db": True,
    }
    assert http("GET", watching.url + "/health")[0] == 200
