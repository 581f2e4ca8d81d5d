"""Settings read from the environment, once, with no import side effects.

Passwords come from files, never from the environment (where `docker inspect`
shows them): the URLs name no password, and POSTGRES_PASSWORD_FILE and
REDIS_PASSWORD_FILE name the files holding them (Compose mounts them under
/run/secrets). The password is put into each URL here, in this process only.
A URL that carries its own password, with no *_FILE set, is used as it is.

Celery's broker and result backend are JOB_QUEUE_URL and JOB_RESULTS_URL
(REDIS_URL when unset), not CELERY_BROKER_URL, BROKER_URL, CELERY_RESULT_BACKEND
or RESULT_BACKEND: Celery (its command line too) reads those from the
environment itself, over what the app configures."""

from __future__ import annotations

import os
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Settings:
    # repr=False: these hold passwords, and a repr ends up in logs and tracebacks.
    database_url: str = field(repr=False)
    redis_url: str = field(repr=False)
    broker_url: str = field(repr=False)
    result_backend: str = field(repr=False)
    visibility_timeout: int
    cache_ttl: int
    app_env: str

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        missing = [k for k in ("DATABASE_URL", "REDIS_URL") if not env.get(k)]
        if missing:
            raise RuntimeError(f"missing environment variable(s): {', '.join(missing)}")
        redis_password = read_secret(env, "REDIS_PASSWORD_FILE")

        def redis(key: str) -> str:
            return with_password(env.get(key) or env["REDIS_URL"], redis_password)

        return cls(
            database_url=database_url(env),
            redis_url=redis("REDIS_URL"),
            broker_url=redis("JOB_QUEUE_URL"),
            result_backend=redis("JOB_RESULTS_URL"),
            visibility_timeout=int(env.get("CELERY_VISIBILITY_TIMEOUT", "30")),
            cache_ttl=int(env.get("CACHE_TTL", "300")),
            app_env=env.get("APP_ENV", "dev"),
        )


def database_url(environ: Mapping[str, str]) -> str:
    """DATABASE_URL with the password of POSTGRES_PASSWORD_FILE (the migrations use it too)."""
    url = environ.get("DATABASE_URL")
    if not url:
        raise RuntimeError("missing environment variable: DATABASE_URL")
    return with_password(url, read_secret(environ, "POSTGRES_PASSWORD_FILE"))


def read_secret(environ: Mapping[str, str], variable: str) -> str | None:
    """The content of the file `variable` names (its final newline dropped), or None
    when the variable is unset. The error names the variable and the file, never a value."""
    path = environ.get(variable)
    if not path:
        return None
    try:
        with open(path, encoding="utf-8") as f:
            return f.read().rstrip("\r\n")
    except OSError as exc:
        raise RuntimeError(f"{variable}={path}: cannot read the secret ({exc.strerror})") from None


def with_password(url: str, password: str | None) -> str:
    """`url` with `password` in its userinfo (percent-encoded), its user kept:
    redis://redis:6379/0 -> redis://:PW@redis:6379/0, postgresql://app@db/app ->
    postgresql://app:PW@db/app. None leaves the URL as it is."""
    if password is None:
        return url
    parts = urllib.parse.urlsplit(url)
    userinfo, _, hosts = parts.netloc.rpartition("@")
    user = userinfo.split(":", 1)[0]
    netloc = f"{user}:{urllib.parse.quote(password, safe='')}@{hosts}"
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


def sqlalchemy_url(database_url: str) -> str:
    """Alembic goes through SQLAlchemy, which needs the psycopg 3 driver named."""
    for prefix in ("postgresql://", "postgres://"):
        if database_url.startswith(prefix):
            return "postgresql+psycopg://" + database_url[len(prefix) :]
    return database_url
