"""stackyard on a compose project it was not written for (tests/fixtures/otherstack):
`inv init` there, then the tasks a user runs, on the real engine.

The fixture is copied to a temporary directory, committed there with its `.env`
of placeholders, and set up with `inv init`; the generated config is then edited
as its README tells a user to (nginx's upstream name, a host process for hybrid).
Every stack runs under its own project name and free ports, torn down in a finally."""

from __future__ import annotations

import os
import re
import secrets
import shutil
import subprocess
import sys
import threading
import time
import tomllib
import urllib.error
import urllib.request
import uuid

import pytest

from stackyard.engine.ports import free_port
from tests.conftest import ROOT
from tests.support import history, http, remove_images, remove_state, wait_for

pytestmark = pytest.mark.integration

FIXTURE = ROOT / "tests" / "fixtures" / "otherstack"
PLACEHOLDERS = {"SECRET_KEY": "changethis", "PG_PASSWORD": "changeme", "CACHE_PASSWORD": "changeme"}
# Only the one line a user writes before `inv init` (the rest it writes itself).
BOOTSTRAP = "from stackyard.tasks import namespace as ns  # noqa: F401\n"


def git(root, *args: str) -> None:
    who = ["-c", "user.email=test@example.invalid", "-c", "user.name=test"]
    subprocess.run(["git", *who, *args], cwd=root, check=True, capture_output=True)


class Shop:
    """`inv` in a copy of the fixture, as a user runs it there, under one project name."""

    def __init__(self, root, **env: str):
        self.root = root
        self.project = f"sy-other-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("STACKYARD_")}
        # Its own image names: the release tags a deploy makes are removed with the project.
        self.env.update(
            STACKYARD_PROJECT=self.project,
            SHOP_IMAGE=f"{self.project}-shop",
            PROXY_IMAGE=f"{self.project}-proxy",
            **env,
        )

    def __call__(self, *args: str, check: bool = True, timeout: float = 600) -> subprocess.CompletedProcess:
        proc = subprocess.run(
            [sys.executable, "-m", "invoke", *args],
            cwd=self.root,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"inv {' '.join(args)} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
        return proc

    def teardown(self, files: list[str]) -> None:
        argv = ["docker", "compose", "-p", self.project]
        for f in files:
            argv += ["-f", str(self.root / f)]
        subprocess.run([*argv, "down", "-v", "--remove-orphans", "-t", "5"], env=self.env, capture_output=True)
        remove_state(self.project)  # its release history and backups, kept on the engine
        remove_images(self.project)


def make_copy(tmp_path, *, env_committed: bool = True):
    """The fixture as a user's checkout: git-initialised and committed, then `inv init`."""
    root = tmp_path / "otherstack"
    shutil.copytree(FIXTURE, root)
    (root / "tasks.py").write_text(BOOTSTRAP)
    if not env_committed:  # a prod checkout: its secrets never went into git
        (root / ".gitignore").write_text(".env\nenv/local.env\nenv/*.local.env\n.stackyard/\nbackups/\n")
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "the shop")
    return root


def init_and_edit(shop: Shop) -> subprocess.CompletedProcess:
    proc = shop("init")
    pyproject = shop.root / "pyproject.toml"
    text = pyproject.read_text()
    # The README of the fixture: its nginx upstream block is named shop_web, not web.
    text = text.replace('kind = "nginx"}', 'kind = "nginx", upstream = "shop_web"}')
    text += (
        "\n[tool.stackyard.hybrid.processes.web]\n"
        'command = ["python", "shop/shop.py", "web"]\n'
        'port = "${WEB_PORT:-8080}"\n'
    )
    pyproject.write_text(text)
    git(shop.root, "add", "-A")
    git(shop.root, "commit", "-qm", "stackyard")
    return proc


# -- dev ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dev(tmp_path_factory):
    root = make_copy(tmp_path_factory.mktemp("dev"))
    ports = {"WEB_PORT": free_port(), "PG_PORT": free_port(), "CACHE_PORT": free_port()}
    shop = Shop(root, **{k: str(v) for k, v in ports.items()})
    shop.ports = ports
    shop.init_output = init_and_edit(shop).stdout
    try:
        shop("dev")
        yield shop
    finally:
        shop.teardown(["compose.yml", "compose.override.yml"])


def test_init_detects_environments_and_roles_and_says_why(dev):
    out = dev.init_output
    assert "compose.yml + compose.override.yml" in out
    assert "compose.yml + docker-compose.prod.yml" in out
    assert re.search(r"web +web: .*HTTP port 8080 \(health path /healthz", out)
    assert re.search(r"proxy +proxy: .*nginx", out)
    assert re.search(r"database +pg: ", out)
    assert re.search(r"migrate +setup: ", out)
    assert re.search(r"workers +jobs: ", out)
    settings = tomllib.loads((dev.root / "pyproject.toml").read_text())["tool"]["stackyard"]
    assert settings["compose_dir"] == "."
    assert settings["environments"]["dev"]["files"] == ["compose.yml", "compose.override.yml"]
    assert settings["environments"]["prod"]["entry"] == "proxy"
    assert settings["roles"]["web"] == {"service": "web", "port": 8080, "health_path": "/healthz"}
    assert settings["roles"]["database"] == {"service": "pg", "kind": "postgres"}


def test_init_again_refuses_to_replace_the_section(dev):
    proc = dev("init", check=False)
    assert proc.returncode == 1
    assert "[tool.stackyard]" in proc.stderr and "--force" in proc.stderr


def test_dev_is_healthy_and_a_job_round_trips(dev):
    base = f"http://127.0.0.1:{dev.ports['WEB_PORT']}"
    assert http("GET", base + "/healthz") == (200, {"status": "ok"})
    status, job = http("POST", base + "/jobs", {"text": "round trip"})
    assert status == 201
    done = wait_for(
        lambda: http("GET", f"{base}/jobs/{job['id']}")[1]["status"] == "done", timeout=20, what="the job done"
    )
    assert done
    assert http("GET", f"{base}/jobs/{job['id']}")[1]["result"] == "ROUND TRIP"


def test_ps_lists_every_service(dev):
    out = dev("ps").stdout
    for service in ("web", "jobs", "pg", "cache"):
        assert re.search(rf"^{service} +running +healthy", out, re.M), out
    assert re.search(r"^setup +exited \(0\)", out, re.M)
    assert f"http://127.0.0.1:{dev.ports['WEB_PORT']}" in out


def test_logs_show_the_web_service(dev):
    out = dev("logs", "-s", "web", "--tail", "20").stdout
    assert "web: version" in out


def test_env_show_has_the_dotenv_as_a_layer_and_masks_it(dev):
    out = dev("env.show").stdout
    assert re.search(r"^PG_PASSWORD +\*\*\*\* .* \.env:\d+", out, re.M), out
    assert re.search(r"^APP_VERSION +dev +\.env:\d+", out, re.M), out
    assert "changeme" not in out and "changethis" not in out


def test_env_check_prod_refuses_the_committed_placeholders(dev):
    proc = dev("env.check", "--env", "prod", check=False)
    assert proc.returncode == 1
    out = proc.stdout + proc.stderr
    for key in PLACEHOLDERS:
        assert re.search(rf"\.env:\d+: ENV007: secret {key} looks like a placeholder", out), out
    assert "changeme" not in out and "changethis" not in out


def test_config_prod_masks_every_secret(dev):
    out = dev("config", "--env", "prod").stdout
    assert "DATABASE_URL: postgresql://shop:**** (8 chars)@pg:5432/shop" in out
    assert "SECRET_KEY: **** (10 chars)" in out
    assert "changeme" not in out and "changethis" not in out


def test_hybrid_print_env_points_pg_and_cache_at_their_published_ports(dev):
    out = dev("hybrid", "--print-env").stdout
    assert f"DATABASE_URL=postgresql://shop:****@127.0.0.1:{dev.ports['PG_PORT']}/shop" in out, out
    assert f"CACHE_URL=redis://:****@127.0.0.1:{dev.ports['CACHE_PORT']}/0" in out, out
    assert "changeme" not in out


def test_generic_smoke_checks_pass(dev):
    env = {**dev.env, "STACKYARD_PROJECT": ""}  # smoke makes its own throwaway project
    proc = subprocess.run(
        [sys.executable, "-m", "stackyard.smoke", "--root", str(dev.root), "--env", "dev"],
        env={k: v for k, v in env.items() if v},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "smoke: passed: health" in proc.stdout


# -- prod: deploy and rollback through nginx ---------------------------------------------


class Load:
    """About 40 requests a second to /version through nginx; counts failures."""

    def __init__(self, port: int):
        self.url = f"http://127.0.0.1:{port}/version"
        self.ok, self.failed, self.versions = 0, [], set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                with urllib.request.urlopen(self.url, timeout=10) as resp:
                    self.versions.add(resp.read().decode())
                    self.ok += 1
            except (OSError, urllib.error.URLError) as exc:
                self.failed.append(repr(exc))
            time.sleep(0.025)

    def __enter__(self) -> Load:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


@pytest.fixture
def prod(tmp_path):
    root = make_copy(tmp_path, env_committed=False)
    # Real secrets from the process environment, the layer above .env; the same
    # for the life of the stack (the database keeps its first password).
    strong = {key: secrets.token_urlsafe(32) for key in PLACEHOLDERS}
    shop = Shop(root, PROXY_PORT=str(free_port()), **strong)
    init_and_edit(shop)
    try:
        yield shop
    finally:
        shop.teardown(["compose.yml", "docker-compose.prod.yml"])
        shutil.rmtree(root / "backups", ignore_errors=True)


def test_prod_deploy_and_rollback_through_nginx_fail_no_request(prod):
    port = int(prod.env["PROXY_PORT"])
    prod("prod-deploy")  # the first deploy starts the stack
    first = http("GET", f"http://127.0.0.1:{port}/version")[1]["version"]
    git(prod.root, "commit", "-q", "--allow-empty", "-m", "v2")
    with Load(port) as load:
        prod("prod-deploy")
    second = http("GET", f"http://127.0.0.1:{port}/version")[1]["version"]
    assert second != first
    assert load.failed == [] and load.ok > 20, (load.ok, load.failed[:3])
    with Load(port) as load:
        prod("rollback")
    assert http("GET", f"http://127.0.0.1:{port}/version")[1]["version"] == first
    assert load.failed == [] and load.ok > 20, (load.ok, load.failed[:3])
    # The release history is the engine's, none of it in the checkout.
    records = [(r["kind"], r["result"]) for r in history(prod.project)]
    assert records == [("deploy", "ok"), ("deploy", "ok"), ("rollback", "ok")]
    assert not list(prod.root.glob(".stackyard/releases-*"))
