"""What a bundle holds, as its manifest says: the format version, the project, the
environment, the release, when it was made, each image (its reference, its ID, the
member holding its `docker save` stream, the services that run it) and the size and
SHA-256 of every member. Reading it checks the format version first: a bundle of
another version is refused, never half understood."""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass

from stackyard.errors import StackyardError

#: The version of the layout below; a reader refuses any other.
FORMAT = 1

# The members, in the order they are written (the manifest last: it holds the others' sums).
COMPOSE = "compose.json"  # the rendered compose config: no build, images pinned to the release
MANIFEST = "manifest.json"
CHECKSUM = "manifest.json.sha256"  # the manifest's own SHA-256: a changed byte in it is found too

# A tar header holds a name of up to 100 bytes; a bundle's are shorter (see image_member).
MAX_NAME = 99


@dataclass(frozen=True)
class Member:
    name: str
    size: int
    sha256: str


@dataclass(frozen=True)
class Image:
    ref: str  # repository:tag, as the compose config names it
    id: str  # "sha256:…": the same on every engine that has the image
    member: str  # the member holding its `docker save` stream, gzip-compressed
    services: tuple[str, ...]


@dataclass(frozen=True)
class Manifest:
    project: str
    environment: str
    release: str
    created: str  # ISO 8601, UTC
    images: tuple[Image, ...]
    members: tuple[Member, ...]
    format: int = FORMAT

    def member(self, name: str) -> Member | None:
        return next((m for m in self.members if m.name == name), None)

    def size(self) -> int:
        return sum(m.size for m in self.members)

    def to_json(self) -> bytes:
        data = {"format": self.format, **{k: v for k, v in asdict(self).items() if k != "format"}}
        return (json.dumps(data, indent=2) + "\n").encode()


def image_member(index: int, ref: str) -> str:
    """The member name of the `index`th image: its reference made a file name, cut to fit a tar header."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", ref).strip("-")
    return f"images/{index}-{slug}"[: MAX_NAME - len(".tar.gz")] + ".tar.gz"


def parse(data: bytes, where: str) -> Manifest:
    """The manifest of the bundle `where`; a damaged one, or one of another format version, is an error."""
    damaged = f"{where}: {MANIFEST} is damaged"
    again = "copy the bundle again, or write it again with `inv bundle`"
    try:
        raw = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise StackyardError(f"{damaged} (not JSON)", again) from exc
    version = raw.get("format") if isinstance(raw, dict) else None
    if version != FORMAT:
        raise StackyardError(
            f"{where}: bundle format {version!r}, this stackyard reads format {FORMAT}",
            "use the stackyard version that wrote it, or write the bundle again with this one",
        )
    try:
        return Manifest(
            project=str(raw["project"]),
            environment=str(raw["environment"]),
            release=str(raw["release"]),
            created=str(raw["created"]),
            images=tuple(
                Image(str(i["ref"]), str(i["id"]), str(i["member"]), tuple(map(str, i["services"])))
                for i in raw["images"]
            ),
            members=tuple(Member(str(m["name"]), int(m["size"]), str(m["sha256"])) for m in raw["members"]),
        )
    except KeyError as exc:
        raise StackyardError(f"{damaged} (no {exc.args[0]!r})", again) from exc
    except (TypeError, ValueError) as exc:
        raise StackyardError(f"{damaged} (a value of the wrong kind: {exc})", again) from exc
