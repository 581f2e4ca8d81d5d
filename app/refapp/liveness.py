"""Container health check for processes that serve no HTTP: exit 0 when the
liveness file was touched within MAX_AGE seconds.

    python -m refapp.liveness /tmp/worker.alive 20
"""

from __future__ import annotations

import os
import sys
import time


def is_alive(path: str, max_age: float, now: float | None = None) -> bool:
    try:
        mtime = os.stat(path).st_mtime
    except FileNotFoundError:
        return False
    return ((time.time() if now is None else now) - mtime) <= max_age


def main(argv: list[str]) -> int:
    path, max_age = argv[0], float(argv[1]) if len(argv) > 1 else 20.0
    if is_alive(path, max_age):
        return 0
    print(f"{path} missing or older than {max_age:g}s", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
