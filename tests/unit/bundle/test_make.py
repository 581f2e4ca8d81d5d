"""`inv bundle` on a fake engine: the release built on the local engine, each image
saved into the file with the engine's image ID, the config as the bundle holds it;
a dry run that builds, pulls and writes nothing; a secret's value refused before
anything is built."""

from __future__ import annotations

import gzip
import io
import json
import pathlib
import tarfile

import pytest

from stackyard import config
from stackyard.bundle import archive, make
from stackyard.core.command import Command
from stackyard.core.runner import Result
from stackyard.errors import StackyardError
from stackyard.session import Session
from tests.unit.bundle.fakes import FakeEngine, saved
from tests.unit.fakes import FakeRunner, after_base, tmp_env

SECRET = "a-Redis-Password-Nobody-Sees"


def rendered(tag: str, extra: dict | None = None) -> dict:
    services = {
        "api": {"image": f"shop-app:{tag}"},
        "migrate": {"image": f"shop-app:{tag}", "build": {"context": "."}},
        "db": {"image": "postgres:17"},
        "redis": {"image": "redis:8"},
        **(extra or {}),
    }
    return {"name": "shop-prod", "services": services, "x-required": [SECRET]}


class Runner(FakeRunner):
    """Renders the config with the release's tag (APP_TAG) and builds its images into the engine."""

    def __init__(self, engine: FakeEngine, extra: dict | None = None, dry: bool = False):
        super().__init__({"rev-parse": Result(0, "abc1234ffffffff\n")}, dry=dry)
        self.engine, self.extra = engine, extra

    def answer(self, cmd: Command) -> Result:
        tag = cmd.env.get("APP_TAG", "latest")
        if after_base(cmd.argv)[:3] == ("config", "--format", "json"):
            return Result(0, json.dumps(rendered(tag, self.extra)))
        if after_base(cmd.argv)[:1] == ("build",):
            self.engine.refs[f"shop-app:{tag}"] = "sha256:built"
        return super().answer(cmd)


def session(tmp_path: pathlib.Path, engine: FakeEngine, **options) -> Session:
    project = config.Project(tmp_path, "shop", tmp_path / "compose", tmp_path / "env", "prod")
    env = tmp_env(tmp_path, "prod", project="shop-prod")
    return Session(project, env, Runner(engine, **options), out=io.StringIO(), client=engine)


def test_a_bundle_holds_the_built_release_every_image_with_its_id_and_the_config(tmp_path):
    engine = FakeEngine({"postgres:17": "sha256:pg", "redis:8": "sha256:rd"})
    s = session(tmp_path, engine)
    make.run(s)
    [path] = (tmp_path / "dist").iterdir()
    release = path.name.removeprefix("shop-prod-prod-").removesuffix(".bundle.tar")
    assert release.startswith("abc1234-")
    manifest = archive.verify(path)
    assert (manifest.project, manifest.environment, manifest.release) == ("shop-prod", "prod", release)
    assert [(i.ref, i.id, i.services) for i in manifest.images] == [
        (f"shop-app:{release}", "sha256:built", ("api", "migrate")),
        ("postgres:17", "sha256:pg", ("db",)),
        ("redis:8", "sha256:rd", ("redis",)),
    ]
    # The build: the release's tag, on the local engine (never a remote target's).
    [build] = [c for c in s.runner.commands if after_base(c.argv)[:1] == ("build",)]
    assert build.env["APP_TAG"] == release and build.local_engine
    with tarfile.open(path) as tar:
        for image in manifest.images:
            assert gzip.decompress(tar.extractfile(image.member).read()) == saved(image.ref, image.id)
        held = json.loads(tar.extractfile("compose.json").read())
    assert held == {
        "name": "shop-prod",
        "services": {**rendered(release)["services"], "migrate": {"image": f"shop-app:{release}"}},
    }
    out = s.out.getvalue()
    assert f"bundle of prod, release {release}: 3 images, compose.json, manifest" in out
    assert f"wrote {path}: 3 images, " in out and f"`inv bundle.verify {path}` checks it" in out
    assert engine.log == [("save", f"shop-app:{release}"), ("save", "postgres:17"), ("save", "redis:8")]


def test_an_image_the_engine_lacks_is_pulled_first(tmp_path):
    engine = FakeEngine({"postgres:17": "sha256:pg"})
    make.run(session(tmp_path, engine), tmp_path / "out" / "b.tar")
    assert engine.log[0] == ("pull", "redis:8")
    assert archive.verify(tmp_path / "out" / "b.tar").images[-1].id == "sha256:pulled-redis:8"


def test_a_dry_run_writes_pulls_and_saves_nothing(tmp_path):
    engine = FakeEngine({"postgres:17": "sha256:pg"})
    s = session(tmp_path, engine, dry=True)
    make.run(s, tmp_path / "b.tar")
    assert list(tmp_path.iterdir()) == [] and engine.log == []
    assert "[dry-run] $ [engine] pull image redis:8 (this machine's engine)" in s.runner.out.getvalue()
    assert s.out.getvalue().endswith(f"[dry-run] {tmp_path / 'b.tar'} not written\n")


def test_a_secret_in_the_config_is_refused_before_anything_is_built(tmp_path, monkeypatch):
    (tmp_path / "env").mkdir()
    (tmp_path / "env" / "prod.local.env").write_text(f"REDIS_PASSWORD={SECRET}\n")
    engine = FakeEngine({"postgres:17": "sha256:pg", "redis:8": "sha256:rd"})
    s = session(tmp_path, engine, extra={"worker": {"image": "w:1", "command": ["run", "--password", SECRET]}})
    with pytest.raises(StackyardError) as info:
        make.run(s)
    assert info.value.message == (
        "the rendered prod config holds the value of the secret REDIS_PASSWORD (service worker): no bundle written"
    )
    assert SECRET not in str(info.value) and SECRET not in s.out.getvalue()
    assert [after_base(c.argv)[:1] for c in s.runner.commands if c.argv[1] == "compose"] == [("config",)]
    assert not (tmp_path / "dist").exists() and engine.log == []


def test_a_secret_of_the_process_environment_counts_too(tmp_path, monkeypatch):
    monkeypatch.setenv("DEPLOY_TOKEN", "ci-token-value-123")
    engine = FakeEngine()
    s = session(tmp_path, engine, extra={"worker": {"image": "w:1", "labels": {"t": "ci-token-value-123"}}})
    with pytest.raises(StackyardError, match=r"secret DEPLOY_TOKEN \(service worker\)"):
        make.run(s)
