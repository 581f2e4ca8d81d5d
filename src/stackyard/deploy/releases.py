"""Release names and the release history.

A release is `<git sha>-<UTC time>` (`-dirty` when the tree had changes).
The history is kept on the engine the project is deployed to, not on the machine
that deploys (engine/kept.py): whoever deploys, from a laptop or from CI, reads
and adds to the same one. A record is a JSON object (version, time, who, result,
reason, backup, kind) in a file of its own, history/<time in ns>-<pid>-<version>.json
in the volume stackyard-<project>-releases; the files' names order them.
A result is `ok` (it serves, every step done), `failed` (undone: what served
before still does) or `failed-serving`: a step after the switch failed and the
switch back failed too, so the release serves although its deploy did not
finish; its reason says so. The current release is the newest that serves (ok
or failed-serving); rollback targets and kept images are the ok ones.
A record is a new file, written whole in one request, never an edit: two
writers never interleave; a file that is not a record (a hand edit) is skipped
and named, never fatal. A history an older stackyard kept in
.stackyard/releases-<project>.jsonl is imported into the local engine's the
first time it is read (the file is then renamed *.imported)."""

from __future__ import annotations

import datetime as dt
import getpass
import hashlib
import json
import os
import pathlib
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import MISSING, asdict, dataclass, fields
from typing import Literal, get_args

from stackyard.engine import api
from stackyard.engine import kept as store
from stackyard.errors import StackyardError
from stackyard.session import Session

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


def legacy_file(root: pathlib.Path, project: str) -> pathlib.Path:
    """Where stackyard kept the history before it was kept on the engine."""
    return root / ".stackyard" / f"releases-{project}.jsonl"


def _to_stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _labels(project: str) -> dict[str, str]:
    return {store.PROJECT: project, store.KIND: "releases"}


def history(s: Session, skipped: Callable[[str], None] | None = _to_stderr) -> list[Release]:
    """The project's records, oldest first, as its target engine keeps them (records
    that could not reach it before are sent first). A file that is not a record is
    left out and reported to `skipped` (None: silently), by its name and why, never
    its text: it may hold anything, a secret included."""
    client = s.engine()
    volume = store.releases_volume(s.env.project)
    if not s.remote:
        _import_legacy(s, volume)
    _send_unsent(s)
    out = []
    for file, data in sorted(store.read_dir(client, volume, "history").items()):
        found = parse(data.decode(errors="replace").strip())
        if isinstance(found, Release):
            out.append(found)
        elif skipped is not None:
            skipped(f"{volume}: history/{file}: skipped: not a release record ({found})")
    return out


def record(s: Session, release: Release) -> None:
    """Add the record to the project's history on its target engine: a new file. When
    the engine cannot be reached (a link that dropped mid-deploy), the record is kept
    here, in .stackyard/unsent-<project>-<target>.jsonl, and sent by the next command
    that reads the history there (`inv releases`, a deploy): the error says so."""
    file = f"history/{time.time_ns():020d}-{os.getpid()}-{release.version}.json"
    data = json.dumps(asdict(release)).encode() + b"\n"
    try:
        _write(s, file, data)
    except StackyardError as exc:
        path = unsent_file(s)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a") as f:
            f.write(json.dumps({"file": file, "record": asdict(release)}) + "\n")
            f.flush()
            os.fsync(f.fileno())
        why = "" if isinstance(exc, api.Unreachable) else f" ({exc.message})"  # the link: said once, elsewhere
        raise StackyardError(
            f"the record of {release.version} ({release.result}) did not reach the engine{why}",
            f"kept in {path.relative_to(s.project.root)}; `inv releases` sends it once the engine answers",
        ) from exc


def _write(s: Session, file: str, data: bytes) -> None:
    project = s.env.project
    store.write(s.engine(), store.releases_volume(project), _labels(project), file, data)


def unsent_file(s: Session) -> pathlib.Path:
    """Where records that could not reach the target engine wait, one file a target."""
    target = hashlib.sha256((s.target or "local").encode()).hexdigest()[:8]
    return s.project.root / ".stackyard" / f"unsent-{s.env.project}-{target}.jsonl"


def _send_unsent(s: Session) -> None:
    """Send the records that could not reach the engine, under their first names (a
    second send of one rewrites the same file), then forget them."""
    path = unsent_file(s)
    if s.dry or not path.is_file():
        return
    sent = 0
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        try:
            entry = json.loads(line)
            file, data = entry["file"], json.dumps(entry["record"]).encode() + b"\n"
        except (ValueError, KeyError, TypeError):  # cut short by a crash: the rest still goes
            _to_stderr(f"{path.name}:{number}: skipped: not a kept record")
            continue
        _write(s, file, data)
        sent += 1
    path.unlink()
    _to_stderr(f"sent {sent} release record(s) kept here while the engine could not be reached")


def _import_legacy(s: Session, volume: str) -> None:
    """Copy a history kept by an older stackyard on this machine into the local
    engine's, once (the engine has none yet), then rename the file *.imported."""
    path = legacy_file(s.project.root, s.env.project)
    if s.dry or not path.is_file() or store.exists(s.engine(), volume):
        return
    lines = [line for line in path.read_text().splitlines() if line.strip()]
    for number, line in enumerate(lines, start=1):
        file = f"history/{0:010d}{number:010d}-imported.json"
        store.write(s.engine(), volume, _labels(s.env.project), file, line.encode() + b"\n")
    path.rename(path.with_name(path.name + ".imported"))
    _to_stderr(f"imported {len(lines)} lines of {path.name} into the engine's release history ({volume})")


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
