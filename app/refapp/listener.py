"""LISTEN for item changes and drop the cached copies.

A trigger on `items` NOTIFYs channel `item_changed` with the item's key on every
UPDATE or DELETE, whoever makes it (the API, psql, a migration). This process
holds one connection with LISTEN and deletes the Redis key for each payload.
On a lost connection it reconnects and flushes every cached item, because
notifications sent while it was away are lost.
"""

from __future__ import annotations

import logging
import pathlib
import sys
import time

import psycopg
import redis

from . import cache
from .settings import Settings

LIVENESS_FILE = pathlib.Path("/tmp/listener.alive")
log = logging.getLogger("refapp.listener")


def flush_all(store: redis.Redis) -> int:
    n = 0
    for key in store.scan_iter(match=cache.PREFIX + "*", count=500):
        n += store.delete(key)
    return n


def listen_once(settings: Settings, store: redis.Redis) -> None:
    with psycopg.connect(settings.database_url, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f"LISTEN {cache.CHANNEL}")
        dropped = flush_all(store)  # anything cached before we listened may be stale
        log.info("listening on %s (flushed %d cached items)", cache.CHANNEL, dropped)
        while True:
            LIVENESS_FILE.touch()
            for note in conn.notifies(timeout=3.0):
                key = cache.invalidate(store, note.payload)
                log.info("invalidated %s", key)


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = Settings.from_env()
    store = redis.Redis.from_url(settings.redis_url, socket_timeout=5)
    while True:
        try:
            listen_once(settings, store)
        except (psycopg.OperationalError, redis.ConnectionError) as exc:
            log.warning("connection lost (%s); reconnecting in 1 s", exc.__class__.__name__)
            LIVENESS_FILE.unlink(missing_ok=True)
            time.sleep(1)


if __name__ == "__main__":
    sys.exit(main())
