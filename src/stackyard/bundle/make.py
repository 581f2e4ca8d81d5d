"""`inv bundle`: an environment's release written to one file for a host with no
registry and no source.

The release is the working tree's (its name as a deploy gives it), built on the
local engine with the release's tag. The compose config is rendered as the
deploy renders it, then made the bundle's (contents.py: no build, no extension
fields) and refused if it takes a file from this checkout or holds the value of
a secret: a bundle holds the name of each secret's variable, never its value; the
deploy of the bundle takes the values from its own machine's env files or
process environment. Then each image the config runs is saved by the engine and
streamed into the file, gzip-compressed; the manifest comes last."""

from __future__ import annotations

import os
import pathlib
import time
from collections.abc import Callable, Iterable, Iterator

from stackyard.bundle import archive, contents
from stackyard.bundle.manifest import COMPOSE, Image, Manifest, image_member
from stackyard.commands import compose
from stackyard.deploy import releases
from stackyard.deploy.engine_changes import change
from stackyard.deploy.plan import BUILD_DEADLINE
from stackyard.deploy.run import release_name
from stackyard.engine import api, state
from stackyard.env import ops as envops
from stackyard.env import schema as envschema
from stackyard.env.check import is_secret
from stackyard.env.masking import MIN_MASKED
from stackyard.errors import StackyardError
from stackyard.session import Session


def run(s: Session, output: pathlib.Path | None = None, clock: Callable[[], float] = time.monotonic) -> None:
    """Build the working tree's release and write its bundle to `output` (default
    dist/<project>-<env>-<release>.bundle.tar). Under a dry run: the checks, the
    build command and what would be written; nothing is built, pulled or written."""
    release = release_name(s)
    rendered = s.read(compose.for_release(compose.config_json(s.env), release)).stdout
    full = state.parse_config(rendered)
    refs = contents.images(full, release)
    config = contents.for_bundle(full)
    contents.refuse_host_files(config, s.project.root, s.env.name)
    contents.refuse_secrets(config, secrets(s), s.env.name)
    path = output or default_path(s, release)
    s.print(f"bundle of {s.env.name}, release {release}: {len(refs)} images, {COMPOSE}, manifest")
    for ref in refs:
        s.print(f"  {ref.ref} ({'built' if ref.built else 'pulled'}; {', '.join(ref.services)})")
    if any(ref.built for ref in refs):
        build = compose.for_release(compose.build(s.env), release).on_local_engine()
        s.stream(build, timeout=BUILD_DEADLINE)
    client = s.local_engine()
    for ref in refs:
        if not ref.built and api.inspect_image(client, ref.ref) is None:
            change(s, f"pull image {ref.ref} (this machine's engine)", lambda r=ref.ref: api.pull(client, r))
    if s.dry:
        s.print(f"[dry-run] {path} not written")
        return
    started = clock()
    manifest = write(s, path, release, refs, config, clock)
    s.print(
        f"wrote {path}: {len(manifest.images)} images, {archive.size(manifest.size())} in {clock() - started:.1f} s; "
        f"`inv bundle.verify {path}` checks it"
    )


def write(
    s: Session,
    path: pathlib.Path,
    release: str,
    refs: list[contents.Ref],
    config: dict,
    clock: Callable[[], float] = time.monotonic,
) -> Manifest:
    """Each image's `docker save` stream from the local engine, gzip-compressed, then
    the config and the manifest, into `path`."""
    client = s.local_engine()
    created = releases.now()
    images = []
    with archive.Writer(path, created.timestamp()) as writer:
        for index, ref in enumerate(refs, 1):
            found = api.inspect_image(client, ref.ref)
            if found is None:
                raise StackyardError(
                    f"image {ref.ref} is not on this machine's engine",
                    "is the docker CLI's default engine (DOCKER_HOST, the docker context) another one?",
                )
            started, raw = clock(), Counted(api.save(client, ref.ref))
            member = writer.add(image_member(index, ref.ref), archive.gzipped(raw))
            images.append(Image(ref.ref, found["Id"], member.name, ref.services))
            s.print(
                f"  saved {ref.ref}: {archive.size(raw.bytes)}, {archive.size(member.size)} compressed, "
                f"in {clock() - started:.1f} s"
            )
        writer.add(COMPOSE, [contents.text(config).encode()])
        manifest = Manifest(
            project=s.env.project,
            environment=s.env.name,
            release=release,
            created=created.isoformat(timespec="seconds"),
            images=tuple(images),
            members=tuple(writer.members),
        )
        writer.finish(manifest)
    return manifest


class Counted:
    """A stream of chunks, counting the bytes that pass."""

    def __init__(self, chunks: Iterable[bytes]):
        self.chunks = chunks
        self.bytes = 0

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self.chunks:
            self.bytes += len(chunk)
            yield chunk


def secrets(s: Session) -> dict[str, str]:
    """{value: variable} of every secret (by the schema's `[secret]`, or by its name) in
    the environment's layers, overridden values too, and in the process environment."""
    schema = envschema.load(s.project.root)
    found: dict[str, str] = {}
    for name, setting in envops.settings(s).items():
        if is_secret(name, schema):
            for value in (setting.value, *(v for _, v in setting.overridden)):
                if value and len(value) >= MIN_MASKED:
                    found.setdefault(value, name)
    for name, value in os.environ.items():
        if value and len(value) >= MIN_MASKED and is_secret(name, schema):
            found.setdefault(value, name)
    return found


def default_path(s: Session, release: str) -> pathlib.Path:
    return s.project.root / "dist" / f"{s.env.project}-{s.env.name}-{release}.bundle.tar"
