"""Fault 5 of #13: a deploy whose migration succeeds and whose new web container
then fails its health gate. The old release still serves, on the migrated schema
(nothing takes a migration back), and the error says so: it names the migration,
and the backup taken before it, with the command that restores it. The release
is a copy of the checkout with a new alembic revision (an expand step: the old
code runs on it) and an api whose health check fails."""

from __future__ import annotations

import re

import pytest

from tests.conftest import ROOT
from tests.support import (
    Inv,
    backups,
    containers,
    copy_checkout,
    deployed_prod,
    history,
    inv_in,
    lock_held,
    version,
)

pytestmark = pytest.mark.integration

MIGRATION = '''"""Fault test: a nullable column (an expand step).

Revision ID: 9001
Revises: 0001
"""

from alembic import op

revision = "9001"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE items ADD COLUMN fault_test text")


def downgrade() -> None:
    op.execute("ALTER TABLE items DROP COLUMN fault_test")
'''


@pytest.fixture(scope="module")
def prod():
    with deployed_prod("migration") as inv:
        yield inv


def revision(inv: Inv, database: str = '"$POSTGRES_DB"') -> str:
    """The alembic revision of the prod database (or of `database`)."""
    sql = "select version_num from alembic_version"
    script = f'psql -U "$POSTGRES_USER" -d {database} -v ON_ERROR_STOP=1 -tAc "{sql}"'
    return inv("exec", "--env", "prod", "db", "--", "sh", "-c", script).stdout.strip()


def test_a_failure_after_the_migration_names_it_and_the_backup_that_restores_it(prod, tmp_path):
    project = prod.env["STACKYARD_PROJECT"]
    copy = tmp_path / "release"
    copy_checkout(copy)
    (copy / "app" / "migrations" / "versions" / "9001_fault_test.py").write_text(MIGRATION)
    api = copy / "app" / "refapp" / "api.py"
    api.write_text(api.read_text().replace('return {"status": "ok"}', 'raise RuntimeError("broken on purpose")'))
    serving = version(prod)
    assert revision(prod) == "0001"

    proc = inv_in(prod, copy, "prod-deploy", "--allow-dirty", "--health-timeout", "5")

    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-3000:]
    release = re.search(r"^deploy (\S+) to prod", proc.stdout, flags=re.M).group(1)
    error = proc.stderr.strip().splitlines()[-1]
    assert error.startswith(f"stackyard: error: deploy of {release} failed: the new container ")
    assert f"{serving} still serves" in error
    assert f"the schema was migrated by {release} and stays so; {serving} runs on it" in error
    assert f"restore the backup taken before it: inv db.restore {release} --env prod --confirm-data-loss" in error
    # What is left: the old release serving on the migrated schema, one api container, no lock.
    assert version(prod) == serving
    assert revision(prod) == "9001"
    assert len(containers(project, "api")) == 1
    assert not lock_held(project)
    record = history(project)[-1]
    assert (record["version"], record["result"], record["backup"]) == (release, "failed", release)
    assert "not healthy" in record["reason"]
    # The backup named is kept on the engine (not in the checkout that deployed), and holds the
    # schema from before the migration: the command the error names restores it, from any checkout.
    assert release in backups(project)
    assert not (copy / "backups").exists() and not (ROOT / "backups" / project).exists()
    prod("exec", "--env", "prod", "db", "--", "sh", "-c", 'createdb -U "$POSTGRES_USER" fault5_check')
    prod("db.restore", release, "--env", "prod", "--database", "fault5_check")
    assert revision(prod, "fault5_check") == "0001"
