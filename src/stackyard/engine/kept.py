"""What stackyard keeps on the engine it deploys to, rather than on the machine
that deploys: a project's release history and its database backups. A laptop and
a CI runner deploying to one host read and write the same ones.

They are named volumes stackyard makes (Compose does not: `docker compose down
--volumes` leaves them), each labelled with the compose project:

- `stackyard-<project>-releases`: the history, one small file per record;
- `stackyard-<project>-backup-<name>`: one backup each, its file `<name>.dump`,
  its size, time and SHA-256 in its labels (listing the backups reads no file;
  removing one is removing its volume).

Files are read and written through the Engine API's archive endpoints, on a
container made for the one request and removed after it: created, never
started, from stackyard's layerless image (engine/blank.py), with the volume
mounted. The host needs nothing else: no shell, no image of the stack, and no
process of ours runs there."""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import pathlib
import secrets
import tarfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING

from stackyard.engine import api, blank
from stackyard.errors import StackyardError

if TYPE_CHECKING:
    from docker import DockerClient

LABEL = "dev.stackyard."
PROJECT = LABEL + "project"
KIND = LABEL + "state"  # "releases" or "backup"
MOUNT = "/state"
CHUNK = 1 << 20


def releases_volume(project: str) -> str:
    return f"stackyard-{project}-releases"


def backup_volume(project: str, name: str) -> str:
    return f"stackyard-{project}-backup-{name}"


@dataclass(frozen=True)
class Backup:
    """A backup kept on the engine, as its volume's labels describe it."""

    name: str
    volume: str
    size: int
    created: str  # ISO time, UTC
    sha256: str

    @property
    def file(self) -> str:
        return f"{self.name}.dump"


def backups(client: DockerClient, project: str) -> list[Backup]:
    """The project's backups on the engine, oldest first."""
    found = []
    with api._explained(client):
        listed = client.volumes.list(filters={"label": [f"{PROJECT}={project}", f"{KIND}=backup"]})
    for volume in listed:
        labels = volume.attrs.get("Labels") or {}
        try:
            size = int(labels.get(LABEL + "size", "0"))
        except ValueError:
            size = 0
        found.append(
            Backup(
                labels.get(LABEL + "backup", volume.name),
                volume.name,
                size,
                labels.get(LABEL + "created", ""),
                labels.get(LABEL + "sha256", ""),
            )
        )
    return sorted(found, key=lambda b: (b.created, b.name))


def remove_volume(client: DockerClient, volume: str) -> bool:
    """False when there was none."""
    with api._explained(client):
        try:
            client.volumes.get(volume).remove()
        except api._sdk().errors.NotFound:
            return False
    return True


@contextlib.contextmanager
def mounted(client: DockerClient, volume: str, labels: Mapping[str, str] | None = None) -> Iterator[object]:
    """A never-started container of stackyard's image with `volume` at /state (the
    volume made, with `labels`, when missing; the image loaded when missing),
    removed on the way out whatever happens."""
    with api._explained(client):
        if labels is not None:
            try:
                client.volumes.get(volume)
            except api._sdk().errors.NotFound:
                client.volumes.create(volume, labels=dict(labels))
        if blank.missing(client):
            blank.load(client)
        holder = client.containers.create(
            blank.IMAGE,
            ["true"],
            name=f"stackyard-state-{secrets.token_hex(4)}",
            labels={LABEL + "state-holder": volume},
            volumes={volume: {"bind": MOUNT, "mode": "rw"}},
        )
    try:
        yield holder
    finally:
        with contextlib.suppress(Exception):  # a failure here must not hide the one being raised
            holder.remove(force=True)


def exists(client: DockerClient, volume: str) -> bool:
    return api.volume_exists(client, volume)


def write(
    client: DockerClient,
    volume: str,
    labels: Mapping[str, str],
    path: str,
    data: bytes | IO[bytes],
    size: int | None = None,
) -> None:
    """Write one file (mode 600, in directories of mode 700) at `path` in the volume:
    `data` whole, or read from a binary file of `size` bytes, streamed."""
    if isinstance(data, bytes):
        size, source = len(data), io.BytesIO(data)
    else:
        assert size is not None
        source = data
    with mounted(client, volume, labels) as holder, api._explained(client):
        ok = holder.put_archive(MOUNT, _tar_stream(path, source, size))
    if not ok:
        raise StackyardError(f"the Docker engine refused to write {path} in volume {volume}")


def _tar_stream(path: str, source: IO[bytes], size: int) -> Iterator[bytes]:
    """A tar of one file and its directories, made as it is sent (the file is never held whole)."""
    parts = pathlib.PurePosixPath(path).parts
    for depth in range(1, len(parts)):
        folder = tarfile.TarInfo("/".join(parts[:depth]))
        folder.type, folder.mode = tarfile.DIRTYPE, 0o700
        yield folder.tobuf(tarfile.PAX_FORMAT)
    info = tarfile.TarInfo(path)
    info.size, info.mode = size, 0o600
    yield info.tobuf(tarfile.PAX_FORMAT)
    sent = 0
    while sent < size:
        chunk = source.read(min(CHUNK, size - sent))
        if not chunk:
            raise StackyardError(f"{path}: the file was {sent} bytes, not {size}: it changed while being sent")
        sent += len(chunk)
        yield chunk
    yield b"\0" * (-size % tarfile.BLOCKSIZE) + b"\0" * (2 * tarfile.BLOCKSIZE)


def read_dir(client: DockerClient, volume: str, folder: str) -> dict[str, bytes]:
    """The files of a folder of the volume, by name ({} when the volume or folder is missing)."""
    if not api.volume_exists(client, volume):
        return {}
    with mounted(client, volume) as holder, api._explained(client):
        try:
            chunks, _ = holder.get_archive(f"{MOUNT}/{folder}")
        except api._sdk().errors.NotFound:
            return {}
        raw = b"".join(chunks)
    out = {}
    with tarfile.open(fileobj=io.BytesIO(raw)) as tar:
        for member in tar:
            got = tar.extractfile(member) if member.isfile() else None
            if got is not None:
                out[member.name.split("/", 1)[-1]] = got.read()
    return out


def read_to(client: DockerClient, volume: str, path: str, dest: pathlib.Path) -> str:
    """Copy one file of the volume into `dest` (made mode 600), streamed; its SHA-256."""
    digest = hashlib.sha256()
    with mounted(client, volume) as holder, api._explained(client):
        try:
            chunks, _ = holder.get_archive(f"{MOUNT}/{path}")
        except api._sdk().errors.NotFound:
            raise StackyardError(f"{path}: no such file in volume {volume}") from None
        fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as out, tarfile.open(fileobj=_Reader(chunks), mode="r|") as tar:
            for member in tar:
                got = tar.extractfile(member) if member.isfile() else None
                if got is None:
                    continue
                while chunk := got.read(CHUNK):
                    digest.update(chunk)
                    out.write(chunk)
                break
    return digest.hexdigest()


class _Reader(io.RawIOBase):
    """A file to read from the chunks of a stream, for tarfile's streaming mode."""

    def __init__(self, chunks: Iterable[bytes]):
        self._chunks = iter(chunks)
        self._left = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        while not self._left:
            try:
                self._left = next(self._chunks)
            except StopIteration:
                return 0
        n = min(len(buffer), len(self._left))
        buffer[:n] = self._left[:n]
        self._left = self._left[n:]
        return n
