"""Using a bundle: `inv bundle.verify`, the load of its images into a target engine,
and its compose config as the environment a deploy of it runs.

`load` verifies the whole file before it touches the engine: a damaged bundle
changes nothing on the host. Then each image the target lacks (compared by image
ID) streams from the file into the target's `docker load`, and the target must
then have the manifest's ID under the image's name."""

from __future__ import annotations

import dataclasses
import json
import pathlib
import time
from collections.abc import Callable

from stackyard.bundle import archive
from stackyard.bundle.manifest import COMPOSE, Manifest
from stackyard.config import Environment
from stackyard.core import table
from stackyard.deploy.engine_changes import change
from stackyard.engine import api
from stackyard.errors import StackyardError
from stackyard.session import Session


def show(path: pathlib.Path, say: Callable[[str], None], clock: Callable[[], float] = time.monotonic) -> Manifest:
    """`inv bundle.verify`: every member checked, then a table of them and the release."""
    started = clock()
    members = []
    manifest = archive.verify(path, seen=members.append)
    images = {image.member: image.ref for image in manifest.images}
    rows = [[m.name, archive.size(m.size), images.get(m.name, "-"), "ok"] for m in members]
    say(table.render(["MEMBER", "SIZE", "IMAGE", "OK"], rows))
    say(
        f"{path}: release {manifest.release} of {manifest.project} ({manifest.environment}), made {manifest.created}; "
        f"{len(members)} members, {archive.size(manifest.size())}, verified in {clock() - started:.1f} s"
    )
    return manifest


def load(s: Session, path: pathlib.Path, clock: Callable[[], float] = time.monotonic) -> Manifest:
    """Verify the bundle, then load each of its images the target engine lacks, and check
    that the engine has each under the manifest's image ID. Under a dry run: the verify,
    and each load echoed, not made."""
    manifest = archive.verify(path)
    s.print(f"{path}: release {manifest.release} of {manifest.project} ({manifest.environment}), verified")
    client = s.engine()
    sizes = {m.name: m.size for m in manifest.members}
    for image in manifest.images:
        if (api.inspect_image(client, image.ref) or {}).get("Id") == image.id:
            s.print(f"  {image.ref}: the engine has it")
            continue
        size = archive.size(sizes[image.member])
        started = clock()
        change(
            s,
            f"load image {image.ref} from {path.name} ({size})",
            lambda i=image: api.load(client, archive.read(path, i.member)),
        )
        if s.dry:
            continue
        found = (api.inspect_image(client, image.ref) or {}).get("Id")
        if found != image.id:
            raise StackyardError(
                f"image {image.ref} is {found or 'missing'} on the engine after its load from {path}, "
                f"the bundle's manifest says {image.id}",
                "is another process tagging images there? load the bundle again",
            )
        s.print(f"  loaded {image.ref}: {size} in {clock() - started:.1f} s")
    return manifest


def compose_config(path: pathlib.Path) -> dict:
    """The bundle's compose config (its SHA-256 checked, the images not read)."""
    manifest = archive.read_manifest(path)
    data = b"".join(archive.read(path, COMPOSE))
    member = manifest.member(COMPOSE)
    if member is None or archive.sha256(data) != member.sha256:
        raise StackyardError(f"{path}: member {COMPOSE} does not match its manifest", archive.COPY_AGAIN)
    return json.loads(data)


def environment(env: Environment, path: pathlib.Path, dest: pathlib.Path) -> Environment:
    """`env` as a deploy of the bundle runs it: its one compose file the bundle's config,
    written into `dest`; its env files the same (they give the secrets' values). A
    bundle of another environment is refused."""
    manifest = archive.read_manifest(path)
    if manifest.environment != env.name:
        raise StackyardError(
            f"{path} is a bundle of environment {manifest.environment}, not {env.name}",
            f"write one with `inv bundle --env {env.name}`",
        )
    dest.mkdir(parents=True, exist_ok=True)
    file = dest / f"{manifest.project}-{manifest.environment}-{manifest.release}.compose.json"
    file.write_text(json.dumps(compose_config(path), indent=2) + "\n")
    return dataclasses.replace(env, files=(file,))
