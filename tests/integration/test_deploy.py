"""`inv prod-deploy` on the real engine, with a local "prod": zero failed
requests under load while deploying and rolling back, a broken release
refused with the old one serving, the lock, the backup, no secret anywhere."""

from __future__ import annotations

import hashlib
import io
import re
import shutil
import subprocess
import sys
import time

import pytest

from stackyard import config
from stackyard.commands import compose
from stackyard.core.command import Command
from stackyard.core.runner import Result, Runner
from stackyard.deploy import run as deploy_run
from stackyard.session import Session
from tests.conftest import ROOT
from tests.support import (
    TEST_SECRETS,
    Inv,
    Load,
    backup_file,
    backup_labels,
    free_port,
    history,
    history_files,
    remove_prod_project,
    version,
)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def prod():
    inv = Inv(
        "deploy", HTTPS_PORT=str(free_port()), HTTP_PORT=str(free_port()), PUBLISH_ADDRESS="127.0.0.1", **TEST_SECRETS
    )
    project = inv.env["STACKYARD_PROJECT"]
    inv.env.update(APP_IMAGE=f"{project}-app", CADDY_APP_IMAGE=f"{project}-caddy")  # its own: removed at the end
    try:
        inv("prod-deploy", "--allow-dirty")  # v1: the first deploy starts the stack
        yield inv
    finally:
        remove_prod_project(inv)


def test_dry_run_prints_the_plan_and_changes_nothing(prod):
    ps = [
        "docker",
        "ps",
        "-a",
        "--filter",
        f"name=^{prod.env['STACKYARD_PROJECT']}-",
        "--format",
        "{{.Names}} {{.State}}",
    ]
    before = subprocess.run(ps, capture_output=True, text=True).stdout
    proc = prod("prod-deploy", "--dry-run", "--allow-dirty")
    assert "deploy " in proc.stdout and "replacing" in proc.stdout
    for step in ("preflight", "lock", "build", "backup", "migrate", "api", "switch", "workers", "retire"):
        assert f". {step}" in proc.stdout, step
    assert subprocess.run(ps, capture_output=True, text=True).stdout == before
    assert len(history(prod.env["STACKYARD_PROJECT"])) == 1


class Recorder:
    """What a deploy did, in order: the steps it announced (its output) and the
    commands that change something it ran (reads left out, as the plan leaves them out)."""

    def __init__(self, env: config.Environment):
        self.env = env
        self.events: list[tuple[str, str]] = []
        self.text = ""

    def out(self) -> io.StringIO:
        recorder = self

        class Out(io.StringIO):
            def write(self, text: str) -> int:
                recorder.text += text
                recorder.events += [("step", m) for m in re.findall(r"^==> \d+/\d+ (\S+):", text, flags=re.M)]
                return super().write(text)

        return Out()

    def runner(self) -> Runner:
        recorder = self

        class Recording(Runner):
            """Records each Command, then really runs it."""

            def run(
                self, cmd: Command, mode="capture", check=True, quiet=False, stdin=None, readonly=False, timeout=None
            ):
                if not readonly:
                    recorder.events.append(("cmd", compose.short(cmd, recorder.env)))
                return super().run(cmd, mode, check, quiet, stdin, readonly, timeout)

            def run_files(
                self, cmd: Command, *, stdin_path=None, stdout_path=None, check=True, readonly=False, timeout=None
            ) -> Result:
                if not readonly:
                    recorder.events.append(("cmd", compose.short(cmd, recorder.env)))
                return super().run_files(
                    cmd, stdin_path=stdin_path, stdout_path=stdout_path, check=check, readonly=readonly, timeout=timeout
                )

        return Recording(echo=False)


def steps_of(events: list[tuple[str, str]]) -> list[tuple[str, list[str]]]:
    """[(step, [its commands])], the new container's name (known only as it runs) left out."""
    out: list[tuple[str, list[str]]] = []
    for kind, value in events:
        if kind == "step":
            out.append((value, []))
        else:
            assert out, f"a command before the first step: {value}"
            # The new container, `<new container>` in the plan: taken off the proxy's network, attached at the switch.
            out[-1][1].append(re.sub(r"^(docker network (?:dis)?connect .*?) (?:'[^']*'|\S+)$", r"\1 NEW", value))
    return out


def planned(text: str) -> list[tuple[str, str]]:
    """The events a printed plan announces: its steps, and the commands under each."""
    events = []
    for line in text.splitlines():
        if m := re.match(r"^ +\d+\. (\S+) ", line):
            events.append(("step", m.group(1)))
        elif line.startswith(" " * 16 + "$ "):
            events.append(("cmd", line.strip()[2:]))
    return events


def test_the_executor_runs_the_steps_the_dry_run_printed(prod, monkeypatch):
    dry = prod("--dry", "prod-deploy", "--allow-dirty")
    expected = steps_of(planned(dry.stdout))
    assert [name for name, _ in expected][:3] == ["preflight", "lock", "build"]
    assert "switch" in dict(expected) and "==> " not in dry.stdout  # planned, not run

    monkeypatch.chdir(ROOT)
    for key, value in prod.env.items():
        monkeypatch.setenv(key, value)
    project = config.load(ROOT)
    env = project.environment("prod")
    recorder = Recorder(env)
    s = Session(project, env, recorder.runner(), out=recorder.out())
    deploy_run.run(s, allow_dirty=True)
    prod.outputs.append(recorder.text)  # searched for secrets below

    assert steps_of(recorder.events) == expected
    switched = [value for kind, value in recorder.events if kind == "cmd" and "network connect" in value]
    assert len(switched) == 1 and re.fullmatch(
        rf"docker network connect --alias=api {env.project}_edge {env.project}-api-\d+", switched[0]
    )


def test_deploy_under_load_has_zero_failed_requests(prod):
    v1 = version(prod)
    with Load(int(prod.env["HTTPS_PORT"])) as load:
        prod("prod-deploy", "--allow-dirty")
    v2 = version(prod)
    assert v2 != v1
    assert (load.failed, load.errors) == (0, 0), vars(load)
    assert load.sent > 200 and set(load.versions) == {v1, v2}


def test_backup_restores_into_a_throwaway_database_with_the_same_counts(prod):
    project = prod.env["STACKYARD_PROJECT"]
    release = history(project)[-1]
    # The deploy's backup is kept on the engine, named after the release, its SHA-256 in its labels.
    assert release["result"] == "ok" and release["backup"] == release["version"]
    labels = backup_labels(project)[release["backup"]]
    _, dump = backup_file(project, release["backup"])
    assert labels["dev.stackyard.sha256"] == hashlib.sha256(dump).hexdigest()
    assert int(labels["dev.stackyard.size"]) == len(dump) > 0
    assert not (ROOT / "backups" / project).exists()  # nothing of it here: no --download
    row = next(line for line in prod("releases", "--env", "prod").stdout.splitlines() if release["version"] in line)
    cells = row.removeprefix("* ").split()  # RELEASE KIND RESULT TIME WHO BACKUP REASON
    assert (cells[0], cells[5]) == (release["version"], release["backup"])
    prod("exec", "--env", "prod", "db", "--", "sh", "-c", 'createdb -U "$POSTGRES_USER" restore_check')
    prod("db.restore", release["backup"], "--env", "prod", "--database", "restore_check")

    def counts(database: str) -> str:
        sql = "select (select count(*) from items) || ' ' || (select count(*) from jobs)"
        return prod(
            "exec", "--env", "prod", "db", "--", "sh", "-c", f'psql -U "$POSTGRES_USER" -d {database} -tAc "{sql}"'
        ).stdout.strip()

    assert counts("restore_check") == counts("app")
    refused = prod("db.restore", release["backup"], "--env", "prod", check=False)
    assert refused.returncode != 0 and "--confirm-data-loss" in refused.stderr


def test_rollback_under_load_has_zero_failed_requests(prod):
    releases = [r for r in history(prod.env["STACKYARD_PROJECT"]) if r["result"] == "ok"]
    with Load(int(prod.env["HTTPS_PORT"])) as load:
        proc = prod("rollback")
    assert version(prod) == releases[-2]["version"]
    assert (load.failed, load.errors) == (0, 0), vars(load)
    assert "db.restore" in proc.stdout  # says how to undo a migration
    # The one serving now is no release to go back to, dry run or not (the word form, as the README writes it).
    for dry in ((), ("--dry-run",)):
        again = prod("rollback", releases[-2]["version"], *dry, check=False)
        assert again.returncode == 1
        assert f"release {releases[-2]['version']} already serves prod: `inv releases --env prod`" in again.stderr


def test_a_second_deploy_fails_at_once_naming_the_holder(prod):
    first = subprocess.Popen(
        [sys.executable, "-m", "invoke", "prod-deploy", "--allow-dirty"],
        cwd=ROOT,
        env=prod.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        lock = f"{prod.env['STACKYARD_PROJECT']}-deploy-lock"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if subprocess.run(["docker", "inspect", lock], capture_output=True).returncode == 0:
                break
            time.sleep(0.1)
        second = prod("prod-deploy", "--allow-dirty", check=False)
        assert second.returncode != 0
        assert "another deploy holds the lock: " in second.stderr and "deploying" in second.stderr
    finally:
        out, _ = first.communicate(timeout=300)
    assert first.returncode == 0, out[-3000:]
    assert subprocess.run(["docker", "inspect", lock], capture_output=True).returncode != 0  # released

    # A stale lock (a deploy that died) is cleared by deploy.unlock, with confirmation.
    subprocess.run(
        [
            "docker",
            "create",
            "--name",
            lock,
            "--label",
            "dev.stackyard.lock.who=ghost",
            prod.env.get("POSTGRES_IMAGE", "pgvector/pgvector:pg17"),
            "true",
        ],
        capture_output=True,
        check=True,
    )
    asked = prod("deploy.unlock", "--env", "prod", check=False)
    assert asked.returncode != 0 and "ghost" in asked.stderr and "--yes" in asked.stderr
    prod("deploy.unlock", "--env", "prod", "--yes")
    assert subprocess.run(["docker", "inspect", lock], capture_output=True).returncode != 0


def test_a_broken_release_is_refused_and_the_old_one_keeps_serving(prod, tmp_path):
    copy = tmp_path / "broken"
    shutil.copytree(
        ROOT,
        copy,
        ignore=shutil.ignore_patterns(".git", ".nox", ".venv", "backups", ".stackyard", "__pycache__", "*.local.env"),
    )
    api = copy / "app" / "refapp" / "api.py"
    api.write_text(api.read_text().replace('return {"status": "ok"}', 'raise RuntimeError("broken on purpose")'))
    serving = version(prod)
    env = dict(prod.env)
    with Load(int(prod.env["HTTPS_PORT"])) as load:
        proc = subprocess.run(
            [sys.executable, "-m", "invoke", "prod-deploy", "--allow-dirty", "--health-timeout", "20"],
            cwd=copy,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
    assert proc.returncode != 0
    assert "failed" in proc.stderr and "still serves" in proc.stderr
    assert re.search(r"^--- new container \S+: last 30 log lines ---$", proc.stdout, flags=re.M)
    assert version(prod) == serving
    assert (load.failed, load.errors) == (0, 0), vars(load)
    names = subprocess.run(
        [
            "docker",
            "ps",
            "-a",
            "--filter",
            f"label=com.docker.compose.project={env['STACKYARD_PROJECT']}",
            "--filter",
            "label=com.docker.compose.service=api",
            "--format",
            "{{.Names}}",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert len(names) == 1  # no new api container left
    record = history(env["STACKYARD_PROJECT"])[-1]  # the engine's: the same whichever checkout deployed
    assert record["result"] == "failed" and "not healthy" in record["reason"]


def test_no_secret_in_deploy_output_or_release_record(prod):
    records = history_files(prod.env["STACKYARD_PROJECT"])
    assert records  # the release history on the engine
    text = "\n".join(prod.outputs) + b"\n".join(records.values()).decode()
    for value in TEST_SECRETS.values():
        assert value not in text
