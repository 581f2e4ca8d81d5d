"""A deploy with nothing running that fails, on the real engine: it says why as
`inv up` does, stops what it started, and records the failure. A database volume
left from an earlier stack holds data: it is backed up first (no first deploy)."""

from __future__ import annotations

import secrets
import subprocess

import pytest

from tests.support import (
    TEST_SECRETS,
    Inv,
    Stack,
    backup_labels,
    free_port,
    history,
    history_files,
    remove_prod_project,
)

pytestmark = pytest.mark.integration


def test_a_first_deploy_over_a_volume_made_with_another_password_names_the_mismatch():
    inv = Inv(
        "firstpw", HTTPS_PORT=str(free_port()), HTTP_PORT=str(free_port()), PUBLISH_ADDRESS="127.0.0.1", **TEST_SECRETS
    )
    project = inv.env["STACKYARD_PROJECT"]
    inv.env.update(APP_IMAGE=f"{project}-app", CADDY_APP_IMAGE=f"{project}-caddy")
    # An earlier prod stack's database, initialised with another password, with a table: its container
    # is gone, its volume left.
    earlier = Stack("prod", project, {k: int(inv.env[k]) for k in ("HTTP_PORT", "HTTPS_PORT")})
    other = {**earlier.environ(), "POSTGRES_PASSWORD": secrets.token_urlsafe(32)}
    table = 'psql -U "$POSTGRES_USER" -d "$POSTGRES_DB" -c "create table earlier (id int)"'
    try:
        subprocess.run(earlier.argv("up", "--detach", "--wait", "db"), env=other, check=True, capture_output=True)
        subprocess.run(earlier.argv("exec", "-T", "db", "sh", "-c", table), env=other, check=True, capture_output=True)
        subprocess.run(earlier.argv("down"), env=other, check=True, capture_output=True)

        proc = inv("prod-deploy", "--allow-dirty", "--health-timeout", "60", check=False)

        assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr
        error = proc.stderr.strip().splitlines()[-1]
        assert (
            error.startswith("stackyard: error: deploy of ") and " failed: service migrate exited with code " in error
        )
        assert "the database volume was initialised with another POSTGRES_PASSWORD" in error
        assert (
            "nothing served before, nothing serves after (the containers started are stopped; the data is kept); "
            "if migrate ran, the schema was migrated by "
        ) in error
        assert f"the database holds data (volume {project}_db-data): backup first" in proc.stdout
        assert "--- migrate: last 30 log lines ---" in proc.stdout
        assert "<== undo 4 database: stop db again" in proc.stdout
        assert "<== undo 6 start: stop the stack's containers" in proc.stdout
        running = subprocess.run(
            ["docker", "ps", "--filter", f"label=com.docker.compose.project={project}", "--format", "{{.Names}}"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        assert running == []  # stopped: nothing serves
        last = history(project)[-1]
        assert last["result"] == "failed" and "POSTGRES_PASSWORD" in last["reason"]
        # Taken before the start, kept on the engine under the release's name.
        assert (
            last["backup"] == last["version"] and int(backup_labels(project)[last["backup"]]["dev.stackyard.size"]) > 0
        )
        records = b"\n".join(history_files(project).values()).decode()
        locks = ["docker", "ps", "-a", "--filter", f"name=^{project}-deploy-lock$", "--format", "{{.Names}}"]
        assert subprocess.run(locks, capture_output=True, text=True, check=True).stdout == ""
        for value in [*TEST_SECRETS.values(), other["POSTGRES_PASSWORD"]]:
            assert value not in proc.stdout + proc.stderr + records
    finally:
        remove_prod_project(inv)
