"""The dev loop, bind mounts + reload (`inv dev`) against Compose's watch (`inv dev
--watch`): save -> new API response, save -> the worker running the new code, and a
change of app/requirements.txt -> the new image serving (by `inv dev` run by hand in
the first mode, by the watch itself in the second).

    python bench/devloop.py [--edits 5] [--rebuilds 2]

Needs a Docker engine. Works on a copy of the project in a temporary directory (the
checkout's files are never edited), under its own project name, image name and free
ports; removes its containers, volumes, images and the copy at the end."""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid

import docker

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from stackyard.engine.ports import free_port  # noqa: E402 - after the sys.path line: bench this checkout

# What a project copy needs to run `inv dev`: no local env file (made on the first run), no caches.
COPIED = ("app", "compose", "docker", "config", "env", "pyproject.toml", "tasks.py", ".dockerignore", ".env.example")
IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", "*.local.env")
# A pinned, pure-Python package that nothing imports, as `nox -s lock` locks it: a
# dependency change and nothing else. The image installs the lock (--require-hashes).
PIN = "iniconfig==2.1.0"
LOCKED = f"{PIN} \\\n    --hash=sha256:9deba5723312380e77435581c6bf4935c94cbfab9b1ed33ef8d238ea168eb760\n"


def get(url: str, body: dict | None = None) -> dict | None:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=2) as r:
            return json.loads(r.read())
    except (OSError, ValueError):
        return None


def until(predicate, timeout: float, interval: float = 0.02) -> float:
    """Seconds until predicate() is true (checked every `interval`)."""
    start = time.perf_counter()
    while time.perf_counter() - start < timeout:
        if predicate():
            return time.perf_counter() - start
        time.sleep(interval)
    raise SystemExit(f"bench: timed out after {timeout} s")


class Copy:
    """The project copied to a temporary directory, run with `inv` under its own names."""

    def __init__(self) -> None:
        self.root = pathlib.Path(tempfile.mkdtemp(prefix="sy-devloop-"))
        for name in COPIED:
            src = ROOT / name
            if src.is_dir():
                shutil.copytree(src, self.root / name, ignore=IGNORED)
            elif src.is_file():
                shutil.copy2(src, self.root / name)
        project = f"sy-bench-devloop-{uuid.uuid4().hex[:6]}"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("STACKYARD_")}
        self.env.update(
            STACKYARD_PROJECT=project,
            APP_IMAGE=f"{project}-app",  # not the shared stackyard-app:dev: its rebuilds are this bench's own
            API_PORT=str(free_port()),
            DB_PORT=str(free_port()),
            REDIS_PORT=str(free_port()),
        )
        self.url = f"http://127.0.0.1:{self.env['API_PORT']}"
        edited = ("app/refapp/api.py", "app/refapp/jobs.py", "app/requirements.txt", "app/requirements.lock")
        self.originals = {p: (self.root / p).read_text() for p in edited}

    @property
    def project(self) -> str:
        return self.env["STACKYARD_PROJECT"]

    def inv(self, *args: str) -> None:
        proc = subprocess.run(
            [sys.executable, "-m", "invoke", *args], cwd=self.root, env=self.env, capture_output=True, text=True
        )
        if proc.returncode != 0:
            raise SystemExit(f"bench: inv {' '.join(args)} exited {proc.returncode}\n{proc.stderr[-3000:]}")

    def write(self, path: str, text: str) -> float:
        """Save a file as an editor does; returns the moment it was saved."""
        (self.root / path).write_text(text)
        return time.perf_counter()

    def api_container(self, client):
        """The running API container, or None."""
        labels = [f"com.docker.compose.project={self.project}", "com.docker.compose.service=api"]
        found = client.containers.list(filters={"label": labels, "status": "running"})
        return found[0] if found else None

    def api_image(self, client) -> str | None:
        """The image ID the running API container was created from."""
        container = self.api_container(client)
        return container.attrs["Image"] if container else None

    def remove(self, client) -> None:
        subprocess.run(
            [sys.executable, "-m", "invoke", "down", "--volumes"], cwd=self.root, env=self.env, capture_output=True
        )
        for image in client.images.list(name=self.env["APP_IMAGE"]):
            for tag in image.tags:
                client.images.remove(tag, force=True)
        shutil.rmtree(self.root, ignore_errors=True)


def api_edit(copy: Copy) -> float:
    """Save -> the API answers with the new code: a route's returned text changes. (A route
    of api.py, imported as the server starts, not version.py, which /version imports on
    its first request: after any reload that one is read fresh, and would be new at once.)"""
    marker = uuid.uuid4().hex[:8]
    route = f'\n\n@app.get("/devloop")\ndef devloop() -> dict:\n    return {{"mark": "{marker}"}}\n'
    saved = copy.write("app/refapp/api.py", copy.originals["app/refapp/api.py"] + route)
    until(lambda: (get(copy.url + "/devloop") or {}).get("mark") == marker, 60)
    return time.perf_counter() - saved


def worker_edit(copy: Copy) -> float:
    """Save -> a job submitted after it is computed by the new code (jobs are sent one
    after another until one comes back with the new code's mark)."""
    marker = uuid.uuid4().hex[:8]
    patch = (
        f"\n\n_bench_compute = compute\n\n\ndef compute(payload: dict) -> dict:\n"
        f'    return {{**_bench_compute(payload), "bench": "{marker}"}}\n'
    )
    saved = copy.write("app/refapp/jobs.py", copy.originals["app/refapp/jobs.py"] + patch)

    def new_code() -> bool:
        job = get(copy.url + "/jobs", {"numbers": [1, 2]})
        if not job:
            return False
        done = {}
        for _ in range(300):  # a worker restarting takes the queued job when it is back
            done = get(f"{copy.url}/jobs/{job['id']}") or {}
            if done.get("status") == "done":
                break
            time.sleep(0.02)
        return (done.get("result") or {}).get("bench") == marker

    until(new_code, 120, interval=0)
    return time.perf_counter() - saved


def requirements_change(copy: Copy, client, by_hand: bool) -> float:
    """A package pinned and locked -> the API serves from a new image that has it (by_hand:
    `inv dev` is run right after the save). A comment with a new mark makes each change
    a new dependency layer, as a real one is."""
    before = copy.api_image(client)
    copy.write("app/requirements.txt", copy.originals["app/requirements.txt"] + PIN + "\n")
    lock = copy.originals["app/requirements.lock"] + f"# bench {uuid.uuid4().hex[:8]}\n" + LOCKED
    saved = copy.write("app/requirements.lock", lock)
    if by_hand:
        copy.inv("dev")

    def serving() -> bool:
        image = copy.api_image(client)
        return image is not None and image != before and (get(copy.url + "/health") or {}).get("status") == "ok"

    until(serving, 900, interval=0.2)
    elapsed = time.perf_counter() - saved
    if copy.api_container(client).exec_run(["python", "-c", "import iniconfig"]).exit_code != 0:
        raise SystemExit("bench: the new image serves, without the package just locked")
    return elapsed


class Watch:
    """`inv dev --watch` in the background, its output kept."""

    def __init__(self, copy: Copy) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "invoke", "dev", "--watch"],
            cwd=copy.root,
            env=copy.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self.lines: list[str] = []
        threading.Thread(target=lambda: self.lines.extend(self.proc.stdout), daemon=True).start()

    def watching(self) -> bool:
        if self.proc.poll() is not None:
            raise SystemExit("bench: inv dev --watch ended\n" + "".join(self.lines[-40:]))
        return any("Watch enabled" in line for line in self.lines)

    def interrupt(self) -> int:
        os.kill(self.proc.pid, signal.SIGINT)
        return self.proc.wait(timeout=60)


def measure(copy: Copy, client, edits: int, rebuilds: int, by_hand: bool) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {"api": [], "worker": [], "requirements": []}
    for _ in range(edits):
        out["api"].append(api_edit(copy))
        time.sleep(3)  # settled: the worker restarts on the API's edit too (any file under app/refapp)
        out["worker"].append(worker_edit(copy))
        time.sleep(1)
    for _ in range(rebuilds):
        out["requirements"].append(requirements_change(copy, client, by_hand))
        time.sleep(2)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--edits", type=int, default=5, help="code edits per mode (API, then worker)")
    parser.add_argument("--rebuilds", type=int, default=2, help="requirements changes per mode")
    args = parser.parse_args()
    client = docker.from_env()
    copy = Copy()
    results: dict[str, dict[str, list[float]]] = {}
    stopped = None
    try:
        copy.inv("dev")  # images built, volumes initialised, env/dev.local.env made (in the copy)
        results["bind mounts + reload"] = measure(copy, client, args.edits, args.rebuilds, by_hand=True)
        watch = Watch(copy)
        try:
            until(watch.watching, 600, interval=0.2)
            time.sleep(1)
            results["watch"] = measure(copy, client, args.edits, args.rebuilds, by_hand=False)
        finally:
            stopped = watch.interrupt()
        left_running = copy.api_image(client) is not None
    finally:
        copy.remove(client)

    names = {
        "api": "save -> new API response",
        "worker": "save -> worker runs the new code",
        "requirements": "package locked -> new image serving",
    }
    modes = list(results)
    print(f"edits per mode: {args.edits}, requirements changes: {args.rebuilds}; median (max) in seconds\n")
    print(f"{'benchmark':<40}" + "".join(f"{m:>24}" for m in modes))
    for key, name in names.items():
        cells = [f"{statistics.median(results[m][key]):.2f} ({max(results[m][key]):.2f})" for m in modes]
        print(f"{name:<40}" + "".join(f"{c:>24}" for c in cells))
    print("\n(bind mounts: the requirements change is applied by `inv dev` run right after the save)")
    print(f"Ctrl-C on inv dev --watch: exit {stopped}; stack left running: {'yes' if left_running else 'NO'}")
    return 0 if stopped in (0, 130) and left_running else 1


if __name__ == "__main__":
    sys.exit(main())
