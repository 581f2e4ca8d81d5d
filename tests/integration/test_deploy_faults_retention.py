"""Fault 8 of #13, retention: a deploy keeps the images of the last KEEP_IMAGES
distinct releases that served (a rollback to a release is no new one; a failed
one never served), for every image the release uses: the app's and the
per-release proxy image. Tags of other projects, and tags of this project's
repositories that are not releases of its history (another environment's sharing
them), stay.

The engine is seeded with tags of older releases (tags of one image already on
the engine: removing a tag removes no image), and their history is written into
the project's history on the engine; then one deploy (a first one: it records and
prunes as every deploy does)."""

from __future__ import annotations

import os
import subprocess

import pytest

from stackyard.deploy.releases import KEEP_IMAGES
from tests.support import history, image_tags, prod_inv, put_history, remove_prod_project

pytestmark = pytest.mark.integration

OLD = [f"{n:07x}-2026010{n}000000" for n in range(1, KEEP_IMAGES + 3)]  # KEEP_IMAGES + 2 older releases
V1, V2, V3, V4, V5, V6, V7 = OLD
# Oldest first. By record, the last 5 are new, V7, V6, V7, V5: four releases, and V3
# would go. By distinct release that served: new, V7, V6, V5, V3 stay; V4 never
# served (failed), V2 and V1 are older.
SEEDED = [
    (V1, "deploy", "ok"),
    (V2, "deploy", "ok"),
    (V3, "deploy", "ok"),
    (V4, "deploy", "failed"),
    (V5, "deploy", "ok"),
    (V6, "deploy", "ok"),
    (V5, "rollback", "ok"),
    (V6, "rollback", "ok"),
    (V7, "deploy", "ok"),
    (V6, "rollback", "ok"),
    (V7, "rollback", "ok"),
]
KEPT = {V7, V6, V5, V3}  # and the new one
# Another environment's release, sharing the repositories: a tag of them, in no record of this history.
OTHER_ENV = "abcdef0-20251231000000"


def record(version: str, kind: str, result: str) -> dict:
    fields = {"version": version, "time": "2026-01-01T00:00:00+00:00", "who": "ci@test", "result": result}
    return fields | {"kind": kind}


def tag(image: str, *targets: str) -> None:
    for target in targets:
        subprocess.run(["docker", "tag", image, target], capture_output=True, check=True)


def test_a_deploy_keeps_the_images_of_the_last_distinct_good_releases_of_every_image(tmp_path):
    assert KEEP_IMAGES == 5, "SEEDED and KEPT are made for KEEP_IMAGES = 5"
    inv = prod_inv("retention")
    project = inv.env["STACKYARD_PROJECT"]
    repositories = (inv.env["APP_IMAGE"], inv.env["CADDY_APP_IMAGE"])  # the app's, the proxy's (per release)
    other = f"{project}-otherproject-app"  # another project's repository, with the same release names
    seed = os.environ.get("DEBIAN_IMAGE", "debian:trixie")
    try:
        for repository in repositories:
            tag(seed, *(f"{repository}:{v}" for v in [*OLD, OTHER_ENV]))
        tag(seed, *(f"{other}:{v}" for v in OLD))
        put_history(project, [record(*r) for r in SEEDED])

        inv("prod-deploy", "--allow-dirty")

        found = history(project)
        assert [(r["version"], r["kind"], r["result"]) for r in found[:-1]] == SEEDED  # read back, in order
        new = found[-1]
        assert new["result"] == "ok" and new["version"] not in OLD
        for repository in repositories:
            assert image_tags(repository) == {new["version"], *KEPT, OTHER_ENV}, repository
        assert image_tags(other) == set(OLD)  # another project's: untouched
    finally:
        remove_prod_project(inv)  # its images, the seeded tags with them
