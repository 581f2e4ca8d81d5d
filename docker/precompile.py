"""Byte-code for what the reference app's roles import, at build time (the root
filesystem is read-only in prod: nothing can be written at run time), and for
nothing else: the venv is installed without byte-code (pip --no-compile), and
the modules no role imports (SQLAlchemy's other dialects, Celery's shell...)
stay source only, 13 of 30 MB of byte-code not shipped. A module imported later
than these compiles in memory at each start: slower, never wrong.

    python docker/precompile.py     # in the image, after the code is copied
"""

import compileall
import importlib
import os
import sys

# Settings read at import time; nothing connects to them.
os.environ.update(
    DATABASE_URL="postgresql://build@localhost/build",
    REDIS_URL="redis://localhost:6379/0",
    JOB_QUEUE_URL="redis://localhost:6379/1",
    JOB_RESULTS_URL="redis://localhost:6379/2",
)
ROLES = [
    "refapp.api",  # api (uvicorn, below)
    "refapp.worker",  # worker
    "refapp.listener",  # listener
    "uvicorn.main",
    "uvicorn.loops.uvloop",
    "uvicorn.protocols.http.httptools_impl",
    "uvicorn.lifespan.on",
    "celery.bin.celery",
    "celery.worker",
    "celery.concurrency.prefork",
    "celery.backends.redis",
    "kombu.transport.redis",
    "alembic.config",  # migrate
    "alembic.command",
    "sqlalchemy.dialects.postgresql.psycopg",
]


def main() -> int:
    for name in ROLES:
        importlib.import_module(name)
    compiled = 0
    for module in list(sys.modules.values()):
        path = getattr(module, "__file__", None) or ""
        if path.endswith(".py") and path.startswith(sys.prefix):
            compileall.compile_file(path, quiet=2)
            compiled += 1
    compileall.compile_dir("/app", quiet=1)
    print(f"precompile: byte-code for {compiled} modules of the venv, and the app's")
    return 0


if __name__ == "__main__":
    sys.exit(main())
