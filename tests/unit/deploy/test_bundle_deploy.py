"""`inv prod-deploy --bundle FILE`: the plan (a bundle's preflight and a load instead of
the build and the ship, the bundle's release), its run against the fake engine (the
compose commands take the bundle's config), and the refusal of a damaged bundle, or
one of another environment, before anything changes."""

from __future__ import annotations

import io
import json
import pathlib

import pytest

from stackyard import config
from stackyard.bundle import archive
from stackyard.bundle.manifest import COMPOSE, Image, Manifest, image_member
from stackyard.deploy import actions, releases
from stackyard.deploy import plan as deploy
from stackyard.deploy import run as deploy_run
from stackyard.errors import StackyardError
from stackyard.session import Session
from tests.unit.deploy.fakes import PROJECT, ROLES, STATED_ROLES, Container, EngineRunner, FakeClient, make
from tests.unit.fakes import tmp_env

OLD = "0ff1ce0-20261121090909"
REL = "b0dd1e5-20261122121212"  # the bundle's release
TARGET = "ssh://deploy@prod.example.com"
IMAGES = {f"shop-app:{REL}": "sha256:" + "a" * 64, "postgres:17": "sha256:" + "b" * 64}


def write_bundle(path: pathlib.Path, environment: str = "prod") -> Manifest:
    """A small bundle: a stand-in stream for each image, the config, the manifest."""
    with archive.Writer(path, 0) as w:
        images = []
        for index, (ref, image_id) in enumerate(IMAGES.items(), 1):
            member = w.add(image_member(index, ref), archive.gzipped([ref.encode() * 5000]))
            images.append(Image(ref, image_id, member.name, ("api",)))
        w.add(COMPOSE, [json.dumps({"name": PROJECT, "services": {"api": {"image": f"shop-app:{REL}"}}}).encode()])
        manifest = Manifest(PROJECT, environment, REL, "2026-11-22T12:12:12+00:00", tuple(images), tuple(w.members))
        w.finish(manifest)
    return manifest


def running(tmp_path: pathlib.Path) -> tuple[Session, FakeClient, EngineRunner]:
    """The fake prod stack with OLD serving, and its history."""
    engine = FakeClient()
    engine.add(Container(f"{PROJECT}-api-1", "api", f"shop-app:{OLD}"))
    engine.add(Container(f"{PROJECT}-worker-1", "worker", f"shop-app:{OLD}"))
    engine.images.refs |= {f"shop-app:{OLD}", f"shop-caddy:{OLD}"}
    project = config.Project(tmp_path, "shop", tmp_path / "compose", tmp_path / "env", "prod", roles=STATED_ROLES)
    runner = EngineRunner(engine)
    s = Session(project, tmp_env(tmp_path, "prod", project=PROJECT), runner, out=io.StringIO(), client=engine)
    releases.record(s, releases.Release(OLD, "t", "me", "ok"))
    return s, engine, runner


@pytest.fixture
def checks(monkeypatch) -> list[str]:
    """The preflight's env.check and security rules (they read the real project), and the
    load (bundle/load.py has its own tests), recorded; they pass."""
    ran: list[str] = []
    monkeypatch.setattr(actions.envops, "check", lambda s, quiet_ok=False: ran.append("env.check"))
    monkeypatch.setattr(actions.lint_run, "security_findings", lambda s: ran.append("security") or [])
    monkeypatch.setattr(actions.bundle_load, "load", lambda s, path, clock: ran.append(f"load {path.name}"))
    return ran


def test_the_plan_of_a_bundle_verifies_it_and_loads_it_instead_of_building(tmp_path):
    e = tmp_env(tmp_path, "prod", project=PROJECT)
    bundle = deploy.Bundle(
        tmp_path / "prod.bundle.tar", REL, (f"shop-app:{REL} (aaaaaaaaaaaa)", "postgres:17 (bbbbbbbbbbbb)")
    )
    plan = make("deploy", e, REL, OLD, [f"{PROJECT}-api-1"], ROLES, target=deploy.Target(TARGET), bundle=bundle)
    assert [s.name for s in plan.steps] == [
        "preflight",
        "lock",
        "load",
        "backup",
        "migrate",
        "api",
        "health",
        "switch",
        "workers",
    ]
    steps = {s.name: s for s in plan.steps}
    assert steps["preflight"].action == actions.BundlePreflight(bundle.path)
    assert steps["load"].action == actions.LoadBundle(bundle.path)
    assert steps["load"].deadline == deploy.SHIP_DEADLINE and not steps["load"].undo
    text = plan.text()
    assert text.splitlines()[0] == f"deploy {REL} to prod (project {PROJECT}) on {TARGET}, replacing {OLD}:"
    assert (
        "   1. preflight verify every member of prod.bundle.tar (size, SHA-256), env.check (strict); no git check, "
        "no lint rules: no source is deployed (`nox -s lint` runs where the bundle is written)"
    ) in text
    assert (
        "   3. load      load into the target's engine the images of prod.bundle.tar it lacks (by image ID), "
        "each checked against the manifest's ID after its load"
    ) in text
    assert (
        f"                shop-app:{REL} (aaaaaaaaaaaa)\n"
        "                postgres:17 (bbbbbbbbbbbb)\n"
        "                why: no build, no registry: the images come from the bundle"
    ) in text
    assert "build" not in [s.name for s in plan.steps] and "ship" not in text
    assert (
        f"   2. lock      create container {PROJECT}-deploy-lock on the target engine, from image stackyard-lock:1"
        in text
    )


def test_a_deploy_of_a_bundle_runs_its_release_with_its_config(tmp_path, checks):
    s, _, runner = running(tmp_path)
    path = tmp_path / "prod.bundle.tar"
    write_bundle(path)
    deploy_run.run(s, bundle=path, clock=lambda: 0.0, sleep=lambda _: None)
    assert checks == ["env.check", "load prod.bundle.tar"]
    assert releases.history(s)[-1].version == REL
    assert "build" not in [words[0] for words in runner.changes()]
    compose = [c for c in runner.changed() if c.argv[:2] == ("docker", "compose")]
    assert compose, runner.changes()
    for cmd in compose:  # the bundle's config, written for the deploy (and gone after it), is their one file
        files = [cmd.argv[i + 1] for i, arg in enumerate(cmd.argv) if arg == "--file"]
        assert [pathlib.Path(f).name for f in files] == [f"{PROJECT}-prod-{REL}.compose.json"], cmd.argv
        assert not pathlib.Path(files[0]).exists()
    assert f"{path}: release {REL} of {PROJECT} (prod), verified" in s.out.getvalue()


@pytest.mark.parametrize("damage", ["a flipped byte", "cut short", "another environment"])
def test_a_bad_bundle_is_refused_before_anything_changes(tmp_path, checks, damage):
    s, engine, runner = running(tmp_path)
    path = tmp_path / "prod.bundle.tar"
    manifest = write_bundle(path, "staging" if damage == "another environment" else "prod")
    data = bytearray(path.read_bytes())
    if damage == "a flipped byte":
        data[archive.BLOCK + 100] ^= 0x01  # inside the first image member
    elif damage == "cut short":
        data = data[: len(data) // 2]
    path.write_bytes(bytes(data))
    history = releases.history(s)
    with pytest.raises(StackyardError) as caught:
        deploy_run.run(s, bundle=path, clock=lambda: 0.0, sleep=lambda _: None)
    message = caught.value.message
    if damage == "another environment":
        assert message == f"{path} is a bundle of environment staging, not prod"
    elif damage == "a flipped byte":
        # The preflight's verify: the deploy fails at its first step, nothing begun on the host.
        assert message.startswith(f"deploy of {REL} failed: {path}: member {manifest.images[0].member} does not ")
        assert caught.value.hint.startswith(f"{OLD} still serves")
    else:
        assert message.startswith(f"{path} ")
    assert runner.changes() == [] and engine.log == [] and "load prod.bundle.tar" not in checks
    assert releases.history(s) == history
