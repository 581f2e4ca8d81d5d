"""compose.psql: the exact argv of one SQL statement run in the database container."""

from __future__ import annotations

from stackyard.commands import compose
from tests.unit.fakes import tmp_env


def test_psql_runs_the_statement_as_the_containers_own_user(tmp_path):
    env = tmp_env(tmp_path)
    cmd = compose.psql(env, "db", "UPDATE items SET value = 'after' WHERE key = 'k'")
    assert cmd.argv == (
        *compose.base(env),
        "exec",
        "--no-TTY",
        "db",
        "sh",
        "-c",
        'psql -v ON_ERROR_STOP=1 -U "$POSTGRES_USER" -d "$POSTGRES_DB" -tAc "$0"',
        "UPDATE items SET value = 'after' WHERE key = 'k'",
    )
    assert (dict(cmd.env), cmd.cwd) == ({}, None)
