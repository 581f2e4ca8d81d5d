"""Release names and the release history.

A release is `<git sha>-<UTC time>` (`-dirty` when the tree had changes).
The history is one JSON object per line in `.stackyard/releases-<project>.jsonl`
on the machine that deploys: version, time, who, result, reason, backup file."""

from __future__ import annotations

import datetime as dt
import getpass
import json
import pathlib
import socket
from dataclasses import asdict, dataclass
from typing import Literal

#: The images of this many good releases stay on the engine, for rollback.
KEEP_IMAGES = 5

Kind = Literal["deploy", "rollback"]
Result = Literal["ok", "failed"]


@dataclass(frozen=True)
class Release:
    version: str
    time: str
    who: str
    result: Result
    reason: str = ""
    backup: str = ""
    kind: Kind = "deploy"


def name(sha: str, when: dt.datetime, dirty: bool = False) -> str:
    return f"{sha[:7]}-{when.strftime('%Y%m%d%H%M%S')}" + ("-dirty" if dirty else "")


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


def good(releases: list[Release]) -> list[Release]:
    """The successful releases, oldest first."""
    return [r for r in releases if r.result == "ok"]


def last_good(releases: list[Release], before: str | None = None) -> Release | None:
    """The newest successful release (older than `before`, if given)."""
    found = good(releases)
    if before is not None:
        versions = [r.version for r in found]
        if before in versions:
            found = found[: versions.index(before)]
    return found[-1] if found else None


def current(releases: list[Release]) -> Release | None:
    return last_good(releases)
