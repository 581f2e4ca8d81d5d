"""Using a bundle: `inv bundle.verify`'s table, the load into a target engine
(verified first, only what the engine lacks by image ID, the IDs checked after),
and the bundle's config as the environment a deploy runs."""

from __future__ import annotations

import io
import json
import pathlib
import tarfile

import pytest

from stackyard import config
from stackyard.bundle import archive, load
from stackyard.bundle.manifest import COMPOSE, Image, Manifest, image_member
from stackyard.errors import StackyardError
from stackyard.session import Session
from tests.unit.bundle.fakes import FakeEngine, saved
from tests.unit.fakes import FakeRunner, tmp_env

IMAGES = {"shop-app:r1": "sha256:app", "postgres:17": "sha256:pg", "redis:8": "sha256:rd"}
CONFIG = {"name": "shop-prod", "services": {"api": {"image": "shop-app:r1"}}}


def bundle(path: pathlib.Path, environment: str = "prod") -> Manifest:
    with archive.Writer(path, 0) as w:
        images = []
        for index, (ref, image_id) in enumerate(IMAGES.items(), 1):
            member = w.add(image_member(index, ref), archive.gzipped([saved(ref, image_id)]))
            images.append(Image(ref, image_id, member.name, ("s",)))
        w.add(COMPOSE, [json.dumps(CONFIG).encode()])
        manifest = Manifest(
            "shop-prod", environment, "r1", "2026-11-22T10:10:10+00:00", tuple(images), tuple(w.members)
        )
        w.finish(manifest)
    return manifest


def target(tmp_path: pathlib.Path, engine: FakeEngine, dry: bool = False) -> Session:
    project = config.Project(tmp_path, "shop", tmp_path / "compose", tmp_path / "env", "prod")
    return Session(project, tmp_env(tmp_path, "prod"), FakeRunner(dry=dry), out=io.StringIO(), client=engine)


def test_verify_prints_every_member_and_the_release(tmp_path):
    path = tmp_path / "b.tar"
    bundle(path)
    said: list[str] = []
    manifest = load.show(path, said.append, clock=iter([0.0, 2.5]).__next__)
    head, *rows = said[0].splitlines()
    assert head.split() == ["MEMBER", "SIZE", "IMAGE", "OK"]
    assert [row.split()[0] for row in rows] == [m.name for m in manifest.members]
    assert rows[0].split()[-2:] == ["shop-app:r1", "ok"] and rows[-1].split()[-2:] == ["-", "ok"]
    assert said[1] == (
        f"{path}: release r1 of shop-prod (prod), made 2026-11-22T10:10:10+00:00; "
        f"4 members, {archive.size(manifest.size())}, verified in 2.5 s"
    )


def test_a_load_gives_the_engine_each_image_it_lacks_by_id(tmp_path):
    path = tmp_path / "b.tar"
    bundle(path)
    engine = FakeEngine({"postgres:17": "sha256:pg", "redis:8": "sha256:an-older-redis"})
    s = target(tmp_path, engine)
    manifest = load.load(s, path)
    assert engine.log == [("load", "shop-app:r1"), ("load", "redis:8")]
    assert engine.refs == IMAGES
    assert manifest.release == "r1"
    out = s.out.getvalue()
    assert "  postgres:17: the engine has it" in out
    assert "  loaded shop-app:r1: " in out and "  loaded redis:8: " in out


def test_a_damaged_bundle_loads_nothing(tmp_path):
    """The last image's member is damaged: not even the images before it are loaded."""
    path = tmp_path / "b.tar"
    bundle(path)
    with tarfile.open(path) as tar:
        at = tar.getmember(image_member(3, "redis:8")).offset_data + 100
    data = bytearray(path.read_bytes())
    data[at] ^= 1
    path.write_bytes(bytes(data))
    engine = FakeEngine()
    with pytest.raises(StackyardError, match=r"does not match its SHA-256 \(a changed byte\)"):
        load.load(target(tmp_path, engine), path)
    assert engine.log == []


def test_an_image_loaded_under_another_id_is_an_error(tmp_path):
    path = tmp_path / "b.tar"
    bundle(path)
    engine = FakeEngine(load_as={"postgres:17": "sha256:something-else"})
    with pytest.raises(StackyardError) as info:
        load.load(target(tmp_path, engine), path)
    assert info.value.message == (
        f"image postgres:17 is sha256:something-else on the engine after its load from {path}, "
        "the bundle's manifest says sha256:pg"
    )


def test_a_dry_run_verifies_and_echoes_the_loads(tmp_path):
    path = tmp_path / "b.tar"
    bundle(path)
    engine = FakeEngine({"redis:8": "sha256:rd"})
    s = target(tmp_path, engine, dry=True)
    load.load(s, path)
    assert engine.log == []
    echoed = s.runner.out.getvalue().splitlines()
    assert [line.split(" (")[0] for line in echoed] == [
        "[dry-run] $ [engine] load image shop-app:r1 from b.tar",
        "[dry-run] $ [engine] load image postgres:17 from b.tar",
    ]


def test_the_bundles_config_as_the_environment_a_deploy_runs(tmp_path):
    path = tmp_path / "b.tar"
    bundle(path)
    assert load.compose_config(path) == CONFIG
    env = tmp_env(tmp_path, "prod", env_files=(tmp_path / "env" / "prod.local.env",))
    deployed = load.environment(env, path, tmp_path / "state")
    [file] = deployed.files
    assert file == tmp_path / "state" / "shop-prod-prod-r1.compose.json"
    assert json.loads(file.read_text()) == CONFIG
    assert deployed.env_files == env.env_files and deployed.project == env.project


def test_a_bundle_of_another_environment_is_refused(tmp_path):
    path = tmp_path / "b.tar"
    bundle(path, environment="staging")
    with pytest.raises(StackyardError) as info:
        load.environment(tmp_env(tmp_path, "prod"), path, tmp_path / "state")
    assert (
        str(info.value)
        == f"{path} is a bundle of environment staging, not prod: write one with `inv bundle --env prod`"
    )
    assert not (tmp_path / "state").exists()
