"""The bundle file: written as members stream in, read back as a plain tar, and
every way it can arrive broken (cut off, a changed byte, a member missing or
added, another format version) refused by verify with a one-line error naming
the member and the fix. Small crafted files: no engine."""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import io
import json
import pathlib
import tarfile

import pytest

from stackyard.bundle import archive
from stackyard.bundle.manifest import CHECKSUM, COMPOSE, MANIFEST, Image, Manifest, Member
from stackyard.errors import StackyardError
from tests.unit.bundle.fakes import FILLER

APP = "images/1-shop-app-r1.tar.gz"
DB = "images/2-postgres-17.tar.gz"
COMPOSE_TEXT = b'{"services": {}}\n'


def write(path: pathlib.Path, extra: dict | None = None) -> Manifest:
    """A bundle of two images (a 1 MiB and a small one, gzip-compressed), its config and manifest."""
    with archive.Writer(path, 1_700_000_000) as w:
        app = w.add(APP, archive.gzipped([b"app|", FILLER]))
        db = w.add(DB, archive.gzipped([b"db|x" * 100]))
        w.add(COMPOSE, [COMPOSE_TEXT])
        manifest = Manifest(
            "shop-prod",
            "prod",
            "r1",
            "2026-11-22T10:10:10+00:00",
            (
                Image("shop-app:r1", "sha256:a1", app.name, ("api",)),
                Image("postgres:17", "sha256:d6", db.name, ("db",)),
            ),
            tuple(w.members),
        )
        w.finish(dataclasses.replace(manifest, **(extra or {})))
    return manifest


def craft(path: pathlib.Path, members: list[tuple[str, bytes]], manifest: dict) -> None:
    """A tar written by tarfile itself, with `manifest` (and its matching SHA-256) last."""
    data = json.dumps(manifest).encode()
    with tarfile.open(path, "w", format=tarfile.GNU_FORMAT) as tar:
        for name, body in [*members, (MANIFEST, data), (CHECKSUM, hashlib.sha256(data).hexdigest().encode())]:
            info = tarfile.TarInfo(name)
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body))


def listing(members: list[tuple[str, bytes]]) -> list[dict]:
    return [{"name": n, "size": len(b), "sha256": hashlib.sha256(b).hexdigest()} for n, b in members]


def a_manifest(members: list[tuple[str, bytes]], **changes) -> dict:
    image = {"ref": "shop-app:r1", "id": "sha256:a1", "member": APP, "services": ["api"]}
    base = {"format": 1, "project": "p", "environment": "prod", "release": "r1", "created": "t"}
    return {**base, "images": [image], "members": listing(members), **changes}


def refused(path: pathlib.Path) -> StackyardError:
    with pytest.raises(StackyardError) as info:
        archive.verify(path)
    return info.value


def test_a_bundle_verifies_and_is_a_plain_tar_of_its_members_in_order(tmp_path):
    path = tmp_path / "b.tar"
    written = write(path)
    seen: list[Member] = []
    assert archive.verify(path, seen=seen.append) == written
    assert seen == list(written.members) and [m.name for m in seen] == [APP, DB, COMPOSE]
    with tarfile.open(path) as tar:
        assert tar.getnames() == [APP, DB, COMPOSE, MANIFEST, CHECKSUM]
        assert gzip.decompress(tar.extractfile(APP).read()) == b"app|" + FILLER
        assert tar.extractfile(COMPOSE).read() == COMPOSE_TEXT
        assert json.loads(tar.extractfile(MANIFEST).read())["release"] == "r1"
        assert tar.getmember(APP).mtime == 1_700_000_000
    assert path.stat().st_size % tarfile.RECORDSIZE == 0
    assert list(tmp_path.iterdir()) == [path]  # no .partial left


def test_a_member_streams_back_in_chunks(tmp_path):
    path = tmp_path / "b.tar"
    write(path)
    chunks = list(archive.read(path, APP))
    assert len(chunks) >= 1 and gzip.decompress(b"".join(chunks)) == b"app|" + FILLER
    assert archive.read_manifest(path).release == "r1"


def test_a_failed_write_leaves_no_file(tmp_path):
    path = tmp_path / "b.tar"

    def broken():
        yield b"some"
        raise StackyardError("the engine went away")

    with pytest.raises(StackyardError), archive.Writer(path, 0) as w:
        w.add(APP, broken())
    assert list(tmp_path.iterdir()) == []


def test_a_header_holds_any_size_in_one_block():
    # A multi-GB image: a GNU header writes the size in base 256, still one block.
    assert len(archive.Writer(pathlib.Path("x"), 0)._header(APP, 20 * 2**30)) == archive.BLOCK


def test_gzipped_is_one_gzip_stream_of_the_chunks():
    assert gzip.decompress(b"".join(archive.gzipped([b"a" * 10, b"", b"b" * 5]))) == b"a" * 10 + b"b" * 5


def test_sizes_read_as_people_read_them():
    assert [archive.size(n) for n in (17, 1_500, 910_213_120, 2_150_000_000)] == [
        "17 B",
        "1.5 kB",
        "910.2 MB",
        "2.1 GB",
    ]


# --- what arrives broken ---


def test_no_file(tmp_path):
    assert str(refused(tmp_path / "none.tar")) == (
        f"no bundle at {tmp_path / 'none.tar'}: give the path of the file `inv bundle` wrote"
    )


@pytest.mark.parametrize("content", [b"", b"not a tar at all" * 100])
def test_not_a_tar(tmp_path, content):
    path = tmp_path / "b.tar"
    path.write_bytes(content)
    assert refused(path).message.startswith(f"{path} is not a bundle (not a plain tar file: ")


def test_a_gzip_compressed_copy_is_not_a_bundle(tmp_path):
    path = tmp_path / "b.tar"
    write(path)
    path.write_bytes(gzip.compress(path.read_bytes()))
    assert "is not a bundle (not a plain tar file" in str(refused(path))


def test_cut_off_inside_an_image_member(tmp_path):
    path = tmp_path / "b.tar"
    manifest = write(path)
    path.write_bytes(path.read_bytes()[: archive.BLOCK + 1000])
    err = refused(path)
    size = manifest.members[0].size
    assert err.message == f"{path} is truncated: it ends inside member {APP} (1000 of {size} bytes)"
    assert err.hint == archive.COPY_AGAIN


def test_cut_off_inside_a_header(tmp_path):
    path = tmp_path / "b.tar"
    write(path)
    with tarfile.open(path) as tar:
        compose_header = tar.getmember(COMPOSE).offset
    path.write_bytes(path.read_bytes()[: compose_header + 100])
    assert refused(path).message == f"{path} is truncated: it ends after member {DB}, before the end of the archive"


def test_cut_off_before_the_end_of_the_archive(tmp_path):
    """Every member whole, the zero blocks that end a tar gone: a copy that stopped short all the same."""
    path = tmp_path / "b.tar"
    write(path)
    with tarfile.open(path) as tar:
        end = tar.getmember(CHECKSUM).offset_data + archive.BLOCK
    path.write_bytes(path.read_bytes()[: end + 100])
    assert refused(path).message == (
        f"{path} is truncated: it ends after member {CHECKSUM}, before the end of the archive"
    )


def flip(path: pathlib.Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


def test_a_changed_byte_in_an_image_member(tmp_path):
    path = tmp_path / "b.tar"
    write(path)
    with tarfile.open(path) as tar:
        flip(path, tar.getmember(APP).offset_data + 5000)
    err = refused(path)
    assert err.message == f"{path}: member {APP} does not match its SHA-256 (a changed byte)"
    assert err.hint == archive.COPY_AGAIN


def test_a_changed_byte_in_the_manifest(tmp_path):
    """The manifest's own SHA-256 finds a change the JSON would not show (a digit of the release)."""
    path = tmp_path / "b.tar"
    write(path)
    with tarfile.open(path) as tar:
        info = tar.getmember(MANIFEST)
        at = tar.extractfile(info).read().index(b'"r1"') + 2
        flip(path, info.offset_data + at)
    assert refused(path).message == f"{path}: member {MANIFEST} does not match its SHA-256 ({CHECKSUM})"


def test_a_changed_byte_in_a_tar_header(tmp_path):
    path = tmp_path / "b.tar"
    write(path)
    with tarfile.open(path) as tar:
        at = tar.getmember(COMPOSE).offset
    flip(path, at + 3)  # the member's name: the header's checksum no longer matches
    assert refused(path).message == f"{path} is damaged: the tar header after member {DB} (byte {at}) is invalid"


def test_a_member_missing(tmp_path):
    path = tmp_path / "b.tar"
    members = [(APP, b"app"), (COMPOSE, COMPOSE_TEXT)]
    craft(path, [members[1]], a_manifest(members))
    assert refused(path).message == f"{path}: member {APP} is missing"


def test_an_image_without_its_member(tmp_path):
    path = tmp_path / "b.tar"
    members = [(COMPOSE, COMPOSE_TEXT)]
    craft(path, members, a_manifest(members))
    assert refused(path).message == f"{path}: manifest.json lists image shop-app:r1 without its member {APP}"


def test_no_compose_config(tmp_path):
    path = tmp_path / "b.tar"
    members = [(APP, b"app")]
    craft(path, members, a_manifest(members))
    assert refused(path).message == f"{path}: manifest.json lists no compose.json"


def test_a_member_the_manifest_does_not_list(tmp_path):
    path = tmp_path / "b.tar"
    members = [(APP, b"app"), (COMPOSE, COMPOSE_TEXT)]
    craft(path, [*members, ("run-me.sh", b"#!/bin/sh\n")], a_manifest(members))
    err = refused(path)
    assert err.message == f"{path}: member run-me.sh is not in its manifest.json"


def test_a_member_of_another_size_than_the_manifest_says(tmp_path):
    path = tmp_path / "b.tar"
    members = [(APP, b"app"), (COMPOSE, COMPOSE_TEXT)]
    manifest = a_manifest(members)
    manifest["members"][0]["size"] = 4
    craft(path, members, manifest)
    assert refused(path).message == f"{path}: member {APP} is 3 bytes, its manifest says 4"


def test_no_manifest(tmp_path):
    path = tmp_path / "b.tar"
    with tarfile.open(path, "w") as tar:
        info = tarfile.TarInfo(COMPOSE)
        info.size = len(COMPOSE_TEXT)
        tar.addfile(info, io.BytesIO(COMPOSE_TEXT))
    assert refused(path).message == f"{path} has no manifest.json: it is not a bundle, or not all of one"


def test_another_format_version(tmp_path):
    path = tmp_path / "b.tar"
    members = [(APP, b"app"), (COMPOSE, COMPOSE_TEXT)]
    craft(path, members, a_manifest(members, format=2))
    assert refused(path).message == f"{path}: bundle format 2, this stackyard reads format 1"
