"""The manifest: what it records, read back as written; another format version,
or a damaged manifest, refused with the fix."""

from __future__ import annotations

import json

import pytest

from stackyard.bundle.manifest import FORMAT, MAX_NAME, Image, Manifest, Member, image_member, parse
from stackyard.errors import StackyardError

MANIFEST = Manifest(
    project="shop-prod",
    environment="prod",
    release="abc1234-20261122101010",
    created="2026-11-22T10:10:10+00:00",
    images=(Image("shop-app:abc1234-20261122101010", "sha256:aa", "images/1-shop-app.tar.gz", ("api", "worker")),),
    members=(Member("images/1-shop-app.tar.gz", 123, "ff" * 32), Member("compose.json", 45, "ee" * 32)),
)


def test_a_manifest_reads_back_as_written():
    assert parse(MANIFEST.to_json(), "b.tar") == MANIFEST


def test_it_records_the_format_project_environment_release_time_images_and_members():
    data = json.loads(MANIFEST.to_json())
    assert list(data) == ["format", "project", "environment", "release", "created", "images", "members"]
    assert data["format"] == FORMAT == 1
    assert data["images"][0] == {
        "ref": "shop-app:abc1234-20261122101010",
        "id": "sha256:aa",
        "member": "images/1-shop-app.tar.gz",
        "services": ["api", "worker"],
    }
    assert data["members"][1] == {"name": "compose.json", "size": 45, "sha256": "ee" * 32}
    assert MANIFEST.size() == 168
    assert MANIFEST.member("compose.json") == MANIFEST.members[1] and MANIFEST.member("nope") is None


def test_another_format_version_is_refused_before_anything_else_is_read():
    data = json.dumps({"format": 2, "whatever": "a later layout"}).encode()
    with pytest.raises(StackyardError) as info:
        parse(data, "b.tar")
    assert str(info.value) == (
        "b.tar: bundle format 2, this stackyard reads format 1: "
        "use the stackyard version that wrote it, or write the bundle again with this one"
    )


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b"{not json", "(not JSON)"),
        (b"\xff\xfe", "(not JSON)"),
        (json.dumps({"format": 1, "project": "p"}).encode(), "(no 'environment')"),
        (
            json.dumps(
                {**json.loads(MANIFEST.to_json()), "members": [{"name": "x", "size": "big", "sha256": "0"}]}
            ).encode(),
            "(a value of the wrong kind: invalid literal for int() with base 10: 'big')",
        ),
    ],
)
def test_a_damaged_manifest_is_refused(data, why):
    with pytest.raises(StackyardError) as info:
        parse(data, "b.tar")
    assert info.value.message == f"b.tar: manifest.json is damaged {why}"
    assert "copy the bundle again" in (info.value.hint or "")


def test_an_image_member_is_named_after_its_reference_and_fits_a_tar_header():
    assert image_member(3, "offline/postgres:17") == "images/3-offline-postgres-17.tar.gz"
    assert image_member(1, "registry.example.com:5000/team/app@sha256:ab") == (
        "images/1-registry.example.com-5000-team-app-sha256-ab.tar.gz"
    )
    long = image_member(12, "r.example.com/" + "x" * 200 + ":tag")
    assert len(long) <= MAX_NAME and long.startswith("images/12-r.example.com-xxx") and long.endswith(".tar.gz")
