"""PostgreSQL access: one lazily created connection pool per process."""

from __future__ import annotations

import functools

from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from .settings import Settings


@functools.cache
def pool() -> ConnectionPool:
    settings = Settings.from_env()
    # open=False + open(wait=False): the API starts even while the database is down;
    # /ready reports it instead of the process crashing.
    p = ConnectionPool(
        settings.database_url,
        min_size=1,
        max_size=10,
        kwargs={"row_factory": dict_row, "connect_timeout": 3},
        open=False,
    )
    p.open(wait=False)
    return p


def load_item(key: str) -> dict | None:
    with pool().connection() as conn:
        row = conn.execute("SELECT key, value, updated_at FROM items WHERE key = %s", (key,)).fetchone()
    if row is None:
        return None
    return {"key": row["key"], "value": row["value"], "updated_at": row["updated_at"].isoformat()}


def upsert_item(key: str, value: str) -> None:
    with pool().connection() as conn:
        conn.execute(
            "INSERT INTO items (key, value) VALUES (%s, %s) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
            (key, value),
        )


def create_job(job_id: str, payload: str) -> None:
    with pool().connection() as conn:
        conn.execute(
            "INSERT INTO jobs (id, status, payload) VALUES (%s, 'queued', %s::jsonb)",
            (job_id, payload),
        )


def get_job(job_id: str) -> dict | None:
    with pool().connection() as conn:
        return conn.execute(
            "SELECT id::text AS id, status, payload, result, attempts, completions, "
            "created_at, finished_at FROM jobs WHERE id = %s",
            (job_id,),
        ).fetchone()


def ping() -> None:
    with pool().connection(timeout=3) as conn:
        conn.execute("SELECT 1")
