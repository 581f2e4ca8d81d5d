"""Release names and the release history.

A release is `<git sha>-<UTC time>` (`-dirty` when the tree had changes).
The history is one JSON object per line in `.stackyard/releases-<project>.jsonl`
on the machine that deploys: version, time, who, result, reason, backup file."""

from __future__ import annotations

import datetime as dt
import getpass
import json
import pathlib
import re
import socket
from dataclasses import asdict, dataclass

KEEP_IMAGES = 5


@dataclass(frozen=True)
class Release:
    version: str
    time: str
    who: str
    result: str  # ok, failed, rolled-back
    reason: str = ""
    backup: str = ""
    kind: str = "deploy"  # deploy, rollback


def name(sha: str, when: dt.datetime, dirty: bool = False) -> str:
    return f"{sha[:7]}-{when.strftime('%Y%m%d%H%M%S')}" + ("-dirty" if dirty else "")


def is_release(tag: str) -> bool:

    return bool(re.match(r"^[0-9a-f]{7}-\d{14}(-dirty)?$", tag))


def who() -> str:
    try:
        user = getpass.getuser()
    except Exception:
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def history_file(root: pathlib.Path, project: str) -> pathlib.Path:
    return root / ".stackyard" / f"releases-{project}.jsonl"


def history(path: pathlib.Path) -> list[Release]:
    if not path.is_file():
        return []
    out = []
    for line in path.read_text().splitlines():
        if line.strip():
            out.append(Release(**json.loads(line)))
    return out


def record(path: pathlib.Path, release: Release) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as f:
        f.write(json.dumps(asdict(release)) + "\n")


def last_good(releases: list[Release], before: str | None = None) -> Release | None:
    """The newest successful release (older than `before`, if given)."""
    good = [r for r in releases if r.result == "ok"]
    if before is not None:
        versions = [r.version for r in good]
        if before in versions:
            good = good[: versions.index(before)]
    return good[-1] if good else None


def current(releases: list[Release]) -> Release | None:
    good = [r for r in releases if r.result == "ok"]
    return good[-1] if good else None
