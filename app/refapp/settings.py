"""Settings read from the environment, once, with no import side effects."""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class Settings:
    database_url: str
    redis_url: str
    broker_url: str
    result_backend: str
    visibility_timeout: int
    cache_ttl: int
    app_env: str

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        missing = [k for k in ("DATABASE_URL", "REDIS_URL") if not env.get(k)]
        if missing:
            raise RuntimeError(f"missing environment variable(s): {', '.join(missing)}")
        redis_url = env["REDIS_URL"]
        return cls(
            database_url=env["DATABASE_URL"],
            redis_url=redis_url,
            broker_url=env.get("CELERY_BROKER_URL") or redis_url,
            result_backend=env.get("CELERY_RESULT_BACKEND") or redis_url,
            visibility_timeout=int(env.get("CELERY_VISIBILITY_TIMEOUT", "30")),
            cache_ttl=int(env.get("CACHE_TTL", "300")),
            app_env=env.get("APP_ENV", "dev"),
        )


def sqlalchemy_url(database_url: str) -> str:
    """Alembic goes through SQLAlchemy, which needs the psycopg 3 driver named."""
    for prefix in ("postgresql://", "postgres://"):
        if database_url.startswith(prefix):
            return "postgresql+psycopg://" + database_url[len(prefix) :]
    return database_url
