"""`inv hybrid` on the real engine: API and worker on the host, PostgreSQL and
Redis in containers; reload on edit; Ctrl-C leaves no host process behind;
the API handed to an IDE (`--ide api`) with a port left free and variables
that work; `inv --dry hybrid` on a fresh clone."""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import shutil
import signal
import stat
import subprocess
import sys
import threading
import uuid

import pytest
from dotenv import dotenv_values

from stackyard.engine.ports import is_free
from tests.conftest import ROOT
from tests.support import free_port, http, unique_project, wait_for

pytestmark = pytest.mark.integration

VERSION_FILE = ROOT / "app" / "refapp" / "version.py"
SECRET_FILES = ROOT / ".stackyard" / "hybrid" / "dev-secrets"


class Hybrid:
    """A background `inv hybrid`, its output collected line by line."""

    def __init__(self, env: dict[str, str], *args: str):
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "invoke", "hybrid", *args],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        self.lines: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.append(line)

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def host_pids(self) -> dict[str, int]:
        return {m.group(1): int(m.group(2)) for m in re.finditer(r"started (\w+) \(pid (\d+)\)", self.output)}

    def interrupt(self, timeout: float = 30) -> int:
        os.kill(self.proc.pid, signal.SIGINT)  # Ctrl-C reaches inv, not the host processes' own groups
        return self.proc.wait(timeout=timeout)

    def kill(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
        for pid in self.host_pids().values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)


def wait_serving(run: Hybrid, url: str) -> None:
    try:
        wait_for(lambda: http("GET", url + "/health")[0] == 200, timeout=120, interval=0.5, what="the host API")
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n--- inv hybrid output ---\n{run.output[-4000:]}") from None


def group_alive(pgid: int) -> bool:
    """A live (not zombie) process is left in the process group."""
    out = subprocess.run(["ps", "-o", "stat=", "-g", str(pgid)], capture_output=True, text=True).stdout
    return any(not st.startswith("Z") for st in out.split())


@pytest.fixture(scope="module")
def env():
    e = {k: v for k, v in os.environ.items() if not k.startswith("STACKYARD_")}
    e.update(
        STACKYARD_PROJECT=unique_project("hybrid"),
        API_PORT=str(free_port()),
        DB_PORT=str(free_port()),
        REDIS_PORT=str(free_port()),
    )
    try:
        yield e
    finally:
        subprocess.run(
            [sys.executable, "-m", "invoke", "down", "--volumes"], cwd=ROOT, env=e, capture_output=True, timeout=180
        )


def compose_states(env) -> dict[str, str]:
    out = subprocess.run(
        [
            "docker",
            "ps",
            "-a",
            "--filter",
            f"label=com.docker.compose.project={env['STACKYARD_PROJECT']}",
            "--format",
            '{{.Label "com.docker.compose.service"}} {{.State}}',
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return dict(line.split() for line in out.splitlines() if line.strip())


def test_hybrid_runs_api_and_worker_on_the_host(env):
    url = f"http://127.0.0.1:{env['API_PORT']}"
    original = VERSION_FILE.read_text()
    run = Hybrid(env)
    try:
        wait_serving(run, url)
        assert http("GET", url + "/ready")[0] == 200
        pids = run.host_pids()
        assert set(pids) == {"api", "worker"}
        states = compose_states(env)
        assert states.get("db") == "running" and states.get("redis") == "running"
        assert states.get("api") != "running" and states.get("worker") != "running"
        # the passwords, which the containers have in /run/secrets: files of the host processes' own
        assert stat.S_IMODE(SECRET_FILES.stat().st_mode) == 0o700
        assert {f.name: stat.S_IMODE(f.stat().st_mode) for f in SECRET_FILES.iterdir()} == {
            "postgres_password": 0o600,
            "redis_password": 0o600,
        }
        assert (SECRET_FILES / "postgres_password").read_text() in local_secrets()

        status, body = http("POST", url + "/jobs", {"numbers": [2, 3]})
        assert status == 202, body
        job = body["id"]
        done = wait_for(
            lambda: (b := http("GET", f"{url}/jobs/{job}")[1])["status"] == "done" and b, timeout=30, what="the job"
        )
        assert done["result"]["sum"] == 5
        assert re.search(rf"^worker\s+\| .*Task refapp.compute\[{job}\] received", run.output, re.M)

        marker = uuid.uuid4().hex[:8]
        VERSION_FILE.write_text(f'VERSION = "{marker}"\n')
        wait_for(
            lambda: http("GET", url + "/version")[1]["version"] == marker,
            timeout=20,
            interval=0.2,
            what="the API to serve the edited code",
        )

        assert run.interrupt() == 130
        for name, pid in pids.items():
            assert not group_alive(pid), f"{name} (process group {pid}) left behind"
        assert not SECRET_FILES.exists()
        states = compose_states(env)
        assert states.get("db") == "running" and states.get("redis") == "running"
        assert "containers keep running" in run.output
    finally:
        VERSION_FILE.write_text(original)
        run.kill()


def test_hybrid_down_removes_the_containers(env):
    url = f"http://127.0.0.1:{env['API_PORT']}"
    run = Hybrid(env, "--down", "--host", "api")
    try:
        wait_serving(run, url)
        assert set(run.host_pids()) == {"api"}
        assert compose_states(env).get("worker") == "running"  # not on the host: in its container
        assert run.interrupt(timeout=90) == 130
        assert compose_states(env) == {}
    finally:
        run.kill()


def test_dry_run_prints_the_steps_in_order_and_changes_nothing(env):
    e = dict(env, STACKYARD_PROJECT=unique_project("hybrid-dry"))
    proc = subprocess.run(
        [sys.executable, "-m", "invoke", "--dry", "hybrid", "--down"],
        cwd=ROOT,
        env=e,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    compose = [line.split(" compose ", 1)[1] for line in proc.stderr.splitlines() if line.startswith("[dry-run] $")]
    # The runner prints each compose step; the others say what they would do.
    assert [re.sub(r"--(project-name|file|env-file) \S+ ", "", c).split()[0] for c in compose] == [
        "stop",
        "up",
        "run",
        "down",
    ]
    would = [line for line in proc.stdout.splitlines() if line.startswith("[dry-run] would ")]
    assert would[0] == "[dry-run] would check uvicorn, watchfiles are installed on the host"
    assert would[1] == f"[dry-run] would check host port {env['API_PORT']} is free for api"
    assert would[2] == (
        "[dry-run] would write the secret files postgres_password, redis_password to "
        f"{SECRET_FILES} (mode 600; removed when hybrid ends)"
    )
    assert would[3].startswith("[dry-run] would start api on the host")
    assert would[4].startswith("[dry-run] would start worker on the host")
    assert "`down` the containers" in would[5] and len(would) == 6
    assert compose_states(e) == {}


def test_print_env_masks_secrets_and_shows_rewrites(env):
    proc = subprocess.run(
        [sys.executable, "-m", "invoke", "hybrid", "--print-env"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    line = next(ln for ln in lines if ln.startswith("DATABASE_URL="))
    assert line.startswith(f"DATABASE_URL=postgresql://app@127.0.0.1:{env['DB_PORT']}/app") and "# was" in line
    # no password in any URL: a file the host process reads, written while hybrid runs
    assert f"POSTGRES_PASSWORD_FILE={SECRET_FILES}/postgres_password    # was /run/secrets/postgres_password" in lines
    assert "# its secret files are in .stackyard/hybrid/dev-secrets/ while `inv hybrid` runs (mode 600)" in lines
    secrets = [
        ln.split("=", 1)[1]
        for ln in (ROOT / "env/dev.local.env").read_text().splitlines()
        if ln.startswith(("POSTGRES_PASSWORD=", "REDIS_PASSWORD="))
    ]
    assert secrets and not any(s in proc.stdout for s in secrets)


def test_unpublished_dependency_is_named(env, tmp_path):
    override = tmp_path / "no-ports.yaml"
    override.write_text("services:\n  db:\n    ports: !reset []\n")
    # A project whose dev db publishes nothing: the error names db and what to add.
    e = dict(env, STACKYARD_PROJECT=unique_project("hybrid-noport"))
    code = (
        "import sys, dataclasses, pathlib; from stackyard import config, session; from stackyard.core import runner; from stackyard.hybrid import run as hybrid_run;"
        "p = config.load();"
        "env = p.environment('dev'); env = dataclasses.replace(env, files=env.files + (pathlib.Path(sys.argv[1]),));"
        "s = session.Session(p, env, runner.Runner(echo=False));"
        "hybrid_run.run(s, ['api'], print_only=True)"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, str(override)], cwd=ROOT, env=e, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode != 0
    assert "points at db:5432, but db publishes no port in dev" in proc.stderr


def local_secrets() -> list[str]:
    return [
        ln.split("=", 1)[1]
        for ln in (ROOT / "env/dev.local.env").read_text().splitlines()
        if ln.startswith(("POSTGRES_PASSWORD=", "REDIS_PASSWORD="))
    ]


@contextlib.contextmanager
def kept(path):
    """The file as it was before the test (a developer's own IDE env file is put back)."""
    before = path.read_bytes() if path.exists() else None
    try:
        yield path
    finally:
        if before is None:
            path.unlink(missing_ok=True)
        else:
            path.write_bytes(before)


def test_ide_api_leaves_its_port_free_and_its_printed_env_runs_it(env):
    url = f"http://127.0.0.1:{env['API_PORT']}"
    with kept(ROOT / ".stackyard" / "hybrid" / "dev-api.env") as env_file:
        run = Hybrid(env, "--ide", "api", "--host", "worker")
        ide = None
        try:
            wait_for(lambda: "started worker (pid" in run.output, timeout=180, what="the host worker:\n" + run.output)
            assert set(run.host_pids()) == {"worker"}
            states = compose_states(env)
            assert states.get("api") != "running" and states.get("worker") != "running"
            assert states.get("db") == "running" and states.get("redis") == "running"
            assert is_free(int(env["API_PORT"]), "127.0.0.1")

            # What the IDE is told: the command and working directory, and the file with the variables.
            head = re.search(r"^# api \(in your IDE\), in (\S+): (.+)$", run.output, re.M)
            assert head, run.output
            assert (
                "# secrets are masked here; the real values are in .stackyard/hybrid/dev-api.env (mode 600)"
                in run.output
            )
            assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
            assert not any(secret in run.output for secret in local_secrets())

            # Start the API as the IDE would, with exactly those.
            ide = subprocess.Popen(
                shlex.split(head.group(2)),
                cwd=head.group(1),
                env={**os.environ, **dotenv_values(env_file)},
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
            wait_for(lambda: http("GET", url + "/health")[0] == 200, timeout=60, interval=0.5, what="the IDE's API")
            status, body = http("GET", url + "/ready")
            assert status == 200, body  # PostgreSQL, Redis and the broker reached through the rewritten URLs
        finally:
            if ide is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(ide.pid, signal.SIGKILL)
                ide.wait(timeout=10)
            code = run.interrupt() if run.proc.poll() is None else run.proc.returncode
            run.kill()
        assert code == 130, run.output


def test_dry_run_on_a_fresh_clone_says_it_would_create_the_local_file(tmp_path):
    clone = tmp_path / "clone"
    shutil.copytree(
        ROOT,
        clone,
        ignore=shutil.ignore_patterns(
            ".git", ".nox", ".venv", ".stackyard", "backups", "__pycache__", "*.local.env", "local.env"
        ),
    )
    e = {k: v for k, v in os.environ.items() if not k.startswith(("STACKYARD_", "POSTGRES_", "REDIS_", "GRAFANA_"))}
    e["STACKYARD_PROJECT"] = unique_project("hybrid-fresh")
    proc = subprocess.run(
        [sys.executable, "-m", "invoke", "--dry", "hybrid", "--ide", "api"],
        cwd=clone,
        env=e,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[0] == "[dry-run] would create env/dev.local.env (3 secrets generated)"
    assert "hand api to your IDE" in proc.stdout
    # The commands are the real run's: they read the file the real run creates first.
    compose = [line for line in proc.stderr.splitlines() if line.startswith("[dry-run] $ docker compose")]
    assert compose and all(f"--env-file {clone}/env/dev.local.env" in line for line in compose)
    assert not (clone / "env" / "dev.local.env").exists() and not (clone / ".stackyard").exists()
    # the secrets no layer sets yet: their files planned, not written
    assert f"would write the secret files postgres_password, redis_password to {clone}/.stackyard/" in proc.stdout
    assert compose_states(e) == {}
