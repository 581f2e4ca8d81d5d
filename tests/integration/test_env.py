"""Env layering on the real engine: what containers get is what env.show
reports; a personal env/local.env wins over the committed files, for Compose
as for env.show; prod refuses weak secrets before anything starts; a secret
never shows in task output, in `docker inspect` command lines or in image
history."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys

import pytest

from stackyard import config
from stackyard.commands import compose
from stackyard.core.runner import Runner
from stackyard.engine import state
from stackyard.env import ops as envops
from stackyard.session import Session
from tests import support
from tests.conftest import ROOT
from tests.support import TEST_SECRETS, free_port, http

pytestmark = pytest.mark.integration

SECRET_KEYS = ("POSTGRES_PASSWORD", "REDIS_PASSWORD")  # the ones a running container of the default profile holds


class Inv(support.Inv):
    """`inv`, plus plain compose reads of the same project."""

    def __init__(self, **env: str):
        super().__init__("env", **env)

    def compose(self, env_name: str, *args: str) -> str:
        files = ["compose/compose.yaml", f"compose/compose.{env_name}.yaml"]
        argv = ["docker", "compose", "--project-name", self.env["STACKYARD_PROJECT"]]
        for f in files:
            argv += ["--file", str(ROOT / f)]
        proc = subprocess.run(
            argv + list(args), cwd=ROOT, env=self.env, capture_output=True, text=True, check=True, timeout=120
        )
        return proc.stdout

    def printenv(self, env_name: str, service: str, key: str) -> str:
        return self.compose(env_name, "exec", "-T", service, "printenv", key).strip()

    def secret(self, env_name: str, service: str, key: str) -> str:
        """A secret as a service's container has it: in the file its KEY_FILE names (never in its environment)."""
        return self.compose(env_name, "exec", "-T", service, "sh", "-c", f'cat "${key}_FILE"')

    def containers(self) -> list[str]:
        return subprocess.run(
            ["docker", "ps", "-aq", "--filter", f"label=com.docker.compose.project={self.env['STACKYARD_PROJECT']}"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()


def shown(inv: Inv, env_name: str) -> dict[str, dict]:
    return {row["key"]: row for row in json.loads(inv("env.show", "--env", env_name, "--json").stdout)}


def assert_no_secret_anywhere(inv: Inv, images: list[str]) -> None:
    values = [v for v in TEST_SECRETS.values()] + local_secrets()
    for out in inv.outputs:
        for v in values:
            assert v not in out, "a secret value appeared in task output"
    for cid in inv.containers():
        info = json.loads(
            subprocess.run(["docker", "inspect", cid], capture_output=True, text=True, check=True).stdout
        )[0]
        cmdline = json.dumps(
            [
                info["Path"],
                info["Args"],
                info["Config"].get("Cmd"),
                info["Config"].get("Entrypoint"),
                info["Config"].get("Healthcheck"),
            ]
        )
        for v in values:
            assert v not in cmdline, f"a secret value is in the command line of {info['Name']}"
    for image in images:
        history = subprocess.run(
            ["docker", "history", "--no-trunc", image], capture_output=True, text=True, check=True
        ).stdout
        for v in values:
            assert v not in history, f"a secret value is in the history of {image}"


def local_secrets() -> list[str]:
    path = ROOT / "env" / "dev.local.env"
    if not path.exists():
        return []
    return [
        line.split("=", 1)[1]
        for line in path.read_text().splitlines()
        if line.split("=", 1)[0] in SECRET_KEYS + ("GRAFANA_ADMIN_PASSWORD",) and "=" in line
    ]


def test_dev_containers_get_what_env_show_reports():
    inv = Inv(API_PORT=str(free_port()), DB_PORT=str(free_port()), REDIS_PORT=str(free_port()))
    try:
        inv("dev")
        rows = shown(inv, "dev")
        assert rows["APP_ENV"]["from"].startswith("env/dev.env:")
        assert rows["API_PORT"]["from"] == "process environment"
        for service, key in [("api", "APP_ENV"), ("api", "LOG_LEVEL"), ("db", "POSTGRES_USER"), ("db", "POSTGRES_DB")]:
            assert inv.printenv("dev", service, key) == rows[key]["value"], key
        # Secrets: env.show names the layer and masks the value; the container has that layer's value.
        local = dict(
            line.split("=", 1)
            for line in (ROOT / "env/dev.local.env").read_text().splitlines()
            if line and not line.startswith("#")
        )
        for key in SECRET_KEYS:
            assert rows[key]["from"].startswith("env/dev.local.env:")
            assert rows[key]["value"].startswith("****")
            assert inv.secret("dev", "db" if key == "POSTGRES_PASSWORD" else "redis", key) == local[key]
        assert http("GET", f"http://127.0.0.1:{inv.env['API_PORT']}/ready")[0] == 200
        inv("env.explain", "POSTGRES_PASSWORD")
        inv("config")
        assert_no_secret_anywhere(inv, ["stackyard-app:dev"])
    finally:
        inv("down", "--volumes", check=False)


def test_a_personal_local_env_wins_over_the_committed_env_file_for_compose_too(tmp_path):
    # A copy of the project (the checkout's own env files are not touched), with a personal override.
    clone = tmp_path / "clone"
    ignore = shutil.ignore_patterns(".git", ".nox", ".venv", ".stackyard", "backups", "__pycache__", "*.local.env")
    shutil.copytree(ROOT, clone, ignore=ignore)
    (clone / "env" / "local.env").write_text("LOG_LEVEL=warning\n")
    assert "LOG_LEVEL=debug" in (clone / "env" / "dev.env").read_text()
    env = {k: v for k, v in Inv().env.items() if k != "LOG_LEVEL"} | TEST_SECRETS

    def inv(*args: str) -> str:
        proc = subprocess.run(
            [sys.executable, "-m", "invoke", *args], cwd=clone, env=env, capture_output=True, text=True, timeout=60
        )
        assert proc.returncode == 0, proc.stderr
        return proc.stdout

    row = {r["key"]: r for r in json.loads(inv("env.show", "--json"))}["LOG_LEVEL"]
    assert (row["value"], row["from"], row["overrides"]) == ("warning", "env/local.env:1", "env/dev.env:4")
    # What Compose renders for the containers (the env files in the same order) agrees.
    assert "LOG_LEVEL: warning" in inv("config") and "LOG_LEVEL: debug" not in inv("config")


def test_prod_refuses_a_placeholder_secret_before_anything_starts():
    inv = Inv(
        POSTGRES_PASSWORD="changeme",
        REDIS_PASSWORD=TEST_SECRETS["REDIS_PASSWORD"],
        HTTPS_PORT=str(free_port()),
        HTTP_PORT=str(free_port()),
        PUBLISH_ADDRESS="127.0.0.1",
    )
    try:
        proc = inv("up", "--env", "prod", check=False)
        assert proc.returncode != 0
        assert "ENV007" in proc.stdout and "POSTGRES_PASSWORD" in proc.stdout
        assert "changeme" not in proc.stdout + proc.stderr
        assert "$ docker compose" not in proc.stderr  # not a single compose command ran
        assert inv.containers() == []
    finally:
        inv("down", "--volumes", "--confirm-data-loss", "--env", "prod", check=False)


def test_prod_containers_get_what_env_show_reports_and_no_secret_leaks():
    inv = Inv(HTTPS_PORT=str(free_port()), HTTP_PORT=str(free_port()), PUBLISH_ADDRESS="127.0.0.1", **TEST_SECRETS)
    try:
        inv("up", "--env", "prod")
        rows = shown(inv, "prod")
        for service, key in [("api", "APP_ENV"), ("db", "POSTGRES_USER"), ("caddy", "SITE_ADDRESS")]:
            assert inv.printenv("prod", service, key) == rows[key]["value"], key
        for key in SECRET_KEYS:
            assert rows[key]["from"] == "process environment"
            assert inv.secret("prod", "db" if key == "POSTGRES_PASSWORD" else "redis", key) == TEST_SECRETS[key]
        assert http("GET", f"https://127.0.0.1:{inv.env['HTTPS_PORT']}/ready")[0] == 200
        inv("env.show", "--env", "prod")
        inv("env.check", "--env", "prod")
        inv("ps", "--env", "prod")
        inv("config", "--env", "prod")
        assert_no_secret_anywhere(inv, ["stackyard-app:latest", "stackyard-caddy:latest"])
    finally:
        inv("down", "--volumes", "--confirm-data-loss", "--env", "prod", check=False)


def test_compose_renders_what_env_show_reports_for_a_dotenv_project(tmp_path, monkeypatch):
    """A plain Compose layout (compose.yml + .env) with env files too: `.env` is the
    lowest layer for stackyard as for Compose, and the real `docker compose config`
    of stackyard's own command renders exactly what env.show reports."""
    keys = ("ONLY_DOTENV", "OVERRIDDEN", "FROM_LOCAL", "DATABASE_URL", "DB_PASSWORD")
    for key in keys:
        monkeypatch.delenv(key, raising=False)
    (tmp_path / "compose.yml").write_text(
        "services:\n  app:\n    image: busybox\n    environment:\n"
        + "".join(f"      {k}: ${{{k}:-unset}}\n" for k in keys)
    )
    (tmp_path / ".env").write_text(
        "ONLY_DOTENV=from-dotenv\nOVERRIDDEN=from-dotenv\nDB_PASSWORD=dotenv-pw-123456\n"
        "DATABASE_URL=postgresql://app:${DB_PASSWORD}@db/app\n"
    )
    (tmp_path / "env").mkdir()
    (tmp_path / "env" / "dev.env").write_text("OVERRIDDEN=from-dev-env\n")
    (tmp_path / "env" / "dev.local.env").write_text("FROM_LOCAL=from-local\n")
    project = config.build(tmp_path, {"compose_dir": ".", "environments": {"dev": {"files": ["compose.yml"]}}})
    s = Session(project, project.environment("dev"), Runner(echo=False), out=io.StringIO())

    rendered = state.parse_config(s.read(compose.config_json(s.env)).stdout)["services"]["app"]["environment"]
    reported = {k: st.value for k, st in envops.settings(s).items()}
    assert rendered == {k: reported[k] for k in keys}
    assert rendered["ONLY_DOTENV"] == "from-dotenv" and rendered["OVERRIDDEN"] == "from-dev-env"
    assert rendered["DATABASE_URL"] == "postgresql://app:dotenv-pw-123456@db/app"

    # Compose's own reading of .env, with no --env-file at all, agrees on what .env alone sets.
    plain = subprocess.run(
        [
            "docker",
            "compose",
            "--project-name",
            f"sy-dotenv-{os.getpid()}",
            "-f",
            "compose.yml",
            "config",
            "--format",
            "json",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert json.loads(plain.stdout)["services"]["app"]["environment"]["ONLY_DOTENV"] == "from-dotenv"

    envops.show(s, as_json=True)
    assert "dotenv-pw-123456" not in s.out.getvalue()
