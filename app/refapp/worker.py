"""The Celery application and its one task.

Delivery is at-least-once: acks_late + task_reject_on_worker_lost keep a message
in Redis until the task has finished, so a worker killed mid-task (kill -9, OOM)
loses nothing; after `visibility_timeout` seconds another worker gets it again.
The task is idempotent (it finishes a job at most once) so redelivery is harmless.
"""

from __future__ import annotations

import json
import pathlib
import time
from typing import ClassVar

from celery import Celery, bootsteps

from . import jobs
from .settings import Settings

LIVENESS_FILE = pathlib.Path("/tmp/worker.alive")


def make_celery(settings: Settings) -> Celery:
    app = Celery("refapp", broker=settings.broker_url, backend=settings.result_backend)
    transport = {
        "visibility_timeout": settings.visibility_timeout,
        # Sweep for abandoned (unacked, past the timeout) messages every 5 s;
        # kombu's default sweep is every 100 s (interval 10 x throttle 10).
        "unacked_restore_interval": 5,
        "unacked_restore_throttle": 1,
    }
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        # One message at a time per process: a killed worker holds back only what it ran.
        worker_prefetch_multiplier=1,
        broker_transport_options=transport,
        result_backend_transport_options=transport,
        broker_connection_retry_on_startup=True,
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        result_expires=3600,
        worker_hijack_root_logger=False,
    )
    return app


celery_app = make_celery(Settings.from_env())


class LivenessProbe(bootsteps.StartStopStep):
    """Touches LIVENESS_FILE every few seconds while the worker's event loop runs;
    the container health check reads its age (cheaper than `celery inspect ping`)."""

    requires: ClassVar[set[str]] = {"celery.worker.components:Timer"}

    def start(self, worker):
        self.tref = worker.timer.call_repeatedly(3.0, LIVENESS_FILE.touch, (), priority=10)
        LIVENESS_FILE.touch()

    def stop(self, worker):
        if getattr(self, "tref", None):
            self.tref.cancel()
        LIVENESS_FILE.unlink(missing_ok=True)


celery_app.steps["worker"].add(LivenessProbe)


@celery_app.task(name="refapp.compute")
def compute(job_id: str) -> str:
    from . import db

    with db.pool().connection() as conn:
        row = conn.execute(
            "UPDATE jobs SET status = 'running', attempts = attempts + 1 "
            "WHERE id = %s AND status <> 'done' RETURNING payload",
            (job_id,),
        ).fetchone()
    if row is None:  # unknown, or already finished by an earlier delivery
        return "skipped"
    payload = row["payload"]
    if payload.get("delay"):
        time.sleep(payload["delay"])
    result = jobs.compute(payload)
    with db.pool().connection() as conn:
        conn.execute(
            "UPDATE jobs SET status = 'done', result = %s::jsonb, completions = completions + 1, "
            "finished_at = now() WHERE id = %s AND status <> 'done'",
            (json.dumps(result), job_id),
        )
    return "done"
