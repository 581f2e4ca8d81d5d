"""The item cache: keys, encoding and the read-through lookup."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Protocol

PREFIX = "item:"
CHANNEL = "item_changed"


class KeyValueStore(Protocol):
    def get(self, key: str) -> Any: ...
    def set(self, key: str, value: str, ex: int | None = None) -> Any: ...
    def delete(self, *keys: str) -> Any: ...


def cache_key(item_key: str) -> str:
    return PREFIX + item_key


def read_through(
    store: KeyValueStore,
    item_key: str,
    load: Callable[[str], dict | None],
    ttl: int,
) -> tuple[dict | None, bool]:
    """Return (item, came_from_cache); a miss loads from the database and fills the cache."""
    raw = store.get(cache_key(item_key))
    if raw is not None:
        return json.loads(raw), True
    item = load(item_key)
    if item is not None:
        store.set(cache_key(item_key), json.dumps(item), ex=ttl)
    return item, False


def invalidate(store: KeyValueStore, payload: str) -> str:
    """Drop the cached copy named by a NOTIFY payload (the item's key); returns the cache key."""
    key = cache_key(payload)
    store.delete(key)
    return key
