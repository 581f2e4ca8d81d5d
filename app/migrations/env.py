"""Alembic environment: online migrations only, URL from DATABASE_URL."""

from __future__ import annotations

import os

from alembic import context
from refapp.settings import sqlalchemy_url
from sqlalchemy import create_engine, pool

config = context.config
if config.config_file_name is not None:
    from logging.config import fileConfig

    fileConfig(config.config_file_name)


def run_migrations_online() -> None:
    url = os.environ.get("DATABASE_URL")
    if not url:
        raise SystemExit("migrate: DATABASE_URL is not set")
    engine = create_engine(sqlalchemy_url(url), poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=None)
        with context.begin_transaction():
            context.run_migrations()


run_migrations_online()
