"""Release names and the release history.

A release is `<git sha>-<UTC time>` (`-dirty` when the tree had changes).
The history is one JSON object per line in `.stackyard/releases-<project>.jsonl`
on the machine that deploys: version, time, who, result, reason, backup file.
A result is `ok` (it serves, every step done), `failed` (undone: what served
before still does) or `failed-serving`: a step after the switch failed and the
switch back failed too, so the release serves although its deploy did not
finish; its reason says so. The current release is the newest that serves (ok
or failed-serving); rollback targets and kept images are the ok ones.
A record is appended whole (flushed and synced) under an exclusive lock of the
file, so two deploys on one machine never interleave; a line that is not a
record (a crash mid-write, a hand edit) is skipped and named, never fatal."""

from __future__ import annotations

import datetime as dt
import fcntl
import getpass
import json
import os
import pathlib
import socket
import sys
from collections.abc import Callable
from dataclasses import MISSING, asdict, dataclass, fields
from typing import Literal, get_args

#: The images of this many good releases stay on the engine, for rollback.
KEEP_IMAGES = 5

Kind = Literal["deploy", "rollback"]
Result = Literal["ok", "failed", "failed-serving"]


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


def _to_stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def history(path: pathlib.Path, skipped: Callable[[str], None] | None = _to_stderr) -> list[Release]:
    """The records of the history, oldest first. A line that is not a record is
    left out and reported to `skipped` (None: silently), by its number and why,
    never its text: it may hold anything, a secret included."""
    if not path.is_file():
        return []
    with path.open() as f:
        fcntl.flock(f, fcntl.LOCK_SH)  # a record being appended is read whole or not at all
        text = f.read()
    out = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        found = parse(line)
        if isinstance(found, Release):
            out.append(found)
        elif skipped is not None:
            skipped(f"{path.parent.name}/{path.name}:{number}: skipped: not a release record ({found})")
    return out


FIELDS = {f.name for f in fields(Release)}
REQUIRED = {f.name for f in fields(Release) if f.default is MISSING}


def parse(line: str) -> Release | str:
    """A line of the history as a Release, or why it is not one."""
    try:
        data = json.loads(line)
    except ValueError:
        return "truncated JSON" if line.lstrip().startswith("{") else "not JSON"
    if not isinstance(data, dict):
        return "not a JSON object"
    unknown = sorted(set(data) - FIELDS)
    if unknown:
        # Key names only, and only ones that look like names (a key could be anything).
        named = [k for k in unknown if k.isidentifier() and len(k) <= 30]
        return f"unknown key {', '.join(named)}" if len(named) == len(unknown) else f"{len(unknown)} unknown key(s)"
    missing = sorted(REQUIRED - set(data))
    if missing:
        return f"missing {', '.join(missing)}"
    if not all(isinstance(v, str) for v in data.values()):
        return "a value is not a string"
    if data["result"] not in get_args(Result) or data.get("kind", "deploy") not in get_args(Kind):
        return "unknown result or kind"
    return Release(**data)


def record(path: pathlib.Path, release: Release) -> None:
    """Append the record whole: under an exclusive lock of the file, flushed and synced;
    after a line a crash left unfinished, on a line of its own."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+b") as f:
        fcntl.flock(f, fcntl.LOCK_EX)  # released when the file closes
        f.seek(0, os.SEEK_END)
        if f.tell() > 0:
            f.seek(-1, os.SEEK_END)
            unfinished = f.read(1) != b"\n"
        else:
            unfinished = False
        f.write((b"\n" if unfinished else b"") + json.dumps(asdict(release)).encode() + b"\n")
        f.flush()
        os.fsync(f.fileno())


def good(releases: list[Release]) -> list[Release]:
    """The successful releases, oldest first."""
    return [r for r in releases if r.result == "ok"]


def kept(releases: list[Release], n: int) -> set[str]:
    """The versions whose images stay: the last `n` distinct releases that served
    (a deploy and a rollback to it are one release), newest first."""
    out: list[str] = []
    for r in reversed(good(releases)):
        if r.version not in out:
            out.append(r.version)
        if len(out) == n:
            break
    return set(out)


def last_good(releases: list[Release], before: str | None = None) -> Release | None:
    """The newest successful release (older than `before`, if given)."""
    found = good(releases)
    if before is not None:
        versions = [r.version for r in found]
        if before in versions:
            found = found[: versions.index(before)]
    return found[-1] if found else None


def current(releases: list[Release]) -> Release | None:
    """The release that serves, as the history knows it: the newest ok or failed-serving one."""
    serving = [r for r in releases if r.result != "failed"]
    return serving[-1] if serving else None
