"""The HTTP API (FastAPI, served by uvicorn)."""

from __future__ import annotations

import functools
import json
import uuid

import redis
from fastapi import Body, FastAPI, HTTPException
from fastapi.responses import JSONResponse

from . import cache, db, jobs, programs, readiness
from .settings import Settings

app = FastAPI(title="stackyard reference API")


@functools.cache
def settings() -> Settings:
    return Settings.from_env()


@functools.cache
def store() -> redis.Redis:
    return redis.Redis.from_url(settings().redis_url, socket_timeout=2, socket_connect_timeout=2)


def check_broker() -> None:
    from .worker import celery_app

    with celery_app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=2)


#: While this file exists, /health fails: how an operator (or a test) makes a live
#: process unhealthy on purpose, to see the orchestrator replace it.
UNHEALTHY_FILE = "/tmp/unhealthy"


@app.get("/health", response_model=None)
def health() -> dict | JSONResponse:
    """Liveness: answers while the process serves HTTP; touches nothing else (but the
    UNHEALTHY_FILE marker). In the all-in-one image (docker/allinone) it also reports the
    state of each program supervisord runs there: one that is not RUNNING (a worker
    restarting, say) makes it unhealthy, named. While the container is being stopped
    (supervisord stops them all, as asked) a request it still answers is no failure.
    Elsewhere there is no supervisord."""
    import os

    if os.path.exists(UNHEALTHY_FILE):
        return JSONResponse({"status": "unhealthy", "why": f"{UNHEALTHY_FILE} exists"}, status_code=503)
    try:
        found = programs.here(os.environ)
    except programs.Stopping:
        found = None
    except programs.NoAnswer as exc:
        return JSONResponse({"status": "unhealthy", "why": str(exc)}, status_code=503)
    if found is not None and (down := programs.down(found)):
        why = "not running: " + ", ".join(down)
        return JSONResponse({"status": "unhealthy", "why": why, "programs": found}, status_code=503)
    if found:
        return {"status": "ok", "programs": found}
    return {"status": "ok"}


@app.get("/version")
def version() -> dict:
    """Which code is serving: the release a deploy set, else the source's version."""
    import os

    from . import version as v

    return {"version": os.environ.get("APP_VERSION") or v.VERSION}


@app.get("/ready")
def ready() -> JSONResponse:
    ok, checks = readiness.run_checks({"postgres": db.ping, "redis": lambda: store().ping(), "broker": check_broker})
    if ok:
        return JSONResponse({"status": "ready", "checks": checks})
    failed = [name for name, result in checks.items() if result != "ok"]
    return JSONResponse({"status": "unavailable", "failed": failed, "checks": checks}, status_code=503)


@app.post("/jobs", status_code=202)
def create_job(body: dict = Body(...)) -> dict:
    from .worker import compute

    try:
        payload = jobs.validate(body)
    except jobs.InvalidJob as exc:
        raise HTTPException(status_code=422, detail=str(exc)) from exc
    job_id = str(uuid.uuid4())
    db.create_job(job_id, json.dumps(payload))
    compute.apply_async(args=[job_id], task_id=job_id)
    return {"id": job_id, "status": "queued"}


@app.get("/jobs/{job_id}")
def read_job(job_id: uuid.UUID) -> dict:
    row = db.get_job(str(job_id))
    if row is None:
        raise HTTPException(status_code=404, detail=f"no job {job_id}")
    for key in ("created_at", "finished_at"):
        if row[key] is not None:
            row[key] = row[key].isoformat()
    return row


@app.get("/items/{key}")
def read_item(key: str) -> dict:
    item, cached = cache.read_through(store(), key, db.load_item, settings().cache_ttl)
    if item is None:
        raise HTTPException(status_code=404, detail=f"no item {key!r}")
    return {**item, "cached": cached}


@app.put("/items/{key}")
def write_item(key: str, body: dict = Body(...)) -> dict:
    value = body.get("value")
    if not isinstance(value, str):
        raise HTTPException(status_code=422, detail="'value' must be a string")
    # No cache write here: the trigger's NOTIFY makes the listener drop the old copy.
    db.upsert_item(key, value)
    return {"key": key, "value": value}
