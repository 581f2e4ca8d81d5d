"""Which compose files a project has, and the environments they suggest: pure
but for listing a directory.

Compose's own names: `compose.yaml`, `compose.yml`, `docker-compose.yaml`,
`docker-compose.yml` (the base, the first found), `<base>.override.<ext>` (what
a bare `docker compose up` adds: dev), and `compose.<env>.<ext>` or
`docker-compose.<env>.<ext>` (one more environment each)."""

from __future__ import annotations

import pathlib
import re
from dataclasses import dataclass, field

from stackyard.config import ENV_NAME
from stackyard.errors import ConfigError

BASE_NAMES = ("compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml")
# Where compose files are looked for, relative to the project root: the root first.
SEARCH_DIRS = (".", "compose")
ENV_FILE = re.compile(r"^(?:docker-)?compose\.([a-z][a-z0-9_-]*)\.ya?ml$")


@dataclass(frozen=True)
class Found:
    compose_dir: str  # relative to the project root ("." for the root itself)
    base: str
    override: str | None = None
    #: environment name -> its compose file (docker-compose.prod.yml -> prod)
    others: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Proposed:
    name: str
    files: tuple[str, ...]
    why: str


def find(root: pathlib.Path) -> Found:
    """The compose files of the project at `root` (the first search dir with a base file)."""
    for where in SEARCH_DIRS:
        directory = root / where
        names = sorted(p.name for p in directory.iterdir() if p.is_file()) if directory.is_dir() else []
        base = next((b for b in BASE_NAMES if b in names), None)
        if base is None:
            continue
        stem, ext = base.rsplit(".", 1)
        override = f"{stem}.override.{ext}"
        others = {}
        for n in names:
            m = ENV_FILE.match(n)
            if m and m.group(1) != "override" and ENV_NAME.match(m.group(1)):
                others.setdefault(m.group(1), n)
        return Found(where, base, override if override in names else None, others)
    looked = ", ".join(str(root / d) for d in SEARCH_DIRS)
    raise ConfigError(f"no compose file found in {looked}", f"stackyard needs one of {', '.join(BASE_NAMES)}")


def environments(found: Found) -> list[Proposed]:
    """dev = base + override (what `docker compose up` reads) + compose.dev.*; every
    other compose.<env> file = base + that file. dev comes first."""
    dev = [found.base]
    why = "the base file alone (no override or dev file)"
    if found.override:
        dev.append(found.override)
        why = "what a bare `docker compose up` reads"
    if "dev" in found.others:
        dev.append(found.others["dev"])
        why = "the base file, " + ("the override and " if found.override else "") + found.others["dev"]
    out = [Proposed("dev", tuple(dev), why)]
    for name, file in sorted(found.others.items()):
        if name != "dev":
            out.append(Proposed(name, (found.base, file), f"the base file and {file}"))
    return out
