"""Alembic environment: online migrations only, URL from DATABASE_URL (its
password from POSTGRES_PASSWORD_FILE, as the app's: refapp/settings.py)."""

from __future__ import annotations

import os

from alembic import context
from refapp.settings import database_url, sqlalchemy_url
from sqlalchemy import create_engine, pool

config = context.config
if config.config_file_name is not None:
    from logging.config import fileConfig

    fileConfig(config.config_file_name)


def run_migrations_online() -> None:
    try:
        url = database_url(os.environ)
    except RuntimeError as exc:
        raise SystemExit(f"migrate: {exc}") from None
    engine = create_engine(sqlalchemy_url(url), poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=None)
        with context.begin_transaction():
            context.run_migrations()


run_migrations_online()
