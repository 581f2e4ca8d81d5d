"""Test helpers for the integration tier: a compose project of the reference
stack under a unique name, plain HTTP calls, and polling with a deadline.

Only 127.0.0.1 published ports are used; every project is torn down by the
test that made it (down -v in a finally), the release history and backups
stackyard keeps on the engine for it included (remove_state). Those are read
and written here with the docker SDK, never through stackyard's own code."""

from __future__ import annotations

import contextlib
import http.client as httpclient  # `http` is the request helper below
import io
import json
import os
import pathlib
import secrets
import shutil
import ssl
import stat
import subprocess
import sys
import tarfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import docker
from stackyard.engine import blank
from stackyard.engine.ports import free_port
from tests.conftest import ROOT

ENV_FILES = {"dev": ["env/dev.env"], "staging": ["env/staging.env"], "prod": ["env/prod.env"]}
COMPOSE_FILES = {
    "dev": ["compose/compose.yaml", "compose/compose.dev.yaml"],
    "staging": ["compose/compose.yaml", "compose/compose.prod.yaml", "compose/compose.staging.yaml"],
    "prod": ["compose/compose.yaml", "compose/compose.prod.yaml"],
}
# Throwaway secrets for test stacks, given through the process environment (a
# layer above every env file), strong enough for env.check.
TEST_SECRETS = {
    key: secrets.token_urlsafe(32) for key in ("POSTGRES_PASSWORD", "REDIS_PASSWORD", "GRAFANA_ADMIN_PASSWORD")
}


def unique_project(prefix: str) -> str:
    return f"sy-test-{prefix}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


@dataclass
class Stack:
    """One compose project of the reference stack, driven with plain `docker compose`."""

    env: str
    project: str
    ports: dict[str, int] = field(default_factory=dict)

    @classmethod
    def make(cls, env: str, prefix: str) -> Stack:
        names = ["API_PORT", "DB_PORT", "REDIS_PORT"] if env == "dev" else ["HTTP_PORT", "HTTPS_PORT"]
        return cls(env=env, project=unique_project(prefix), ports={n: free_port() for n in names})

    def argv(self, *args: str) -> list[str]:
        argv = ["docker", "compose", "-p", self.project]
        for f in COMPOSE_FILES[self.env]:
            argv += ["-f", str(ROOT / f)]
        for f in ENV_FILES[self.env]:
            argv += ["--env-file", str(ROOT / f)]
        return argv + list(args)

    def environ(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update({k: str(v) for k, v in self.ports.items()})
        env.update(TEST_SECRETS)
        if self.env != "dev":
            env["PUBLISH_ADDRESS"] = "127.0.0.1"
        return env

    def compose(self, *args: str, check: bool = True, timeout: float = 600) -> subprocess.CompletedProcess:
        proc = subprocess.run(self.argv(*args), env=self.environ(), capture_output=True, text=True, timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError(
                f"docker compose {' '.join(args)} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
                + self.logs_tail()
            )
        return proc

    def logs_tail(self, n: int = 40) -> str:
        proc = subprocess.run(
            self.argv("logs", "--no-color", "--tail", str(n)),
            env=self.environ(),
            capture_output=True,
            text=True,
            timeout=60,
        )
        return "\n--- last log lines ---\n" + proc.stdout + proc.stderr

    def down(self, volumes: bool = True) -> None:
        args = ["down", "--remove-orphans", "-t", "5"] + (["-v"] if volumes else [])
        self.compose(*args, check=False, timeout=180)

    def container_id(self, service: str) -> str:
        return self.compose("ps", "-q", service).stdout.strip()

    @property
    def base_url(self) -> str:
        if self.env == "dev":
            return f"http://127.0.0.1:{self.ports['API_PORT']}"
        return f"https://127.0.0.1:{self.ports['HTTPS_PORT']}"


_INSECURE = ssl.create_default_context()
# Caddy's internal CA is not in the test machine's trust store.
_INSECURE.check_hostname = False
_INSECURE.verify_mode = ssl.CERT_NONE


def http(method: str, url: str, body: dict | None = None, timeout: float = 5) -> tuple[int, dict]:
    data = None if body is None else json.dumps(body).encode()
    headers = {"content-type": "application/json"}
    if url.startswith("https://127.0.0.1:"):
        # Caddy routes by Host: the site is "localhost" (SITE_ADDRESS's default);
        # an unmatched host gets an empty 200.
        headers["host"] = "localhost"
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout, context=_INSECURE) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def wait_for(predicate: Callable[[], object], timeout: float, interval: float = 0.2, what: str = "condition"):
    """Poll until predicate() is truthy; return its value or fail naming `what`."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
        except (OSError, urllib.error.URLError) as exc:
            last = exc
        else:
            if last:
                return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:g}s waiting for {what}; last: {last!r}")


class Inv:
    """`inv` as a user runs it (a subprocess, no TTY), under its own project
    name; every output is kept, so that tests can search them for secrets."""

    def __init__(self, prefix: str, **env: str):
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("STACKYARD_")}
        self.env.update(STACKYARD_PROJECT=unique_project(prefix), **env)
        self.outputs: list[str] = []

    def __call__(self, *args: str, check: bool = True, timeout: float = 600) -> subprocess.CompletedProcess:
        proc = subprocess.run(
            [sys.executable, "-m", "invoke", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
        self.outputs.append(proc.stdout + proc.stderr)
        if check and proc.returncode != 0:
            raise AssertionError(f"inv {' '.join(args)} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
        return proc

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.env['API_PORT']}"


def remove_prod_project(inv: Inv, env: str = "prod") -> None:
    """Everything a deploy test made for its project (in `env`): containers and volumes,
    the lock a killed deploy leaves, its release history and backups on the engine, the
    copies `--download` wrote here, its images (`<project>-*`, its own names)."""
    project = inv.env["STACKYARD_PROJECT"]
    remove_deploy_lock(project)
    inv("down", "--volumes", "--confirm-data-loss", "--env", env, check=False, timeout=180)
    remove_state(project)
    shutil.rmtree(ROOT / "backups" / project, ignore_errors=True)
    remove_images(project)


def remove_images(prefix: str) -> None:
    """Every image whose repository is named `<prefix>-*` (a test's or a bench's own
    names: its project's), whatever its tags."""
    images = subprocess.run(
        ["docker", "images", "--filter", f"reference={prefix}-*", "--format", "{{.Repository}}:{{.Tag}}"],
        capture_output=True,
        text=True,
    ).stdout.split()
    if images:
        subprocess.run(["docker", "rmi", "--force", *images], capture_output=True)


class Load:
    """About 50 requests a second through Caddy (HTTPS, 127.0.0.1), split
    between /health and /version; counts every answer and every error."""

    def __init__(self, port: int, rate: float = 50):
        self.port, self.interval = port, 1 / rate
        self.ok = self.failed = self.errors = 0
        self.versions: dict[str, int] = {}
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    def _one(self, path: str) -> None:
        try:
            conn = httpclient.HTTPSConnection(
                "127.0.0.1", self.port, timeout=10, context=ssl._create_unverified_context()
            )
            conn.request("GET", path, headers={"Host": "localhost"})
            resp = conn.getresponse()
            body = resp.read()
            conn.close()
        except OSError:
            with self._lock:
                self.errors += 1
            return
        with self._lock:
            if resp.status == 200:
                self.ok += 1
                if path == "/version":
                    v = json.loads(body)["version"]
                    self.versions[v] = self.versions.get(v, 0) + 1
            else:
                self.failed += 1

    def _loop(self) -> None:
        i = 0
        while not self._stop.is_set():
            t = threading.Thread(target=self._one, args=(("/health", "/version")[i % 2],), daemon=True)
            t.start()
            self._threads.append(t)
            i += 1
            time.sleep(self.interval)

    def __enter__(self):
        self._runner = threading.Thread(target=self._loop, daemon=True)
        self._runner.start()
        time.sleep(1)
        return self

    def __exit__(self, *exc):
        time.sleep(1)
        self._stop.set()
        self._runner.join()
        for t in self._threads:
            t.join(timeout=15)

    @property
    def sent(self) -> int:
        return self.ok + self.failed + self.errors


def version(inv: Inv) -> str:
    """The version the prod stack of `inv` serves, through its proxy (HTTPS)."""
    conn = httpclient.HTTPSConnection(
        "127.0.0.1", int(inv.env["HTTPS_PORT"]), timeout=10, context=ssl._create_unverified_context()
    )
    conn.request("GET", "/version", headers={"Host": "localhost"})
    return json.loads(conn.getresponse().read())["version"]


# --- the state stackyard keeps on the engine (engine/kept.py), read and written here with the
# docker SDK directly, not through stackyard's own code: what a test checks is what is on the engine.

STATE_IMAGE = "stackyard-lock:1"  # stackyard's layerless image: its containers are created, never started
STATE_PROJECT = "dev.stackyard.project"
STATE_MOUNT = "/state"
#: The label of the holder containers made here (stackyard's are dev.stackyard.state-holder).
TEST_HOLDER = "dev.stackyard.test-holder"


def releases_volume(project: str) -> str:
    return f"stackyard-{project}-releases"


def backup_volume(project: str, name: str) -> str:
    return f"stackyard-{project}-backup-{name}"


@contextlib.contextmanager
def _holder(volume: str) -> Iterator:
    """A never-started container of stackyard's image with `volume` at /state (made,
    unlabelled, when missing), removed on the way out."""
    client = docker.from_env()
    try:
        try:
            client.images.get(STATE_IMAGE)
        except docker.errors.ImageNotFound:
            client.images.load(blank.image_tar())  # only the image comes from stackyard: ~10 KB, no layer
        holder = client.containers.create(
            STATE_IMAGE,
            ["true"],
            labels={TEST_HOLDER: volume},
            volumes={volume: {"bind": STATE_MOUNT, "mode": "rw"}},
        )
        try:
            yield holder
        finally:
            holder.remove(force=True)
    finally:
        client.close()


def _volume(volume: str) -> dict | None:
    """The volume's attributes (Labels, ...), or None when there is none."""
    client = docker.from_env()
    try:
        return client.volumes.get(volume).attrs
    except docker.errors.NotFound:
        return None
    finally:
        client.close()


def state_files(volume: str, path: str) -> dict[str, tuple[int, bytes]]:
    """The files at `path` in a volume (a folder or one file), by their name in the
    archive the engine sends (`history/x.json`, `x.dump`), with their mode; {} when the
    volume or the path is missing."""
    if _volume(volume) is None:
        return {}
    with _holder(volume) as holder:
        try:
            chunks, _ = holder.get_archive(f"{STATE_MOUNT}/{path}")
        except docker.errors.NotFound:
            return {}
        raw = b"".join(chunks)
    out = {}
    with tarfile.open(fileobj=io.BytesIO(raw)) as tar:
        for member in tar:
            got = tar.extractfile(member) if member.isfile() else None
            if got is not None:
                out[member.name] = (stat.S_IMODE(member.mode), got.read())
    return out


def put_files(volume: str, files: dict[str, bytes], labels: dict[str, str] | None = None) -> None:
    """Write files into a volume (made with `labels` when missing), as a hand would:
    each at its path under /state, its folders made, mode 600 (folders 700)."""
    if _volume(volume) is None:
        client = docker.from_env()
        try:
            client.volumes.create(volume, labels=labels or {})
        finally:
            client.close()
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        folders = sorted({str(pathlib.PurePosixPath(p).parent) for p in files} - {"."})
        for folder in folders:
            info = tarfile.TarInfo(folder)
            info.type, info.mode = tarfile.DIRTYPE, 0o700
            tar.addfile(info)
        for path, data in files.items():
            info = tarfile.TarInfo(path)
            info.size, info.mode = len(data), 0o600
            tar.addfile(info, io.BytesIO(data))
    with _holder(volume) as holder:
        assert holder.put_archive(STATE_MOUNT, out.getvalue()), f"the engine refused to write into {volume}"


def history_files(project: str) -> dict[str, bytes]:
    """The files of a project's release history on the engine, by name (history/NAME)."""
    found = state_files(releases_volume(project), "history")
    return {name.removeprefix("history/"): data for name, (_, data) in found.items()}


def history(project: str) -> list[dict]:
    """A project's release history on the engine, as records, oldest first (by file name)."""
    return [json.loads(data) for _, data in sorted(history_files(project).items())]


def put_history(project: str, records: list[dict], first: int = 1) -> list[str]:
    """Records written into a project's history on the engine, as files named to sort
    before any stackyard writes (theirs begin with the time in ns); their names."""
    files = {
        f"history/{first + i:020d}-{r['version']}.json": json.dumps(r).encode() + b"\n" for i, r in enumerate(records)
    }
    put_files(releases_volume(project), files, {STATE_PROJECT: project, "dev.stackyard.state": "releases"})
    return [name.removeprefix("history/") for name in files]


def backup_labels(project: str) -> dict[str, dict[str, str]]:
    """A project's backups on the engine: each name with its volume's labels, oldest first."""
    client = docker.from_env()
    try:
        wanted = [f"{STATE_PROJECT}={project}", "dev.stackyard.state=backup"]
        labels = [v.attrs.get("Labels") or {} for v in client.volumes.list(filters={"label": wanted})]
    finally:
        client.close()
    found = sorted(labels, key=lambda x: (x.get("dev.stackyard.created", ""), x.get("dev.stackyard.backup", "")))
    return {x["dev.stackyard.backup"]: x for x in found}


def backups(project: str) -> list[str]:
    """The names of a project's backups on the engine, oldest first."""
    return list(backup_labels(project))


def backup_file(project: str, name: str) -> tuple[int, bytes]:
    """A backup's file as its volume holds it: (mode, bytes)."""
    return state_files(backup_volume(project, name), f"{name}.dump")[f"{name}.dump"]


def state_volumes(project: str) -> list[str]:
    """The volumes stackyard keeps for a project on the engine (history, backups)."""
    client = docker.from_env()
    try:
        return sorted(v.name for v in client.volumes.list(filters={"label": f"{STATE_PROJECT}={project}"}))
    finally:
        client.close()


def remove_state(project: str) -> None:
    """A project's state volumes on the engine, and any holder container left mounting
    one (a process killed mid-request leaves it)."""
    client = docker.from_env()
    try:
        prefix = f"stackyard-{project}-"
        for label in ("dev.stackyard.state-holder", TEST_HOLDER):
            for holder in client.containers.list(all=True, filters={"label": label}):
                if holder.labels.get(label, "").startswith(prefix):
                    holder.remove(force=True)
        for volume in client.volumes.list(filters={"label": f"{STATE_PROJECT}={project}"}):
            volume.remove(force=True)
    finally:
        client.close()


# --- deploy fault tests: a prod of their own, a copy of the checkout, a deploy running in the background


def prod_inv(prefix: str) -> Inv:
    """`inv` for a prod stack of a test module's own: its ports, throwaway secrets,
    and image repositories named after its project (remove_prod_project removes them)."""
    inv = Inv(
        prefix, HTTPS_PORT=str(free_port()), HTTP_PORT=str(free_port()), PUBLISH_ADDRESS="127.0.0.1", **TEST_SECRETS
    )
    project = inv.env["STACKYARD_PROJECT"]
    inv.env.update(APP_IMAGE=f"{project}-app", CADDY_APP_IMAGE=f"{project}-caddy")
    return inv


def copy_checkout(dest: os.PathLike) -> None:
    """The checkout copied to `dest` (a release to change: a new migration, a broken
    api), without its git directory, deploy state, local env files or caches."""
    shutil.copytree(
        ROOT,
        dest,
        ignore=shutil.ignore_patterns(
            ".git",
            ".nox",
            ".venv",
            "backups",
            ".stackyard",
            "dist",
            "__pycache__",
            "*.local.env",
            ".*_cache",
            ".hypothesis",
        ),
    )


def inv_in(inv: Inv, cwd: os.PathLike, *args: str, timeout: float = 600, **env: str) -> subprocess.CompletedProcess:
    """`inv ARGS` run in another directory (a copy of the checkout), with `inv`'s
    environment and `env`; never checked: the tests look at the exit code."""
    proc = subprocess.run(
        [sys.executable, "-m", "invoke", *args],
        cwd=cwd,
        env={**inv.env, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
    inv.outputs.append(proc.stdout + proc.stderr)
    return proc


class Background:
    """`inv ARGS` started as a user starts it, in the background: its output
    (stdout and stderr merged, unbuffered) read line by line as it comes, so that a
    test can act at a given step (send a signal, freeze a container). `cwd`: another
    checkout to run it in (a copy)."""

    def __init__(self, inv: Inv, *args: str, cwd: os.PathLike = ROOT):
        self.inv = inv
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "invoke", *args],
            cwd=cwd,
            env={**inv.env, "PYTHONUNBUFFERED": "1"},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def until(self, found: Callable[[str], object], timeout: float, what: str) -> str:
        """Wait for the first line (from the start) that `found` accepts; fail when the
        process ends first or after `timeout` seconds, with its output."""
        deadline = time.monotonic() + timeout
        seen = 0
        while time.monotonic() < deadline:
            while seen < len(self.lines):
                seen += 1
                if found(self.lines[seen - 1]):
                    return self.lines[seen - 1]
            if self.proc.poll() is not None and not self._reader.is_alive() and seen == len(self.lines):
                raise AssertionError(f"inv exited {self.proc.returncode} before {what}:\n{self.output[-4000:]}")
            time.sleep(0.01)
        raise AssertionError(f"no {what} after {timeout:g} s:\n{self.output[-4000:]}")

    def finish(self, timeout: float = 300) -> int:
        """Wait for it to end (killing it after `timeout` seconds); its exit code."""
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise
        finally:
            self._reader.join(timeout=10)
            self.inv.outputs.append(self.output)
        return code


def containers(project: str, service: str | None = None) -> list[str]:
    """The names of a compose project's containers (of `service`), stopped ones included."""
    only = ["--filter", f"label=com.docker.compose.service={service}"] if service else []
    argv = ["docker", "ps", "-a", "--filter", f"label=com.docker.compose.project={project}", *only]
    return subprocess.run([*argv, "--format", "{{.Names}}"], capture_output=True, text=True, check=True).stdout.split()


def lock_held(project: str) -> bool:
    """Whether the deploy lock container of `project` exists."""
    return subprocess.run(["docker", "inspect", f"{project}-deploy-lock"], capture_output=True).returncode == 0


def image_tags(repository: str) -> set[str]:
    """The tags the engine has for an image repository."""
    out = subprocess.run(
        ["docker", "images", repository, "--format", "{{.Tag}}"], capture_output=True, text=True, check=True
    ).stdout
    return set(out.split()) - {"<none>"}


def remove_deploy_lock(project: str) -> None:
    """The lock container a killed deploy leaves (not a container of the compose project)."""
    subprocess.run(["docker", "rm", "--force", "--volumes", f"{project}-deploy-lock"], capture_output=True)


@contextlib.contextmanager
def deployed_prod(prefix: str) -> Iterator[Inv]:
    """A prod stack of a test module's own (prod_inv), first-deployed; all of it
    removed at the end (remove_prod_project), a killed deploy's lock included."""
    inv = prod_inv(prefix)
    try:
        inv("prod-deploy", "--allow-dirty")
        yield inv
    finally:
        remove_prod_project(inv)


REMOTE_HOST = ROOT / "tests" / "hosts" / "remote-host"


@contextlib.contextmanager
def remote_host(prefix: str, *, on_path: bool = True) -> Iterator[dict]:
    """A fresh second Docker host (tests/hosts/remote-host up), removed at the end:
    its JSON ({"host", "http", "https", "ssh_config", "path"}) plus its "name". With
    `on_path`, its ssh wrapper is first on PATH meanwhile (for the docker CLI and the
    SDK's ssh client alike)."""
    name = f"{prefix}-{os.getpid()}-{uuid.uuid4().hex[:4]}"
    saved_path = os.environ["PATH"]
    try:
        proc = subprocess.run([str(REMOTE_HOST), "up", name], capture_output=True, text=True, timeout=900)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        found = {**json.loads(proc.stdout.strip().splitlines()[-1]), "name": name}
        if on_path:
            os.environ["PATH"] = f"{found['path']}{os.pathsep}{saved_path}"
        yield found
    finally:
        os.environ["PATH"] = saved_path
        subprocess.run([str(REMOTE_HOST), "down", name], capture_output=True, text=True, timeout=300)


def drop_ssh(remote: dict) -> None:
    """A dropped link to a remote_host: its sshd stopped, and the shared ssh connection
    (ControlMaster) ended, which would outlive sshd. `tests/hosts/remote-host ssh-start`
    brings sshd back."""
    subprocess.run([str(REMOTE_HOST), "ssh-stop", remote["name"]], check=True, capture_output=True, timeout=60)
    port = remote["host"].rsplit(":", 1)[1]
    subprocess.run(
        ["ssh", "-F", remote["ssh_config"], "-p", port, "-O", "exit", "127.0.0.1"], capture_output=True, timeout=30
    )


def swarm_checkout(dest: os.PathLike, setting: str) -> None:
    """The checkout copied to `dest` (copy_checkout), its swarm environment given one
    more line of settings (`registry = "..."`, `nodes = [...]`)."""
    copy_checkout(dest)
    pyproject = pathlib.Path(dest) / "pyproject.toml"
    table = '[tool.stackyard.environments.swarm]\norchestrator = "swarm"\n'
    assert table in pyproject.read_text()
    pyproject.write_text(pyproject.read_text().replace(table, f"{table}{setting}\n"))


REGISTRY = ROOT / "tests" / "hosts" / "registry" / "compose.yaml"


@contextlib.contextmanager
def registry() -> Iterator[str]:
    """A throwaway container registry (tests/hosts/registry), its address
    (127.0.0.1:PORT: plain HTTP, which an engine accepts for a loopback address),
    removed with what was pushed to it at the end."""
    argv = ["docker", "compose", "-p", f"sy-test-registry-{os.getpid()}-{uuid.uuid4().hex[:4]}", "-f", str(REGISTRY)]
    try:
        subprocess.run([*argv, "up", "--detach", "--wait", "--build"], check=True, capture_output=True, timeout=900)
        found = subprocess.run([*argv, "port", "registry", "5000"], check=True, capture_output=True, text=True)
        yield found.stdout.strip()
    finally:
        subprocess.run([*argv, "down", "--volumes"], capture_output=True, timeout=300)


@contextlib.contextmanager
def swarm_active():
    """This engine as a swarm manager for the tests in the block: initialised when it
    is in no swarm (and left again afterwards), used as it is when it already is one."""
    state = subprocess.run(
        ["docker", "info", "--format", "{{.Swarm.LocalNodeState}}"], capture_output=True, text=True, timeout=30
    ).stdout.strip()
    made = state != "active"
    if made:  # advertised on the default bridge's gateway: a test host (a container on it) can join
        gateway = subprocess.run(
            ["docker", "network", "inspect", "bridge", "--format", "{{(index .IPAM.Config 0).Gateway}}"],
            capture_output=True,
            text=True,
            timeout=30,
        ).stdout.strip()
        subprocess.run(
            [sys.executable, "-m", "invoke", "swarm.init", "--advertise-addr", gateway],
            cwd=ROOT,
            check=True,
            capture_output=True,
            timeout=120,
        )
    try:
        yield
    finally:
        if made:
            subprocess.run(["docker", "swarm", "leave", "--force"], capture_output=True, timeout=120)


def remove_swarm_project(inv: Inv) -> None:
    """A swarm stack of a test's own: its services (then, once their containers are
    gone, its volumes), its secrets, its state kept on the engine, its images."""
    project = inv.env["STACKYARD_PROJECT"]
    remove_deploy_lock(project)
    subprocess.run(["docker", "stack", "rm", project], capture_output=True, timeout=120)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        left = subprocess.run(
            ["docker", "ps", "--all", "--quiet", "--filter", f"label=com.docker.stack.namespace={project}"],
            capture_output=True,
            text=True,
            timeout=30,
        ).stdout.split()
        if not left:
            break
        time.sleep(1)
    volumes = subprocess.run(
        ["docker", "volume", "ls", "--quiet", "--filter", f"label=com.docker.stack.namespace={project}"],
        capture_output=True,
        text=True,
        timeout=30,
    ).stdout.split()
    if volumes:
        subprocess.run(["docker", "volume", "rm", "--force", *volumes], capture_output=True, timeout=120)
    secrets = subprocess.run(
        ["docker", "secret", "ls", "--quiet", "--filter", f"label=com.docker.stack.namespace={project}"],
        capture_output=True,
        text=True,
        timeout=30,
    ).stdout.split()
    if secrets:
        subprocess.run(["docker", "secret", "rm", *secrets], capture_output=True, timeout=60)
    remove_state(project)
    remove_images(project)
