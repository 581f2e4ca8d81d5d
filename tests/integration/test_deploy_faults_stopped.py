"""Fault 2 of #13: the web container stopped or crashed, not absent. `docker stop`
of the api container(s) of a prod stack with data; the next deploy is no first
deploy: the plan says the database holds data, the backup is taken before the
start runs the migration, one api container of the new release serves, the record
names the backup. A rollback in that state is refused: it would migrate."""

from __future__ import annotations

import datetime as dt
import json
import subprocess

import pytest

from tests.support import backup_labels, containers, deployed_prod, history, lock_held, version

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def prod():
    with deployed_prod("stopped") as inv:
        yield inv


def stop_api(project: str) -> list[str]:
    """`docker stop` of every api container (a crash would leave them so too); their names."""
    names = containers(project, "api")
    subprocess.run(["docker", "stop", "--time", "5", *names], capture_output=True, check=True)
    return names


def inspect(container: str) -> dict:
    out = subprocess.run(["docker", "inspect", container], capture_output=True, text=True, check=True).stdout
    return json.loads(out)[0]


def started(container: str) -> dt.datetime:
    # Nanoseconds cut to what fromisoformat takes.
    at = inspect(container)["State"]["StartedAt"]
    return dt.datetime.fromisoformat(at[:26].rstrip("Z") + "+00:00")


def test_a_deploy_over_a_stopped_api_backs_up_first_then_migrates_and_serves(prod):
    project = prod.env["STACKYARD_PROJECT"]
    stopped = stop_api(project)
    assert all(inspect(c)["State"]["Status"] == "exited" for c in stopped)

    dry = prod("prod-deploy", "--dry-run", "--allow-dirty")
    why = f"  no api container runs ({', '.join(stopped)}: stopped), and the database holds data (volume {project}_db-data): backup first"
    assert why in dry.stdout.splitlines()
    assert "==> " not in dry.stdout

    proc = prod("prod-deploy", "--allow-dirty")
    out = proc.stdout
    assert why in out.splitlines()
    steps = [line.split(":")[0].split(" ", 2)[2] for line in out.splitlines() if line.startswith("==> ")]
    assert steps == ["preflight", "lock", "build", "backup", "logs", "start", "pin", "record", "unlock"]
    assert f"--- {stopped[0]}: last 30 log lines ---" in out  # why it stopped, before the start replaces it

    record = history(project)[-1]
    assert (record["result"], record["kind"]) == ("ok", "deploy")
    # The backup, kept on the engine under the release's name.
    assert record["backup"] == record["version"]
    backup = backup_labels(project)[record["backup"]]
    assert int(backup["dev.stackyard.size"]) > 0
    # The migration ran after the backup was taken (its time: when pg_dump's file was checked, to the
    # second): its container started later.
    (migrate,) = containers(project, "migrate")
    assert started(migrate) > dt.datetime.fromisoformat(backup["dev.stackyard.created"])
    assert inspect(migrate)["State"]["ExitCode"] == 0
    # One api container, of the new release, serves through the proxy.
    (api,) = containers(project, "api")
    assert inspect(api)["State"]["Status"] == "running"
    assert inspect(api)["Config"]["Image"].endswith(":" + record["version"])
    assert version(prod) == record["version"]
    assert not lock_held(project)


def test_a_rollback_over_a_stopped_api_is_refused_and_migrates_nothing(prod):
    project = prod.env["STACKYARD_PROJECT"]
    good = [r["version"] for r in history(project) if r["result"] == "ok"]
    stopped = stop_api(project)
    try:
        migrate = containers(project, "migrate")
        before = {c: inspect(c)["State"]["StartedAt"] for c in migrate}
        records = history(project)

        proc = prod("rollback", good[0], check=False)

        assert proc.returncode == 1
        assert proc.stderr.strip().splitlines()[-1] == (
            f"stackyard: error: no api container runs ({', '.join(stopped)}: stopped) in prod: a rollback to "
            f"{good[0]} would start the whole stack, and migrate with it (a rollback never migrates): check out "
            f"{good[0]}'s commit and `inv prod-deploy --env prod` (it backs up the data first)"
        )
        assert {c: inspect(c)["State"]["StartedAt"] for c in containers(project, "migrate")} == before
        assert all(inspect(c)["State"]["Status"] == "exited" for c in containers(project, "api"))
        assert history(project) == records and not lock_held(project)
    finally:
        subprocess.run(["docker", "start", *stopped], capture_output=True)
