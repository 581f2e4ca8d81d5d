"""A fake engine for the bundle's unit tests: the part of the docker SDK client that
engine/api.py uses to inspect, save, load and pull images. A saved image is a
small stand-in stream naming its reference and ID; a load reads it back (gzip,
as the real engine does) and gives the engine that image."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from types import SimpleNamespace

import docker.errors

# A saved image's stream: its name and ID, then filler, so that a member spans several chunks.
FILLER = bytes(range(256)) * 4096  # 1 MiB


def saved(ref: str, image_id: str) -> bytes:
    return f"{ref}|{image_id}|".encode() + FILLER


class FakeEngine:
    """Images by reference ({ref: id}) and a log of what was changed."""

    def __init__(self, images: dict[str, str] | None = None, *, load_as: dict[str, str] | None = None):
        self.refs: dict[str, str] = dict(images or {})
        self.log: list[tuple[str, str]] = []
        self.load_as = dict(load_as or {})  # ref -> the ID a load gives it instead (a bad engine)
        self.images = SimpleNamespace(get=self.get, pull=self.pull)
        self.api = SimpleNamespace(get_image=self.get_image, load_image=self.load_image)

    def get(self, ref: str):
        if ref not in self.refs:
            raise docker.errors.ImageNotFound(f"No such image: {ref}")
        return SimpleNamespace(attrs={"Id": self.refs[ref], "RepoTags": [ref], "Size": len(FILLER)})

    def pull(self, ref: str):
        self.refs[ref] = f"sha256:pulled-{ref}"
        self.log.append(("pull", ref))

    def get_image(self, ref: str, chunk_size: int) -> Iterator[bytes]:
        data = saved(ref, self.refs[ref])
        self.log.append(("save", ref))
        for i in range(0, len(data), chunk_size):
            yield data[i : i + chunk_size]

    def load_image(self, chunks: Iterator[bytes]) -> Iterator[dict]:
        assert not isinstance(chunks, list | bytes), "a stream: the SDK sends a list as form data"
        ref, image_id, _ = gzip.decompress(b"".join(chunks)).split(b"|", 2)
        self.refs[ref.decode()] = self.load_as.get(ref.decode(), image_id.decode())
        self.log.append(("load", ref.decode()))
        yield {"stream": f"Loaded image: {ref.decode()}\n"}
