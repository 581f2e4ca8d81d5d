"""Fault 9 of #13: `inv db.restore --database NAME` on prod, NAME being the live
database, is refused without --confirm-data-loss (it once skipped the guard, as if
NAME were another database); into another database it restores. On a prod stack
of its own, with only its database running: db.restore needs nothing else."""

from __future__ import annotations

import re

import pytest

from tests.support import Inv, backups, prod_inv, remove_prod_project

pytestmark = pytest.mark.integration


def psql(inv: Inv, sql: str, database: str | None = None) -> str:
    """`sql` run in the prod database (or in `database`), as the app's user; its output."""
    target = database or '"$POSTGRES_DB"'
    script = f'psql -U "$POSTGRES_USER" -d {target} -v ON_ERROR_STOP=1 -tAc "{sql}"'
    return inv("exec", "--env", "prod", "db", "--", "sh", "-c", script).stdout.strip()


@pytest.fixture(scope="module")
def prod():
    """A prod database with a table of 3 rows, a backup of it, then 2 rows more:
    a restore over it would bring it back to 3."""
    inv = prod_inv("restore")
    try:
        inv("up", "--services", "db", "--no-build", "--env", "prod")
        psql(inv, "create table fault9 (n int); insert into fault9 select generate_series(1, 3)")
        inv("db.backup", "--env", "prod")
        psql(inv, "insert into fault9 values (4), (5)")
        yield inv
    finally:
        remove_prod_project(inv)


def backup_name(inv: Inv) -> str:
    """The module's one backup, kept on the engine."""
    (found,) = backups(inv.env["STACKYARD_PROJECT"])
    assert found.startswith("manual-")
    return found


def test_restore_into_the_live_database_by_name_is_refused(prod):
    live = psql(prod, "select current_database()")
    assert live  # the name the guard must see through, whatever the env files make it
    refused = prod("db.restore", backup_name(prod), "--env", "prod", "--database", live, check=False)
    assert refused.returncode == 1, refused.stdout + refused.stderr
    error = refused.stderr.strip().splitlines()[-1]
    assert error.startswith("stackyard: error: refusing to overwrite the database")
    assert "--confirm-data-loss" in error
    assert re.search(rf"\b{re.escape(live)}\b", error.removeprefix("stackyard: error: refusing")), error  # named
    assert psql(prod, "select count(*) from fault9") == "5"  # nothing restored


def test_the_guard_comes_before_the_backup_is_looked_for(prod):
    refused = prod("db.restore", "no-such-backup", "--env", "prod", check=False)
    assert refused.returncode == 1
    assert refused.stderr.strip().startswith("stackyard: error: refusing to overwrite the database")
    assert "no-such-backup" not in refused.stderr  # refused before the engine was asked for it


def test_restore_into_another_database_restores_there(prod):
    psql(prod, "create database fault9_check")
    prod("db.restore", backup_name(prod), "--env", "prod", "--database", "fault9_check")
    assert psql(prod, "select count(*) from fault9", database="fault9_check") == "3"
    assert psql(prod, "select count(*) from fault9") == "5"  # the live one untouched
