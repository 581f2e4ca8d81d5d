"""A bundle on disk: a plain tar (GNU format) whose image members are each a
gzip-compressed `docker save` stream (`docker load` takes them as they are), then
the rendered compose config, the manifest and the manifest's SHA-256.

Nothing is held whole, in memory or on disk. A member is written as it streams
in: its size is known only at its end, so its header is written then, over the
block kept for it (a GNU header is one block whatever the size). The bundle is
written as FILE.partial and renamed once complete: a bundle under its name is
whole. Verifying reads each member once, straight from the file, hashing it as it
goes; a cut-off file, a changed byte, a missing member each stop it with the
member and the fix."""

from __future__ import annotations

import contextlib
import hashlib
import os
import pathlib
import tarfile
import zlib
from collections.abc import Callable, Iterable, Iterator

from stackyard.bundle.manifest import CHECKSUM, COMPOSE, MANIFEST, Manifest, Member, parse
from stackyard.errors import StackyardError

BLOCK = tarfile.BLOCKSIZE
CHUNK = 1 << 20  # bytes read at a time
#: gzip level of the image members: level 1 makes the reference app's images 42% of
#: their size (2.15 GB -> 0.91 GB) at ~50 MB/s; level 6 saves 6% more at a third of the speed.
GZIP_LEVEL = 1

COPY_AGAIN = "copy the bundle again from where it was written (or write it again with `inv bundle`)"


class Writer:
    """Writes a bundle to `path` (as `path`.partial until it is complete): members
    streamed in with `add`, then `finish` with the manifest. Left by an error, the
    partial file is removed."""

    def __init__(self, path: pathlib.Path, mtime: float):
        self.path = path
        self.partial = path.with_name(path.name + ".partial")
        self.mtime = mtime
        self.members: list[Member] = []
        self._file = None

    def __enter__(self) -> Writer:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = self.partial.open("wb")
        return self

    def __exit__(self, exc_type, *_) -> None:
        assert self._file is not None
        self._file.close()
        if exc_type is not None:
            self.partial.unlink(missing_ok=True)

    def add(self, name: str, chunks: Iterable[bytes]) -> Member:
        """A member from a stream of unknown length; its size and SHA-256."""
        f = self._file
        assert f is not None
        start = f.tell()
        f.write(bytes(BLOCK))  # its header's place
        digest, size = hashlib.sha256(), 0
        for chunk in chunks:
            f.write(chunk)
            digest.update(chunk)
            size += len(chunk)
        f.write(bytes(-size % BLOCK))
        end = f.tell()
        f.seek(start)
        f.write(self._header(name, size))
        f.seek(end)
        member = Member(name, size, digest.hexdigest())
        self.members.append(member)
        return member

    def finish(self, manifest: Manifest) -> None:
        """Write the manifest and its SHA-256 and the end of the archive, sync, and give the file its name."""
        data = manifest.to_json()
        f = self._file
        assert f is not None
        for name, body in ((MANIFEST, data), (CHECKSUM, (sha256(data) + "\n").encode())):
            f.write(self._header(name, len(body)))
            f.write(body + bytes(-len(body) % BLOCK))
        f.write(bytes(2 * BLOCK))  # the end of the archive
        f.write(bytes(-f.tell() % tarfile.RECORDSIZE))
        f.flush()
        os.fsync(f.fileno())
        self.partial.replace(self.path)

    def _header(self, name: str, size: int) -> bytes:
        info = tarfile.TarInfo(name)
        info.size, info.mtime, info.mode = size, int(self.mtime), 0o644
        header = info.tobuf(tarfile.GNU_FORMAT, "utf-8", "surrogateescape")
        assert len(header) == BLOCK, name  # a name over 100 bytes would need a second block
        return header


def gzipped(chunks: Iterable[bytes], level: int = GZIP_LEVEL) -> Iterator[bytes]:
    """`chunks` as one gzip stream (what `docker load` reads as well as a plain tar)."""
    z = zlib.compressobj(level, zlib.DEFLATED, 31)  # 31: a gzip header and trailer
    for chunk in chunks:
        if out := z.compress(chunk):
            yield out
    yield z.flush()


def verify(path: pathlib.Path, seen: Callable[[Member], None] = lambda m: None) -> Manifest:
    """The bundle's manifest, once every member it lists has been read and has its size
    and SHA-256 (`seen` is told of each as it passes). Anything else is a one-line error:
    not a tar, cut off, a member missing or unknown, a changed byte, another format version."""
    where = str(path)
    with _opened(path) as tar:
        found = {info.name: info for info in tar.members}
        _check_end(path, tar)
        manifest = _manifest(tar, found, where)
        _check_listing(manifest, found, where)
        for member in manifest.members:
            _check_member(tar, found[member.name], member, where)
            seen(member)
    return manifest


def read(path: pathlib.Path, name: str) -> Iterator[bytes]:
    """A member's bytes, chunk by chunk, straight from the file."""
    with _opened(path) as tar:
        f = tar.extractfile(name)
        assert f is not None
        while chunk := f.read(CHUNK):
            yield chunk


def read_manifest(path: pathlib.Path) -> Manifest:
    """The manifest alone (its own SHA-256 checked), without reading the images: for the
    small members a caller reads (the compose config) and checks itself."""
    with _opened(path) as tar:
        return _manifest(tar, {info.name: info for info in tar.members}, str(path))


@contextlib.contextmanager
def _opened(path: pathlib.Path) -> Iterator[tarfile.TarFile]:
    """The bundle as a tar, its headers read up to the end, or to the first one cut off
    or damaged (tar.members: those before it)."""
    if not path.is_file():
        raise StackyardError(f"no bundle at {path}", "give the path of the file `inv bundle` wrote")
    try:
        tar = tarfile.open(path, "r:")  # noqa: SIM115 - closed by the `with` below
    except tarfile.ReadError as exc:
        raise StackyardError(f"{path} is not a bundle (not a plain tar file: {exc})", COPY_AGAIN) from exc
    with tar:
        with contextlib.suppress(tarfile.ReadError):  # a member cut off: _check_end says so
            tar.getmembers()
        yield tar


def _check_end(path: pathlib.Path, tar: tarfile.TarFile) -> None:
    """The file goes on to the end of the archive: its last member is whole and the
    two zero blocks that end a tar follow it (where reading the headers stopped)."""
    where, size = str(path), path.stat().st_size
    last = tar.members[-1] if tar.members else None
    after = f"after member {last.name}" if last else "after its first header"
    if last is not None and last.offset_data + last.size > size:
        raise StackyardError(
            f"{where} is truncated: it ends inside member {last.name} ({size - last.offset_data} of {last.size} bytes)",
            COPY_AGAIN,
        )
    with path.open("rb") as f:
        f.seek(tar.offset)
        end = f.read(2 * BLOCK)
    if len(end) < 2 * BLOCK:
        raise StackyardError(f"{where} is truncated: it ends {after}, before the end of the archive", COPY_AGAIN)
    if end.strip(b"\0"):
        raise StackyardError(f"{where} is damaged: the tar header {after} (byte {tar.offset}) is invalid", COPY_AGAIN)


def _manifest(tar: tarfile.TarFile, found: dict[str, tarfile.TarInfo], where: str) -> Manifest:
    for name in (MANIFEST, CHECKSUM):
        if name not in found:
            raise StackyardError(f"{where} has no {name}: it is not a bundle, or not all of one", COPY_AGAIN)
    data = _small(tar, found[MANIFEST])
    want = _small(tar, found[CHECKSUM]).decode(errors="replace").strip()
    if sha256(data) != want:
        raise StackyardError(f"{where}: member {MANIFEST} does not match its SHA-256 ({CHECKSUM})", COPY_AGAIN)
    return parse(data, where)


def _check_listing(manifest: Manifest, found: dict[str, tarfile.TarInfo], where: str) -> None:
    """Every member the manifest lists is in the file, every image has its member, and
    the file holds nothing else."""
    listed = {m.name for m in manifest.members}
    for image in manifest.images:
        if image.member not in listed:
            raise StackyardError(
                f"{where}: {MANIFEST} lists image {image.ref} without its member {image.member}", COPY_AGAIN
            )
    if COMPOSE not in listed:
        raise StackyardError(f"{where}: {MANIFEST} lists no {COMPOSE}", COPY_AGAIN)
    for member in manifest.members:
        if member.name not in found:
            raise StackyardError(f"{where}: member {member.name} is missing", COPY_AGAIN)
    extra = sorted(set(found) - listed - {MANIFEST, CHECKSUM})
    if extra:
        raise StackyardError(
            f"{where}: member {extra[0]} is not in its {MANIFEST}",
            "a bundle is only what `inv bundle` wrote: write it again, or copy the original",
        )


def _check_member(tar: tarfile.TarFile, info: tarfile.TarInfo, member: Member, where: str) -> None:
    if info.size != member.size:
        raise StackyardError(
            f"{where}: member {member.name} is {info.size} bytes, its manifest says {member.size}", COPY_AGAIN
        )
    digest = hashlib.sha256()
    f = tar.extractfile(info)
    assert f is not None
    while chunk := f.read(CHUNK):
        digest.update(chunk)
    if digest.hexdigest() != member.sha256:
        raise StackyardError(f"{where}: member {member.name} does not match its SHA-256 (a changed byte)", COPY_AGAIN)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def size(n: int) -> str:
    """A size as people read it: 910.2 MB, 1.2 GB, 17 B."""
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} B"


def _small(tar: tarfile.TarFile, info: tarfile.TarInfo) -> bytes:
    f = tar.extractfile(info)
    assert f is not None
    return f.read()
