"""stackyard's own image, with no layer: a config and nothing else (~10 KB as a
`docker save` tar, made here, never pulled). Containers of it are created and
never started: the deploy lock (deploy/lock.py), and the short-lived holders
through which the state kept on the engine is read and written (engine/kept.py).

A fresh host with no registry has no image of the stack yet, and the lock and
the state come before the ship or the load that brings them. Its ID is the same
on every engine (the SHA-256 of a fixed config), and, without a VOLUME, its
containers make no anonymous volume."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from typing import TYPE_CHECKING

from stackyard.engine import api

if TYPE_CHECKING:
    from docker import DockerClient

IMAGE = "stackyard-lock:1"
#: The image's config: no layer, no command (its containers are never started).
_CONFIG = json.dumps(
    {
        "architecture": "amd64",
        "os": "linux",
        "config": {"Labels": {"dev.stackyard.image": "deploy lock, never started"}},
        "rootfs": {"type": "layers", "diff_ids": []},
    },
    sort_keys=True,
    separators=(",", ":"),
).encode()
IMAGE_ID = "sha256:" + hashlib.sha256(_CONFIG).hexdigest()


def image_tar() -> bytes:
    """The image as `docker load` takes it: its config and a manifest naming it IMAGE."""
    hexid = IMAGE_ID.removeprefix("sha256:")
    manifest = json.dumps([{"Config": f"{hexid}.json", "RepoTags": [IMAGE], "Layers": []}]).encode()
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for member, data in ((f"{hexid}.json", _CONFIG), ("manifest.json", manifest)):
            info = tarfile.TarInfo(member)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def missing(client: DockerClient) -> bool:
    return not api.image_exists(client, IMAGE)


def load(client: DockerClient) -> None:
    api.load(client, iter([image_tar()]))
