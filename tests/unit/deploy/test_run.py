"""The deploy executor on a fake engine: what it runs, in which order, what it
undoes when a step fails, and what it records. A recording runner answers the
compose and docker commands, a fake SDK client stands for the Engine API, and a
fake clock for time."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import io
import json
import os
import pathlib
import re
import signal
import sys
import tarfile
import time
from collections.abc import Callable

import docker.errors
import pytest

from stackyard import config
from stackyard.commands import compose
from stackyard.core.command import Command
from stackyard.core.runner import Result, Runner
from stackyard.deploy import actions, engine_changes, releases
from stackyard.deploy import lock as deploy_lock
from stackyard.deploy import plan as deploy
from stackyard.deploy import run as deploy_run
from stackyard.deploy.proxy import CADDY_DRAIN, CADDY_SETTLE, adapter
from stackyard.engine import ship
from stackyard.errors import CommandTimeout, StackyardError
from stackyard.session import Session
from stackyard.stack import db
from tests.unit.deploy.fakes import (
    BACKEND,
    DB_IMAGE,
    EDGE,
    NETWORKS,
    PROJECT,
    ROLES,
    STATED_ROLES,
    Container,
    EngineRunner,
    FakeClient,
    make,
    short,
)
from tests.unit.fakes import tmp_env

OLD = "0ff1ce0-20261121090909"
NEW = "abc1234-20261122101010"
OLDER = "0000aaa-20261120080808"


def switch_to(container: str) -> list[tuple[str, ...]]:
    """The commands of a switch of the fake stack's proxy to `container`, as its adapter
    (deploy/proxy.py) makes them."""
    env = tmp_env(pathlib.Path("/nowhere"), "prod", project=PROJECT)
    assert ROLES.proxy is not None
    return [short(call.cmd) for call in adapter(ROLES.proxy, "api", NETWORKS).switch(env, container, 8000)]


def start_beside(n: int) -> list[tuple[str, ...]]:
    """The commands that start web container n beside the others: created, taken off the
    network it shares with the proxy, started."""
    scale = ("--no-deps", "--no-recreate", "--scale", f"api={n}", "api")
    return [
        ("up", "--no-start", *scale),
        ("docker", "network", "disconnect", EDGE, f"{PROJECT}-api-{n}"),
        ("up", "--detach", *scale),
    ]


def switch_back(new: str) -> list[tuple[str, ...]]:
    """Caddy's switch back, the old container still on its network: the new one stopped (it drains)."""
    return [("docker", "stop", "--time", str(CADDY_DRAIN), new)]


class Clock:
    """Time that passes only when the code sleeps."""

    def __init__(self):
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@dataclasses.dataclass
class Target:
    s: Session
    engine: FakeClient
    runner: EngineRunner
    clock: Clock

    @property
    def out(self) -> str:
        return self.s.out.getvalue()

    def history(self) -> list[releases.Release]:
        return releases.history(self.s)

    def record(self, release: releases.Release) -> None:
        releases.record(self.s, release)

    def deploy(self, kind: releases.Kind = "deploy", release: str = NEW, previous: str | None = OLD) -> deploy.Plan:
        """Make the plan for what runs and execute it (preflight left out: it reads the real project)."""
        running = sorted(c.name for c in self.engine.service("api"))
        plan = make(kind, self.s.env, release, previous if running else None, running, ROLES)
        if kind == "deploy":
            plan = dataclasses.replace(plan, steps=plan.steps[1:])
        deploy_run.execute(plan, actions.Deploy(self.s, self.clock, self.clock.sleep))
        return plan


def kept_backup(t: Target, name: str) -> bytes:
    """The backup's file as the engine keeps it, in the backup's own volume."""
    return t.engine.volumes.files[f"stackyard-{PROJECT}-backup-{name}"][f"{name}.dump"]


def upstream(line: str) -> str:
    """The new container's name, known only once it is created, left out."""
    return re.sub(rf"'{re.escape(actions.NEW)}'|{PROJECT}-api-2\b", "NEW", line)


def target(tmp_path, *, serving: str | None = OLD, history=(OLD,), **runner_options) -> Target:
    engine = FakeClient()
    if serving:
        engine.add(Container(f"{PROJECT}-api-1", "api", f"shop-app:{serving}"))
        engine.add(Container(f"{PROJECT}-worker-1", "worker", f"shop-app:{serving}"))
    project = config.Project(tmp_path, "shop", tmp_path / "compose", tmp_path / "env", "prod", roles=STATED_ROLES)
    runner = EngineRunner(engine, **runner_options)
    env = tmp_env(tmp_path, "prod", project=PROJECT)
    made = Target(Session(project, env, runner, out=io.StringIO(), client=engine), engine, runner, Clock())
    for version in history:
        engine.images.refs |= {f"shop-app:{version}", f"shop-caddy:{version}"}
        made.record(releases.Release(version, "t", "me", "ok"))
    return made


def test_a_deploy_runs_the_plan_steps_in_order(tmp_path):
    t = target(tmp_path)
    plan = t.deploy()
    assert t.runner.changes() == [
        ("build",),
        ("exec", "--no-TTY", "db", "sh", "-c", db.DUMP, "sh"),
        ("run", "--rm", "--no-deps", "--no-TTY", "migrate"),
        # Created, taken off the network it shares with the proxy, started: no traffic before the switch.
        ("up", "--no-start", "--no-deps", "--no-recreate", "--scale", "api=2", "api"),
        ("docker", "network", "disconnect", EDGE, f"{PROJECT}-api-2"),
        ("up", "--detach", "--no-deps", "--no-recreate", "--scale", "api=2", "api"),
        *switch_to(f"{PROJECT}-api-2"),
        ("up", "--detach", "--wait", "--wait-timeout", "120", "--no-deps", "worker", "listener"),
        ("docker", "stop", "--time", "30", f"{PROJECT}-api-1"),
        ("docker", "rm", f"{PROJECT}-api-1"),
    ]
    assert switch_to(f"{PROJECT}-api-2") == [("docker", "network", "connect", "--alias=api", EDGE, f"{PROJECT}-api-2")]
    # The new release's images: every compose command of the deploy names them.
    tagged = [c for c in t.runner.changed() if c.argv[1] == "compose" and "exec" not in c.argv]
    assert {c.env.get("APP_TAG") for c in tagged} == {NEW}
    # The executor ran exactly the commands the plan shows, the new container's name filled in.
    shown = [compose.short(c, t.s.env) for step in plan.steps + plan.finish for c in step.action.commands()]
    ran = [compose.short(c, t.s.env) for c in t.runner.changed()]
    assert [upstream(line) for line in ran] == [upstream(line) for line in shown]
    assert [line.split(":")[0] for line in t.out.splitlines() if line.startswith("==> ")] == [
        f"==> {n}/11 {name}"
        for n, name in enumerate(
            ["lock", "build", "backup", "migrate", "api", "health", "switch", "workers", "retire", "record", "unlock"],
            1,
        )
    ]
    # "starting", then "healthy"; after the switch, until the proxy looked the name up again.
    assert t.clock.slept == [actions.POLL, CADDY_SETTLE]
    assert [c.name for c in t.engine.service("api")] == [f"{PROJECT}-api-2"]
    assert t.engine.store[f"{PROJECT}-api-2"].networks == {EDGE, BACKEND}
    assert t.engine.log[0] == ("create", deploy_lock.name(PROJECT))
    assert ("remove", deploy_lock.name(PROJECT)) == t.engine.log[-1]
    last = t.history()[-1]
    assert (last.version, last.result, last.kind, last.backup) == (NEW, "ok", "deploy", NEW)
    assert kept_backup(t, last.backup) == b"PGDMP"  # on the engine, not here


def test_the_lock_names_its_holder_and_uses_stackyards_own_image(tmp_path):
    t = target(tmp_path)
    t.deploy()
    (held,) = t.engine.created
    assert (held.name, held.image, held.status) == (deploy_lock.name(PROJECT), deploy_lock.IMAGE, "created")
    assert re.fullmatch(
        rf"{re.escape(releases.who())} \(pid {os.getpid()}\) since 20\S+ \(0 min ago\), deploying {NEW}",
        deploy_lock.holder(held.labels),
    )
    # A lock made by hand says what it can, nothing made up.
    assert deploy_lock.holder({deploy_lock.PREFIX + "who": "ghost"}) == "ghost"
    assert deploy_lock.holder({}) == "an unknown holder (the lock has no who label)"


def test_the_lock_image_has_no_layer_and_one_id_everywhere():
    with tarfile.open(fileobj=io.BytesIO(deploy_lock.image_tar())) as tar:
        (entry,) = json.load(tar.extractfile("manifest.json"))
        config = tar.extractfile(entry["Config"]).read()
    assert entry["RepoTags"] == [deploy_lock.IMAGE] and entry["Layers"] == []
    assert json.loads(config)["rootfs"] == {"type": "layers", "diff_ids": []}
    assert deploy_lock.IMAGE_ID == "sha256:" + hashlib.sha256(config).hexdigest() == "sha256:" + entry["Config"][:-5]
    assert deploy_lock.image_tar() == deploy_lock.image_tar()  # made the same each time: the same ID on every engine


def test_old_images_are_pruned_down_to_the_kept_releases_each_removal_echoed(tmp_path):
    versions = [f"{i:07x}-2026112{i}000000" for i in range(1, 8)]
    t = target(tmp_path, history=versions)
    t.runner.echo = True
    t.engine.images.in_use.add(f"shop-app:{versions[0]}")  # a container still uses it: it stays
    staging = "5ta9e00-20261101000000"  # another project's release, in the same repository: not ours to prune
    t.engine.images.refs |= {f"shop-app:{staging}", "shop-app:latest"}
    t.deploy(previous=versions[-1])
    kept = [*versions[-(releases.KEEP_IMAGES - 1) :], NEW]
    assert sorted(r.split(":")[1] for r in t.engine.images.refs if r.startswith("shop-app:")) == sorted(
        [versions[0], staging, "latest", *kept]
    )
    assert sorted(r.split(":")[1] for r in t.engine.images.refs if r.startswith("shop-caddy:")) == sorted(kept)
    echoed = t.runner.out.getvalue()
    assert f"$ [engine] remove image shop-app:{versions[1]}\n" in echoed
    assert f"$ [engine] remove image shop-caddy:{versions[0]}\n" in echoed
    assert f"kept image shop-app:{versions[0]}: a container still uses it" in t.out


def test_every_engine_write_is_echoed_like_a_command(tmp_path):
    t = target(tmp_path)
    t.runner.echo = True
    t.engine.images.refs.clear()  # a fresh engine: the lock's image is loaded first, nothing pulled
    t.deploy()
    lock = deploy_lock.name(PROJECT)
    engine_lines = [line for line in t.runner.out.getvalue().splitlines() if line.startswith("$ [engine] ")]
    assert [line.split(" (")[0] for line in engine_lines] == [
        f"$ [engine] load image {deploy_lock.IMAGE}",
        f"$ [engine] create container {lock} from {deploy_lock.IMAGE}, never started",
        f"$ [engine] keep backup {NEW} in volume stackyard-{PROJECT}-backup-{NEW}",
        f"$ [engine] add {NEW}",
        f"$ [engine] remove container {lock} and its anonymous volumes",
    ]
    assert f"$ [engine] add {NEW} (ok) to the release history in volume stackyard-{PROJECT}-releases" in engine_lines
    assert (
        f"(who={releases.who()}, when=20" in engine_lines[1]
        and f"version={NEW}, pid={os.getpid()}, host=" in engine_lines[1]
    )
    sdk = [entry for entry in t.engine.log if entry != ("remove", f"{PROJECT}-api-1")]  # that one: `docker rm`
    assert sdk == [("load", deploy_lock.IMAGE), ("create", lock), ("remove", lock)]


def test_under_inv_dry_an_engine_write_is_echoed_and_not_made():
    engine = FakeClient()
    s = Session(None, None, EngineRunner(engine), out=io.StringIO(), client=engine)  # type: ignore[arg-type]
    s.runner.dry = True
    made = []
    assert engine_changes.change(s, "remove image app:1", lambda: made.append(1)) is None
    assert made == [] and s.runner.out.getvalue() == "[dry-run] $ [engine] remove image app:1\n"


def test_a_first_deploy_starts_the_whole_stack(tmp_path):
    t = target(tmp_path, serving=None, history=())
    plan = t.deploy(previous=None)
    assert [s.name for s in plan.steps + plan.finish] == ["lock", "build", "start", "pin", "record", "unlock"]
    assert t.runner.changes() == [
        ("build",),
        ("up", "--detach", "--wait", "--wait-timeout", "120"),
        # The pin: the container `up` made healthy is on the proxy's network already (Compose put it there).
    ]
    assert t.runner.changed()[1].env["APP_TAG"] == NEW
    assert t.history()[-1].result == "ok" and t.history()[-1].backup == ""
    assert deploy_lock.name(PROJECT) not in t.engine.store


def test_a_first_deploy_that_fails_names_the_service_and_the_cause_and_stops_what_it_started(tmp_path, monkeypatch):
    # A prod volume left from an earlier stack, initialised with another POSTGRES_PASSWORD: migrate cannot log in.
    monkeypatch.setenv("POSTGRES_PASSWORD", "the-new-pa55word")

    def up_fails(cmd: Command) -> Result | None:
        if "--wait" in cmd.argv:
            t.engine.add(Container(f"{PROJECT}-migrate-1", "migrate", f"shop-app:{NEW}", status="exited", exit_code=1))
            return Result(1, "", 'service "migrate" didn\'t complete successfully: exit 1')
        return None

    t = target(tmp_path, serving=None, history=(), fail=up_fails)
    t.runner.responses[" logs "] = Result(0, 'FATAL:  password authentication failed for user "app"\n')
    with pytest.raises(StackyardError) as err:
        t.deploy(previous=None)
    assert str(err.value).startswith(
        f"deploy of {NEW} failed: service migrate exited with code 1: the database volume was initialised with "
        "another POSTGRES_PASSWORD"
    )
    assert str(err.value).endswith(": nothing served before, nothing serves after (the containers started are stopped)")
    assert "--- migrate: last 30 log lines ---" in t.out and "the-new-pa55word" not in t.out
    assert t.runner.changes()[-1] == ("stop",)  # the undo of the start step
    assert t.runner.changed()[-1].env["APP_TAG"] == NEW
    last = t.history()[-1]
    assert (last.version, last.result) == (NEW, "failed") and "POSTGRES_PASSWORD" in last.reason
    assert deploy_lock.name(PROJECT) not in t.engine.store


def test_a_new_container_that_never_gets_healthy_gets_no_traffic_and_is_removed(tmp_path, monkeypatch):
    monkeypatch.setenv("POSTGRES_PASSWORD", "pa55word-in-a-log-line")
    t = target(
        tmp_path,
        new_health=("starting", "starting", "unhealthy"),
        new_logs="boot\nconnecting with pa55word-in-a-log-line\nTraceback: broken on purpose\n",
    )
    with pytest.raises(StackyardError) as err:
        t.deploy()
    assert str(err.value) == (
        f"deploy of {NEW} failed: the new container {PROJECT}-api-2 is not healthy (running unhealthy): "
        f"its last 30 log lines are above: {OLD} still serves; the schema was migrated by {NEW} and stays so; "
        f"{OLD} runs on it (README: Deploying, expand/contract) - if it cannot, restore the backup taken before it: "
        f"inv db.restore {NEW} --env prod --confirm-data-loss"
    )
    changes = t.runner.changes()
    assert not [c for c in changes if "UPSTREAM" in " ".join(c)]  # no switch, no switch back
    assert changes[-1] == ("docker", "rm", "--force", f"{PROJECT}-api-2")
    assert [c.name for c in t.engine.service("api")] == [f"{PROJECT}-api-1"]
    assert f"--- new container {PROJECT}-api-2: last 30 log lines ---" in t.out
    assert "Traceback: broken on purpose" in t.out and "pa55word" not in t.out
    assert "<== undo 5 api: print its last 30 log lines; remove it" in t.out
    last = t.history()[-1]
    assert (last.version, last.result) == (NEW, "failed")
    assert (
        last.reason
        == f"the new container {PROJECT}-api-2 is not healthy (running unhealthy): its last 30 log lines are above"
    )
    assert deploy_lock.name(PROJECT) not in t.engine.store


def test_a_failure_after_the_switch_switches_back(tmp_path):
    def workers_fail(cmd: Command) -> Result | None:
        if "worker" in cmd.argv and cmd.env.get("APP_TAG") == NEW:
            return Result(1, "", "container shop-prod-worker-1 is unhealthy")
        return None

    t = target(tmp_path, fail=workers_fail)
    with pytest.raises(StackyardError, match=f"deploy of {NEW} failed: .* is unhealthy: {OLD} still serves"):
        t.deploy()
    changes = t.runner.changes()
    workers = ("up", "--detach", "--wait", "--wait-timeout", "120", "--no-deps", "worker", "listener")
    back = len(switch_back(""))
    assert changes[-3 - back :] == [
        workers,  # failed, with the new release
        workers,  # back to the old one
        *switch_back(f"{PROJECT}-api-2"),  # the old one never left the proxy's network
        ("docker", "rm", "--force", f"{PROJECT}-api-2"),
    ]
    assert t.runner.changed()[-2 - back].env["APP_TAG"] == OLD
    assert not [c for c in changes if c[:2] == ("docker", "stop") and c[-1].endswith("-1")]  # the old one serves
    assert [c.name for c in t.engine.service("api")] == [f"{PROJECT}-api-1"]
    assert "--- worker: last 30 log lines ---" in t.out
    out = t.out.splitlines()
    undos = [line.split(":")[0] for line in out if line.startswith("<== ")]
    assert undos == ["<== undo 8 workers", "<== undo 7 switch", "<== undo 5 api", "<== undo 1 lock"]
    assert t.history()[-1].result == "failed"


def test_a_failure_after_the_switch_still_undoes_everything_when_one_undo_fails(tmp_path):
    def fail(cmd: Command) -> Result | None:
        if "worker" in cmd.argv:  # the new release, and the old one again
            return Result(1, "", "worker is unhealthy")
        return None

    t = target(tmp_path, fail=fail)
    with pytest.raises(StackyardError):
        t.deploy()
    assert "undo of workers failed:" in t.out
    assert t.runner.changes()[-1] == ("docker", "rm", "--force", f"{PROJECT}-api-2")
    assert deploy_lock.name(PROJECT) not in t.engine.store


def test_another_deploy_holding_the_lock_stops_this_one_with_nothing_changed_or_recorded(tmp_path):
    t = target(tmp_path)
    t.engine.add(Container(deploy_lock.name(PROJECT), "", DB_IMAGE, labels=deploy_lock.labels("ann@ci", "10:00", OLD)))
    before = t.history()
    with pytest.raises(StackyardError, match=f"another deploy holds the lock: ann@ci since 10:00, deploying {OLD}"):
        t.deploy()
    assert t.runner.changes() == []
    assert t.history() == before
    assert deploy_lock.name(PROJECT) in t.engine.store  # not ours: left alone


def test_a_finishing_step_that_fails_is_reported_after_the_others_ran(tmp_path):
    def stop_fails(cmd: Command) -> Result | None:
        return Result(1, "", "Error response from daemon: timeout") if cmd.argv[:2] == ("docker", "stop") else None

    t = target(tmp_path, fail=stop_fails)
    with pytest.raises(StackyardError, match=f"^{NEW} serves prod, but retire: `docker stop --time ...` exited 1"):
        t.deploy()
    assert t.history()[-1].result == "ok"  # it serves: recorded as such
    assert deploy_lock.name(PROJECT) not in t.engine.store
    assert not [line for line in t.out.splitlines() if line.startswith("<== ")]  # nothing undone


def test_a_rollback_switches_back_to_the_previous_good_release(tmp_path):
    t = target(tmp_path, serving=NEW, history=(OLD, NEW))
    t.runner.responses["rev-parse"] = Result(0, "f00\n")
    deploy_run.run(t.s, kind="rollback", clock=t.clock, sleep=t.clock.sleep)
    assert t.runner.changes() == [
        *start_beside(2),
        *switch_to(f"{PROJECT}-api-2"),
        ("up", "--detach", "--wait", "--wait-timeout", "120", "--no-deps", "worker", "listener"),
        ("docker", "stop", "--time", "30", f"{PROJECT}-api-1"),
        ("docker", "rm", f"{PROJECT}-api-1"),
    ]
    assert {c.env.get("APP_TAG") for c in t.runner.changed() if "--scale" in c.argv} == {OLD}
    assert t.engine.service("api")[0].image == f"shop-app:{OLD}"
    last = t.history()[-1]
    assert (last.version, last.result, last.kind) == (OLD, "ok", "rollback")
    assert f"rollback: {OLD} serves prod" in t.out and "inv db.restore" in t.out
    assert t.engine.images.refs >= {f"shop-app:{NEW}", f"shop-caddy:{NEW}"}  # a rollback prunes nothing


def test_a_rollback_to_a_release_whose_images_are_gone_stops_before_the_lock(tmp_path):
    t = target(tmp_path, serving=NEW, history=(OLD, NEW))
    t.engine.images.refs.discard(f"shop-caddy:{OLD}")
    with pytest.raises(StackyardError, match=f"image shop-caddy:{OLD} of release {OLD} is not on the engine"):
        deploy_run.run(t.s, kind="rollback", clock=t.clock, sleep=t.clock.sleep)
    assert t.runner.changes() == [] and t.engine.log == []
    assert len(t.history()) == 2


@pytest.fixture
def preflight(monkeypatch) -> list[str]:
    """The preflight's env.check and security rules (they read the real project), recorded; they pass."""
    ran: list[str] = []
    monkeypatch.setattr(actions.envops, "check", lambda s, quiet_ok=False: ran.append("env.check"))
    monkeypatch.setattr(actions.lint_run, "security_findings", lambda s: ran.append("security") or [])
    return ran


def dry(t: Target, form: str, **options) -> None:
    """`inv prod-deploy --dry-run` (form "--dry-run") or `inv --dry prod-deploy` ("--dry")."""
    t.runner.dry = form == "--dry"
    deploy_run.run(t.s, dry_run=form == "--dry-run", clock=t.clock, sleep=t.clock.sleep, **options)


def nothing_changed(t: Target, history: list[releases.Release]) -> bool:
    return (
        t.runner.changes() == []
        and t.engine.log == []
        and t.history() == history
        and not (t.s.project.root / "backups").exists()
    )


@pytest.mark.parametrize("form", ["--dry-run", "--dry"])
def test_a_dry_run_makes_the_checks_then_prints_the_plan_and_changes_nothing(tmp_path, preflight, form):
    t = target(tmp_path)
    before = t.history()
    t.runner.responses["rev-parse"] = Result(0, "abc1234def\n")
    t.runner.responses["status --porcelain"] = Result(0, " M app.py\n")
    with pytest.raises(StackyardError, match=r"^the git tree has uncommitted changes: commit them, or deploy with"):
        dry(t, form)
    assert preflight == ["env.check", "security"]
    assert t.out == "" and nothing_changed(t, before)  # stopped where the real run stops, before the plan
    dry(t, form, allow_dirty=True)
    assert nothing_changed(t, before)
    steps = re.findall(r"^ +\d+\. (\S+)", t.out, flags=re.M)
    assert steps[:3] == ["preflight", "lock", "build"] and steps[-1] == "unlock"
    assert "replacing " + OLD in t.out.splitlines()[0]
    assert "==> " not in t.out  # planned, not run


@pytest.mark.parametrize("form", ["--dry-run", "--dry"])
def test_a_dry_run_fails_as_the_real_one_would(tmp_path, monkeypatch, preflight, form):
    t = target(tmp_path)
    before = t.history()
    problem = StackyardError("env.check --env prod: 1 problem(s)", "fix the lines above")
    monkeypatch.setattr(actions.envops, "check", lambda s, quiet_ok=False: (_ for _ in ()).throw(problem))
    with pytest.raises(StackyardError, match=r"^env.check --env prod: 1 problem\(s\)"):
        dry(t, form)
    assert nothing_changed(t, before) and t.out == ""

    monkeypatch.setattr(actions.envops, "check", lambda s, quiet_ok=False: None)
    t.engine.add(Container(deploy_lock.name(PROJECT), "", DB_IMAGE, labels=deploy_lock.labels("ann@ci", "10:00", OLD)))
    with pytest.raises(StackyardError, match=f"^another deploy holds the lock: ann@ci since 10:00, deploying {OLD}"):
        dry(t, form, allow_dirty=True)
    assert nothing_changed(t, before)


@pytest.mark.parametrize("form", ["--dry-run", "--dry"])
def test_a_dry_rollback_checks_the_images_and_changes_nothing(tmp_path, form):
    t = target(tmp_path, serving=NEW, history=(OLD, NEW))
    before = t.history()
    dry(t, form, kind="rollback")
    assert nothing_changed(t, before)
    assert t.out.splitlines()[0] == f"rollback {OLD} to prod (project {PROJECT}), replacing {NEW}:"
    t.s.out.truncate(0)
    t.engine.images.refs.discard(f"shop-app:{OLD}")
    with pytest.raises(StackyardError, match=f"^image shop-app:{OLD} of release {OLD} is not on the engine"):
        dry(t, form, kind="rollback")
    assert nothing_changed(t, before)


@pytest.mark.parametrize("form", ["--dry-run", "--dry", "real"])
@pytest.mark.parametrize(
    ("release", "error"),
    [
        ("nope", "^no release 'nope' in the release history of prod: `inv releases --env prod` lists them$"),
        (NEW, f"^release {NEW} already serves prod: "),
        (OLDER, f"^release {OLDER} never served prod \\(its deploy failed\\): "),
    ],
)
def test_a_rollback_goes_only_to_a_good_release_that_does_not_serve_already(tmp_path, form, release, error):
    t = target(tmp_path, serving=NEW, history=(OLD, NEW))
    t.record(releases.Release(OLDER, "t", "me", "failed"))
    before = t.history()
    with pytest.raises(StackyardError, match=error):
        if form == "real":
            deploy_run.run(t.s, kind="rollback", target=release, clock=t.clock, sleep=t.clock.sleep)
        else:
            dry(t, form, kind="rollback", target=release)
    assert nothing_changed(t, before) and t.out == ""


def test_the_health_gate_waits_for_healthy():
    engine = FakeClient()
    engine.add(Container("new", "api", "app:1", health=["starting", "starting", "healthy"]))
    clock = Clock()
    actions.wait_healthy(engine, "new", 10, 30, clock=clock, sleep=clock.sleep)
    assert clock.slept == [actions.POLL, actions.POLL]


@pytest.mark.parametrize(
    ("states", "error"),
    [
        (["starting", "unhealthy"], r"new is not healthy \(running unhealthy\): its last 30 log lines are above"),
        ([""], r"new is not healthy after 3 s \(running\)"),  # no health check: never healthy
        (["starting"], r"new is not healthy after 3 s \(running starting\)"),
    ],
)
def test_the_health_gate_stops_at_unhealthy_or_at_the_timeout(states, error):
    engine = FakeClient()
    engine.add(Container("new", "api", "app:1", health=states))
    clock = Clock()
    with pytest.raises(StackyardError, match=error):
        actions.wait_healthy(engine, "new", 3, 30, clock=clock, sleep=clock.sleep)
    assert clock.now <= 3


def test_the_health_gate_stops_at_once_when_the_container_exits_or_is_gone():
    engine = FakeClient()
    engine.add(Container("new", "api", "app:1", status="exited", health=[""]))
    clock = Clock()
    with pytest.raises(StackyardError, match=r"not healthy \(exited\)"):
        actions.wait_healthy(engine, "new", 60, 30, clock=clock, sleep=clock.sleep)
    with pytest.raises(StackyardError, match=r"not healthy \(gone\)"):
        actions.wait_healthy(engine, "other", 60, 30, clock=clock, sleep=clock.sleep)
    assert clock.slept == []


@pytest.mark.parametrize("dry_run", [False, True])
def test_unlock_without_a_lock_says_so_and_changes_nothing(tmp_path, dry_run):
    t = target(tmp_path)
    t.runner.dry = dry_run
    deploy_run.unlock(t.s, yes=True)
    assert t.out == f"no deploy lock on {PROJECT}\n"
    assert t.engine.log == [] and t.runner.out.getvalue() == ""


def test_unlock_names_the_holder_and_needs_yes(tmp_path):
    t = target(tmp_path)
    lock = deploy_lock.name(PROJECT)
    t.engine.add(Container(lock, "", DB_IMAGE, labels=deploy_lock.labels("ghost", "09:00", OLD)))
    with pytest.raises(StackyardError, match=r"held by ghost since 09:00, deploying .*--yes"):
        deploy_run.unlock(t.s, yes=False)
    t.runner.dry = True
    deploy_run.unlock(t.s, yes=True)
    assert lock in t.engine.store and t.engine.log == []
    assert t.runner.out.getvalue() == f"[dry-run] $ [engine] remove container {lock} and its anonymous volumes\n"
    assert t.out.endswith(f"[dry-run] the lock of ghost since 09:00, deploying {OLD} would be removed\n")
    t.runner.dry = False
    deploy_run.unlock(t.s, yes=True)
    assert lock not in t.engine.store
    assert t.out.endswith(f"lock of ghost since 09:00, deploying {OLD} removed\n")


def test_a_failure_reason_is_masked_in_the_error_and_the_release_history(tmp_path):
    def workers_fail(cmd: Command) -> Result | None:
        if "worker" in cmd.argv and cmd.env.get("APP_TAG") == NEW:
            return Result(1, "", "cannot reach redis://:hunter2-secret-value@redis:6379/1")
        return None

    t = target(tmp_path, fail=workers_fail)
    with pytest.raises(StackyardError) as info:
        t.deploy()
    assert "hunter2" not in str(info.value) and "redis://:****@redis" in str(info.value)
    assert "hunter2" not in t.history()[-1].reason


@dataclasses.dataclass(frozen=True)
class Do(actions.Action):
    """A test's step: calls `do` (raises, sends a signal)."""

    do: Callable[[], object]

    def run(self, x: actions.Deploy) -> None:
        self.do()


def with_action(plan: deploy.Plan, name: str, **changes) -> deploy.Plan:
    steps = tuple(dataclasses.replace(s, **changes) if s.name == name else s for s in plan.steps)
    return dataclasses.replace(plan, steps=steps)


def execute(t: Target, plan: deploy.Plan) -> None:
    deploy_run.execute(plan, actions.Deploy(t.s, t.clock, t.clock.sleep))


def plan_of(t: Target) -> deploy.Plan:
    plan = make("deploy", t.s.env, NEW, OLD, [f"{PROJECT}-api-1"], ROLES)
    return dataclasses.replace(plan, steps=plan.steps[1:])  # no preflight: it reads the real project


def interrupt() -> None:
    raise KeyboardInterrupt


def test_ctrl_c_in_a_step_runs_every_undo_and_records_interrupted(tmp_path):
    t = target(tmp_path)
    with pytest.raises(StackyardError, match=f"^deploy of {NEW} failed: interrupted: {OLD} still serves"):
        execute(t, with_action(plan_of(t), "switch", action=Do(interrupt)))
    undos = [line.split(":")[0] for line in t.out.splitlines() if line.startswith("<== ")]
    assert undos == ["<== undo 7 switch", "<== undo 5 api", "<== undo 1 lock"]
    assert [c.name for c in t.engine.service("api")] == [f"{PROJECT}-api-1"]
    assert deploy_lock.name(PROJECT) not in t.engine.store
    assert (t.history()[-1].result, t.history()[-1].reason) == ("failed", "interrupted")


def test_sigterm_takes_the_ctrl_c_path_and_a_second_signal_does_not_stop_the_undos(tmp_path, capsys):
    t = target(tmp_path)
    before = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}

    def killed() -> None:  # as `kill PID` or a CI cancel does, while the step waits
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # the handler interrupts this sleep
        pytest.fail("SIGTERM did not stop the step")

    again = Do(lambda: os.kill(os.getpid(), signal.SIGINT))  # Ctrl-C, impatient, during the undos
    plan = with_action(plan_of(t), "health", action=Do(killed))
    plan = with_action(plan, "api", undo=(again, actions.RemoveNew()))
    with pytest.raises(StackyardError, match=f"failed: interrupted \\(SIGTERM\\): {OLD} still serves"):
        execute(t, plan)
    assert [c.name for c in t.engine.service("api")] == [f"{PROJECT}-api-1"]  # the undo after the signal ran
    assert deploy_lock.name(PROJECT) not in t.engine.store
    assert t.history()[-1].reason == "interrupted (SIGTERM)"
    assert "SIGINT received during the cleanup; it finishes first" in capsys.readouterr().err
    assert {sig: signal.getsignal(sig) for sig in before} == before  # restored


class HungSwitch(EngineRunner):
    """The switch's `docker network connect` of the new container hangs until its timeout
    (an engine that does not answer); the timeouts given are kept."""

    def __init__(self, engine: FakeClient):
        super().__init__(engine)
        self.timeouts: list[tuple[tuple[str, ...], float | None]] = []

    def run(self, cmd: Command, mode="capture", check: bool = True, quiet: bool = False, **kw) -> Result:
        self.timeouts.append((short(cmd), kw.get("timeout")))
        if short(cmd) in switch_to(f"{PROJECT}-api-2"):
            raise CommandTimeout(cmd.argv, kw["timeout"])
        return super().run(cmd, mode=mode, check=check, quiet=quiet, **kw)


def test_a_hung_switch_fails_at_its_deadline_and_switches_back(tmp_path):
    t = target(tmp_path)
    t.runner = HungSwitch(t.engine)
    t.s = dataclasses.replace(t.s, runner=t.runner)
    new = f"{PROJECT}-api-2"
    with pytest.raises(StackyardError) as err:
        t.deploy()
    assert str(err.value).startswith(
        f"deploy of {NEW} failed: step switch did not finish within its deadline of {deploy.SWITCH_DEADLINE} s: "
        "`docker network connect ...` did not finish within 30 s and was stopped"
    )
    # The connect, stopped, may have been made all the same: switched back (the old one never
    # left the network, the new one is stopped, draining), then the new one removed.
    tried = [cmd for cmd, _ in t.runner.timeouts]
    assert tried.index(*switch_to(new)) < tried.index(*switch_back(new))
    assert t.runner.changes()[-2:] == [*switch_back(new), ("docker", "rm", "--force", new)]
    assert [c.name for c in t.engine.service("api")] == [f"{PROJECT}-api-1"]
    assert EDGE in t.engine.store[f"{PROJECT}-api-1"].networks
    assert f"{OLD} still serves" in str(err.value)
    assert t.history()[-1].result == "failed" and "step switch did not finish" in t.history()[-1].reason
    assert deploy_lock.name(PROJECT) not in t.engine.store
    given = dict(t.runner.timeouts)
    assert given[("build",)] == deploy.BUILD_DEADLINE
    assert given[("run", "--rm", "--no-deps", "--no-TTY", "migrate")] == deploy.MIGRATE_DEADLINE
    # The switch back, an undo, has its step's deadline too.
    switching = [*switch_to(new), *switch_back(new)]
    assert [s for cmd, s in t.runner.timeouts if cmd in switching] == [deploy.SWITCH_DEADLINE] * 2


def test_the_leftovers_of_a_killed_deploy_are_removed_and_the_current_release_kept(tmp_path):
    t = target(tmp_path, history=(OLDER, OLD))
    # A deploy killed after starting its container (before its switch: off the proxy's
    # network), and one before it (after its switch: on it), left two more.
    t.engine.add(Container(f"{PROJECT}-api-2", "api", f"shop-app:{OLDER}"))
    t.engine.add(Container(f"{PROJECT}-api-3", "api", f"shop-app:{NEW}", networks=(BACKEND,)))
    rows = deploy_run.web_rows(t.s, ROLES)
    assert deploy_run.keep_one(rows, OLD) == ([f"{PROJECT}-api-1"], [f"{PROJECT}-api-2", f"{PROJECT}-api-3"])
    # Without the current release among them: the newest healthy one.
    rows = [{"Names": ["/a"], "Status": "Up (healthy)", "Created": 1}, {"Names": ["/b"], "Status": "Up", "Created": 2}]
    rows += [{"Names": ["/c"], "Status": "Up (healthy)", "Created": 3}]
    assert deploy_run.keep_one(rows, OLD) == (["c"], ["a", "b"])
    assert deploy_run.keep_one([], OLD) == ([], [])
    running, leftovers = deploy_run.keep_one(deploy_run.web_rows(t.s, ROLES), OLD)
    plan = make("deploy", t.s.env, NEW, OLD, running, ROLES, leftovers=leftovers)
    execute(t, dataclasses.replace(plan, steps=plan.steps[1:]))
    assert [c.name for c in t.engine.service("api")] == [f"{PROJECT}-api-2"]  # the new one, alone
    changes = t.runner.changes()
    start = changes.index(("up", "--no-start", "--no-deps", "--no-recreate", "--scale", "api=2", "api"))
    # The one kept is on the proxy's network already: the converge attaches nothing, it retires the others.
    assert changes[:start] == [
        ("build",),
        ("exec", "--no-TTY", "db", "sh", "-c", db.DUMP, "sh"),
        ("run", "--rm", "--no-deps", "--no-TTY", "migrate"),
        ("docker", "stop", "--time", "30", f"{PROJECT}-api-2"),
        ("docker", "rm", f"{PROJECT}-api-2"),
        ("docker", "stop", "--time", "30", f"{PROJECT}-api-3"),
        ("docker", "rm", f"{PROJECT}-api-3"),
    ]
    assert "==> 5/12 converge: remove 2 leftover api containers" in t.out


def test_the_converge_attaches_the_one_kept_when_it_is_off_the_proxys_network_before_the_retire(tmp_path):
    # The history's release has no container left; the newest healthy one, kept, is one a killed
    # deploy started and never switched to: off the proxy's network.
    t = target(tmp_path, serving=None, history=(OLDER, OLD))
    t.engine.add(Container(f"{PROJECT}-api-1", "api", f"shop-app:{OLDER}"))
    t.engine.add(Container(f"{PROJECT}-api-2", "api", f"shop-app:{NEW}", networks=(BACKEND,)))
    rows = [r | {"Created": n} for n, r in enumerate(deploy_run.web_rows(t.s, ROLES))]
    running, leftovers = deploy_run.keep_one(rows, OLD)
    assert (running, leftovers) == ([f"{PROJECT}-api-2"], [f"{PROJECT}-api-1"])
    plan = make("deploy", t.s.env, NEW, OLD, running, ROLES, leftovers=leftovers)
    (converge,) = [step for step in plan.steps if step.name == "converge"]
    converge.action.run(actions.Deploy(t.s, t.clock, t.clock.sleep))
    assert t.runner.changes() == [
        *switch_to(f"{PROJECT}-api-2"),  # first: the retire leaves the proxy nothing else
        ("docker", "stop", "--time", "30", f"{PROJECT}-api-1"),
        ("docker", "rm", f"{PROJECT}-api-1"),
    ]
    assert t.engine.store[f"{PROJECT}-api-2"].networks == {BACKEND, EDGE}
    assert t.clock.slept == [CADDY_SETTLE]  # before the retire: until caddy looked the name up again


def test_a_stale_lock_names_its_holder_process_host_and_age():
    labels = deploy_lock.labels("ann@ci", "2026-11-22T10:00:00+00:00", OLD, 4242, "ci")
    now = dt.datetime(2026, 11, 22, 10, 12, tzinfo=dt.UTC)
    assert (
        deploy_lock.holder(labels, now)
        == f"ann@ci (pid 4242) since 2026-11-22T10:00:00+00:00 (12 min ago), deploying {OLD}"
    )
    labels = deploy_lock.labels("ann", "2026-11-22T07:00:00+00:00", OLD, 7, "build-3")
    assert deploy_lock.holder(labels, now).startswith(
        "ann@build-3 (pid 7) since 2026-11-22T07:00:00+00:00 (3 h 12 min ago)"
    )
    assert "another deploy holds the lock: ann@build-3 (pid 7) since" in str(deploy_lock.held_error(labels))


@pytest.mark.parametrize(
    ("containers", "error"),
    [
        ([], r"^found 0 healthy api container\(s\) after `up --wait` \(none running\), expected one"),
        (
            [("api-1", ("healthy",)), ("api-2", ("healthy",))],
            r"^found 2 healthy api container\(s\) after `up --wait` \(api-1, api-2\)",
        ),
        ([("api-1", ("starting",))], r"^found 0 healthy api container\(s\) after `up --wait` \(api-1\)"),
    ],
)
def test_the_pin_wants_exactly_one_healthy_web_container(tmp_path, containers, error):
    t = target(tmp_path, serving=None, history=())
    for name, health in containers:
        t.engine.add(Container(name, "api", f"shop-app:{NEW}", health=health))
    pin = make("deploy", t.s.env, NEW, None, [], ROLES).steps[-1]
    assert pin.name == "pin"
    with pytest.raises(StackyardError, match=error):
        pin.action.run(actions.Deploy(t.s, t.clock, t.clock.sleep))
    assert t.runner.changes() == []  # the proxy is left alone


def test_the_pin_points_at_the_healthy_one_or_one_without_a_health_check(tmp_path):
    t = target(tmp_path, serving=None, history=())
    # Both off the proxy's network (Compose puts them on it: here, the attach shows which one the pin chose).
    t.engine.add(Container("api-1", "api", f"shop-app:{NEW}", health=("",), networks=(BACKEND,)))
    t.engine.add(Container("api-2", "api", f"shop-app:{NEW}", status="exited", networks=(BACKEND,)))
    pin = make("deploy", t.s.env, NEW, None, [], ROLES).steps[-1]
    pin.action.run(actions.Deploy(t.s, t.clock, t.clock.sleep))
    assert t.runner.changes() == [*switch_to("api-1")]
    # On it already (as `up` leaves it): nothing to do, nothing done.
    pin.action.run(actions.Deploy(t.s, t.clock, t.clock.sleep))
    assert t.runner.changes() == [*switch_to("api-1")]


# -- fault 2: the web container stopped or crashed, not absent ------------------------------------


def stopped(tmp_path, *, db: str = "exited", volume: bool = True, **options) -> Target:
    """The stack of `target`, its api container stopped (crashed, or `docker stop`), its database
    `db` (a container's status, "" for none) with its named volume, or without."""
    t = target(tmp_path, **options)
    t.engine.store[f"{PROJECT}-api-1"].status = "exited"
    if db:
        t.engine.add(Container(f"{PROJECT}-db-1", "db", DB_IMAGE, status=db))
    if volume:
        t.engine.volumes.add(f"{PROJECT}_db-data", "db-data")
    t.engine.store[f"{PROJECT}-api-1"].logs = "Traceback: out of memory\n"
    t.runner.responses["rev-parse"] = Result(0, "abc1234def\n")
    return t


def test_a_stopped_api_over_data_backs_up_first_then_starts_and_pins(tmp_path, preflight):
    t = stopped(tmp_path)
    deploy_run.run(t.s, allow_dirty=True, clock=t.clock, sleep=t.clock.sleep)
    release = t.history()[-1].version
    assert t.out.splitlines()[1] == (
        f"  no api container runs ({PROJECT}-api-1: stopped), and the database holds data "
        f"(volume {PROJECT}_db-data): backup first"
    )
    assert t.out.splitlines()[0] == f"deploy {release} to prod (project {PROJECT}), replacing {OLD}:"
    assert t.runner.changes() == [
        ("build",),
        ("up", "--detach", "--wait", "--wait-timeout", "120", "--no-deps", "db"),
        ("exec", "--no-TTY", "db", "sh", "-c", db.DUMP, "sh"),
        ("up", "--detach", "--wait", "--wait-timeout", "120"),  # migrate runs first in it: after the backup
        # The pin: the container `up` made healthy is on the proxy's network already (Compose put it there).
    ]
    assert re.search(r"^==> \d+/\d+ pin", t.out, flags=re.M)
    # Why it stopped, printed before the start replaces it.
    assert f"--- {PROJECT}-api-1: last 30 log lines ---\nTraceback: out of memory" in t.out
    last = t.history()[-1]
    assert (last.result, last.backup) == ("ok", release)
    assert kept_backup(t, last.backup) == b"PGDMP"  # on the engine, not here
    api_containers = t.engine.service("api")
    assert [(c.name, c.status, c.image) for c in api_containers] == [
        (f"{PROJECT}-api-1", "running", f"shop-app:{release}")
    ]
    assert deploy_lock.name(PROJECT) not in t.engine.store


def test_a_stopped_api_with_the_database_running_backs_up_without_starting_it(tmp_path, preflight):
    t = stopped(tmp_path, db="running", volume=False)  # no named volume: its container says it has data
    deploy_run.run(t.s, allow_dirty=True, clock=t.clock, sleep=t.clock.sleep)
    assert f"the database holds data (container {PROJECT}-db-1): backup first" in t.out.splitlines()[1]
    changes = t.runner.changes()
    assert changes[:3] == [
        ("build",),
        ("exec", "--no-TTY", "db", "sh", "-c", db.DUMP, "sh"),
        ("up", "--detach", "--wait", "--wait-timeout", "120"),
    ]


def test_without_a_database_volume_or_container_it_is_a_first_deploy_without_backup(tmp_path, preflight):
    t = stopped(tmp_path, db="", volume=False)
    deploy_run.run(t.s, allow_dirty=True, clock=t.clock, sleep=t.clock.sleep)
    assert t.out.splitlines()[1] == (
        f"  no api container runs ({PROJECT}-api-1: stopped) in prod, and db holds no data "
        "(no volume, no container of it): a first deploy"
    )
    assert [c[0] for c in t.runner.changes()[:2]] == ["build", "up"]
    assert t.history()[-1].backup == ""


def test_the_data_is_found_by_its_volume_external_or_compose_made_or_its_container(tmp_path):
    t = stopped(tmp_path, db="", volume=False)
    assert deploy_run.database_data(t.s, ROLES) is None
    t.engine.volumes.add(f"{PROJECT}_other", "other")  # the project's, but not the database's
    assert deploy_run.database_data(t.s, ROLES) is None
    t.engine.volumes.add(f"{PROJECT}_db-data", "db-data")
    assert deploy_run.database_data(t.s, ROLES) == deploy.Data(f"volume {PROJECT}_db-data", False)
    t.engine.add(Container(f"{PROJECT}-db-1", "db", DB_IMAGE))
    assert deploy_run.database_data(t.s, ROLES) == deploy.Data(f"volume {PROJECT}_db-data", True)
    # An external volume is looked up by its own name.
    config = t.s.config()
    t.s._config = config | {"volumes": {"db-data": {"name": "pgdata", "external": True}}}
    assert deploy_run.database_data(t.s, ROLES) == deploy.Data(f"container {PROJECT}-db-1", True)
    t.engine.volumes.add("pgdata")
    assert deploy_run.database_data(t.s, ROLES) == deploy.Data("volume pgdata", True)
    assert deploy_run.database_data(t.s, dataclasses.replace(ROLES, database=None)) is None


@pytest.mark.parametrize("form", ["--dry-run", "--dry"])
def test_a_dry_run_over_a_stopped_api_says_why_it_backs_up_and_changes_nothing(tmp_path, preflight, form):
    t = stopped(tmp_path)
    before = t.history()
    dry(t, form, allow_dirty=True)
    assert nothing_changed(t, before)
    assert "the database holds data (volume " in t.out.splitlines()[1] and "backup first" in t.out.splitlines()[1]
    assert re.findall(r"^ +\d+\. (\S+)", t.out, flags=re.M)[3:7] == ["database", "backup", "logs", "start"]


@pytest.mark.parametrize("form", ["--dry-run", "--dry", "real"])
def test_a_rollback_over_a_stopped_api_is_refused_before_anything_changes(tmp_path, form):
    t = stopped(tmp_path, history=(OLDER, OLD))
    before = t.history()
    with pytest.raises(
        StackyardError, match=rf"^no api container runs \({PROJECT}-api-1: stopped\) in prod: a rollback"
    ):
        if form == "real":
            deploy_run.run(t.s, kind="rollback", clock=t.clock, sleep=t.clock.sleep)
        else:
            dry(t, form, kind="rollback")
    assert nothing_changed(t, before) and t.out == ""
    assert not [c for c in t.runner.commands if "migrate" in c.argv]


def test_a_stopped_api_beside_a_running_one_is_a_leftover_removed_before_the_new_one_starts(tmp_path, preflight):
    t = target(tmp_path)
    t.engine.add(Container(f"{PROJECT}-api-2", "api", f"shop-app:{OLDER}", status="exited"))
    t.runner.responses["rev-parse"] = Result(0, "abc1234def\n")
    deploy_run.run(t.s, allow_dirty=True, clock=t.clock, sleep=t.clock.sleep)
    assert f"replacing {OLD}:" in t.out.splitlines()[0]  # the running one's release, not the stopped one's
    changes = t.runner.changes()
    start = changes.index(("up", "--no-start", "--no-deps", "--no-recreate", "--scale", "api=2", "api"))
    assert changes[start - 2 : start] == [
        ("docker", "stop", "--time", "30", f"{PROJECT}-api-2"),
        ("docker", "rm", f"{PROJECT}-api-2"),
    ]
    assert [c.name for c in t.engine.service("api")] == [f"{PROJECT}-api-2"]  # the new one, alone
    assert t.engine.service("api")[0].image.endswith(t.history()[-1].version)


# -- fault 4: failures after the switch ------------------------------------------------------------


def failing(*, back: Exception | str | None, forward: str | None = None, workers: bool = True):
    """A runner's `fail`: the workers of the new release fail (after the switch), the switch
    back to api-1 (caddy: the new api-2 stopped, draining) fails with `back` (a message: its
    exit 1; an exception: raised), the switch to api-2 (its attach) with `forward`."""

    def fail(cmd: Command) -> Result | None:
        if workers and "worker" in cmd.argv and cmd.env.get("APP_TAG") == NEW:
            return Result(1, "", "container shop-prod-worker-1 is unhealthy")
        if back is not None and short(cmd) in switch_back(f"{PROJECT}-api-2"):
            if isinstance(back, Exception):
                raise back
            return Result(1, "", back)
        if forward is not None and short(cmd) in switch_to(f"{PROJECT}-api-2"):
            return Result(1, "", forward)
        return None

    return fail


STOP_REFUSED = "Error response from daemon: cannot stop container: shop-prod-api-2: permission denied"


def test_a_switch_back_that_fails_keeps_the_new_container_and_says_it_serves(tmp_path):
    t = target(tmp_path, fail=failing(back=STOP_REFUSED))
    with pytest.raises(StackyardError) as err:
        t.deploy()
    assert str(err.value) == (
        f"deploy of {NEW} failed: `docker compose --project-name ...` exited 1: container shop-prod-worker-1 is "
        f"unhealthy: {OLD} and {NEW} serve: switching back to {OLD} failed: `docker stop --time ...` exited 1: "
        + STOP_REFUSED
    )
    # Both api containers run, on the proxy's network: the new one serves (its stop failed), and the
    # old one, never retired, beside it.
    assert sorted(c.name for c in t.engine.service("api")) == [f"{PROJECT}-api-1", f"{PROJECT}-api-2"]
    assert ("docker", "rm", "--force", f"{PROJECT}-api-2") not in t.runner.changes()
    assert f"kept {PROJECT}-api-2: the proxy points at it" in t.out
    last = t.history()[-1]
    assert (last.version, last.result) == (NEW, "failed-serving")
    assert last.reason.endswith(
        f"{OLD} and {NEW} serve: switching back to {OLD} failed: `docker stop --time ...` exited 1: " + STOP_REFUSED
    )
    assert f"{NEW} recorded as failed-serving" in t.out
    assert deploy_lock.name(PROJECT) not in t.engine.store
    # The history's current release is the one that serves: the next deploy keeps its container.
    assert releases.current(t.history()).version == NEW
    rows = deploy_run.web_rows(t.s, ROLES)
    assert deploy_run.keep_one(rows, NEW) == ([f"{PROJECT}-api-2"], [f"{PROJECT}-api-1"])
    # A rollback goes back to the last good one; the stuck one is no target.
    assert deploy_run.rollback_target(t.history(), None, NEW, "prod") == OLD
    with pytest.raises(StackyardError, match=f"^release {NEW} never finished a deploy to prod"):
        deploy_run.rollback_target(t.history(), NEW, OLD, "prod")


def test_a_switch_back_whose_attach_of_the_old_one_fails_leaves_the_new_one_running_and_says_it_serves(tmp_path):
    # The old container off the proxy's network (detached by hand): the switch back attaches it first,
    # and stops the new one only once it is attached. The new one alone serves.
    refused = "Error response from daemon: network shop-prod_edge not found"

    def fail(cmd: Command) -> Result | None:
        if short(cmd) in switch_to(f"{PROJECT}-api-1"):
            return Result(1, "", refused)
        return failing(back=None)(cmd)

    t = target(tmp_path, fail=fail)
    t.engine.store[f"{PROJECT}-api-1"].networks = {BACKEND}
    with pytest.raises(StackyardError) as err:
        t.deploy()
    assert str(err.value).endswith(
        f"{NEW} still serves: switching back to {OLD} failed: `docker network connect ...` exited 1: {refused}"
    )
    assert not [c for c in t.runner.changes() if c[:2] == ("docker", "stop") and c[-1] == f"{PROJECT}-api-2"]
    assert {c.name: c.status for c in t.engine.service("api")} == {
        f"{PROJECT}-api-1": "running",
        f"{PROJECT}-api-2": "running",
    }
    assert (t.history()[-1].version, t.history()[-1].result) == (NEW, "failed-serving")


def test_a_switch_back_stopped_midway_keeps_both_and_says_either_may_serve(tmp_path):
    t = target(tmp_path, fail=failing(back=CommandTimeout(switch_back(f"{PROJECT}-api-2")[0], 30)))
    with pytest.raises(StackyardError) as err:
        t.deploy()
    assert (
        f"is unhealthy: {OLD} or {NEW} serves: switching back to {OLD} did not finish (`docker stop --time ...` did "
        "not finish within 30 s and was stopped); both containers are kept, and the next deploy points the proxy "
        f"at one; the schema was migrated by {NEW}"
    ) in str(err.value)
    assert sorted(c.name for c in t.engine.service("api")) == [f"{PROJECT}-api-1", f"{PROJECT}-api-2"]
    assert f"kept {PROJECT}-api-2: the proxy may point at it" in t.out
    last = t.history()[-1]
    assert last.result == "failed" and f"{OLD} or {NEW} serves" in last.reason
    assert releases.current(t.history()).version == OLD  # the next deploy points the proxy at OLD's container
    rows = deploy_run.web_rows(t.s, ROLES)
    assert deploy_run.keep_one(rows, OLD) == ([f"{PROJECT}-api-1"], [f"{PROJECT}-api-2"])
    assert deploy_lock.name(PROJECT) not in t.engine.store


def test_a_switch_that_failed_whole_and_a_switch_back_that_failed_leave_the_old_one_serving(tmp_path):
    # The engine refused both the attach and the stop: the new container never joined the proxy's network.
    refused = "Error response from daemon: container is marked for removal and cannot be connected or disconnected"
    t = target(tmp_path, fail=failing(back=refused, forward=refused, workers=False))
    with pytest.raises(StackyardError) as err:
        t.deploy()
    assert f": {OLD} still serves" in str(err.value)
    assert [c.name for c in t.engine.service("api")] == [f"{PROJECT}-api-1"]
    assert t.runner.changes()[-1] == ("docker", "rm", "--force", f"{PROJECT}-api-2")
    assert t.history()[-1].result == "failed"


def test_an_undo_that_fails_is_named_in_the_error(tmp_path):
    def fail(cmd: Command) -> Result | None:
        return Result(1, "", "worker is unhealthy") if "worker" in cmd.argv else None

    t = target(tmp_path, fail=fail)
    with pytest.raises(StackyardError) as err:
        t.deploy()
    assert str(err.value).endswith(
        f"{OLD} still serves; the schema was migrated by {NEW} and stays so; {OLD} runs on it (README: Deploying, "
        f"expand/contract) - if it cannot, restore the backup taken before it: inv db.restore "
        f"{NEW} --env prod --confirm-data-loss; undo of workers failed "
        "(`docker compose --project-name ...` exited 1: worker is unhealthy)"
    )


def finishing(plan: deploy.Plan, name: str, action: actions.Action) -> deploy.Plan:
    steps = tuple(dataclasses.replace(s, action=action) if s.name == name else s for s in plan.finish)
    return dataclasses.replace(plan, finish=steps)


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGTERM, 143), (signal.SIGHUP, 129), (signal.SIGINT, 130)])
def test_a_signal_during_the_finishing_steps_waits_until_they_are_done(tmp_path, capsys, sig, code):
    t = target(tmp_path)
    plan = plan_of(t)
    retire = plan.finish[0].action

    def killed_while_retiring() -> None:
        os.kill(os.getpid(), sig)  # the handler holds it: no KeyboardInterrupt here
        retire.run(actions.Deploy(t.s, t.clock, t.clock.sleep))

    with pytest.raises(StackyardError) as err:
        execute(t, finishing(plan, "retire", Do(killed_while_retiring)))
    assert str(err.value).startswith(
        f"{NEW} serves prod; {sig.name} came during the finishing steps: held until they were done"
    )
    assert err.value.exit_code == code
    assert [c.name for c in t.engine.service("api")] == [f"{PROJECT}-api-2"]  # retired
    assert (t.history()[-1].version, t.history()[-1].result) == (NEW, "ok")  # recorded
    assert deploy_lock.name(PROJECT) not in t.engine.store  # unlocked
    assert not [line for line in t.out.splitlines() if line.startswith("<== ")]  # nothing undone
    assert f"{sig.name} received during the cleanup; it finishes first" in capsys.readouterr().err


def test_a_finishing_step_that_breaks_unexpectedly_still_lets_the_lock_go(tmp_path):
    t = target(tmp_path)

    def disk_full() -> None:
        raise OSError(28, "No space left on device")

    with pytest.raises(StackyardError) as err:
        execute(t, finishing(plan_of(t), "record", Do(disk_full)))
    assert str(err.value).startswith(f"{NEW} serves prod, but record: OSError: [Errno 28] No space left on device")
    assert deploy_lock.name(PROJECT) not in t.engine.store


def test_an_unlock_that_fails_says_how_to_remove_the_lock(tmp_path):
    t = target(tmp_path)

    def refused() -> None:
        raise StackyardError("the Docker engine refused: conflict")

    with pytest.raises(StackyardError) as err:
        execute(t, finishing(plan_of(t), "unlock", Do(refused)))
    assert str(err.value) == (
        f"{NEW} serves prod, but unlock: the Docker engine refused: conflict: `inv ps --env prod` shows what runs; "
        "the next deploy removes a container left over; `inv deploy.unlock --env prod --yes` removes the lock"
    )
    assert t.history()[-1].result == "ok"


def test_pruning_that_fails_after_the_record_says_the_release_is_recorded(tmp_path):
    def fail(cmd: Command) -> Result | None:
        return (
            Result(1, "", "cannot render") if cmd.argv[-2:] == ("--format", "json") and "APP_TAG" in cmd.env else None
        )

    t = target(tmp_path, fail=fail)
    with pytest.raises(StackyardError, match=f"but record: {NEW} is recorded, but removing old images failed: "):
        t.deploy()
    assert (t.history()[-1].version, t.history()[-1].result) == (NEW, "ok")


def test_releases_marks_the_release_that_serves_a_failed_serving_one_too(tmp_path):
    t = target(tmp_path, history=(OLDER, OLD))
    t.record(releases.Release(NEW, "t", "me", "failed-serving", "switching back failed"))
    t.record(releases.Release("f00-1", "t", "me", "failed", "never healthy"))
    deploy_run.show(t.s)
    marked = [line.split()[1] for line in t.out.splitlines() if line.startswith("* ")]
    assert marked == [NEW]
    assert "failed-serving" in t.out
    t.s.out.truncate(0)
    t.engine.volumes.remove(f"stackyard-{PROJECT}-releases")
    deploy_run.show(t.s)
    assert t.out.endswith(f"no releases of {PROJECT} yet\n")


def test_without_a_web_role_nothing_is_read_as_serving_and_a_rollback_needs_an_earlier_release(tmp_path):
    t = target(tmp_path)
    assert deploy_run.web_rows(t.s, dataclasses.replace(ROLES, web=None)) == []
    with pytest.raises(StackyardError, match=r"^no earlier good release of prod to roll back to"):
        deploy_run.rollback_target(t.history(), None, OLD, "prod")


def test_without_a_postgres_database_a_failure_after_the_migration_says_to_restore_your_own(tmp_path):
    e = tmp_env(tmp_path, "prod", project=PROJECT)
    mysql = dataclasses.replace(ROLES, database=config.Database("db", "mysql"))
    plan = make("deploy", e, NEW, OLD, [f"{PROJECT}-api-1"], mysql)
    assert "backup" not in [s.name for s in plan.steps]
    migrate = next(s for s in plan.steps if s.name == "migrate")
    assert migrate.left_behind.endswith("restore one of yours (no backup step: no postgres database role)")


def test_a_command_with_files_is_stopped_at_its_deadline(tmp_path):
    # A backup's pg_dump that hangs (a stuck engine, a locked table) must not hold the lock for ever.
    s = Session(None, None, Runner(echo=False), out=io.StringIO())  # type: ignore[arg-type]
    hangs = Command((sys.executable, "-c", "import time; print('partial', flush=True); time.sleep(30)"))
    started = time.monotonic()
    with pytest.raises(CommandTimeout, match=r"did not finish within 0.5 s and was stopped"):
        s.run_files(hangs, stdout_path=tmp_path / "out.dump", timeout=0.5)
    assert time.monotonic() - started < 10
    ok = Command((sys.executable, "-c", "print('done')"))
    assert s.run_files(ok, timeout=5).stdout == "done\n"


# --- to another engine: the build on the local one, the ship, the rest on the target ----


def test_for_another_engine_the_copies_built_here_are_pruned_by_the_hosts_history(tmp_path, monkeypatch):
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    versions = [f"{i:07x}-2026112{i}000000" for i in range(1, 8)]
    t = target(tmp_path, history=versions)
    t.runner.target = "ssh://deploy@prod.example.com"
    t.runner.echo = True
    local = FakeClient()
    t.s.local_client = local
    mine = "10ca1ed-20261101000000"  # built here, never deployed to that host: not in its history
    local.images.refs |= {f"shop-app:{v}" for v in [*versions, mine]}
    t.deploy(previous=versions[-1])
    kept = versions[-(releases.KEEP_IMAGES - 1) :]
    assert sorted(r.split(":")[1] for r in local.images.refs if r.startswith("shop-app:")) == sorted([*kept, mine])
    assert f"$ [engine] remove image shop-app:{versions[0]} (this machine's engine)\n" in t.runner.out.getvalue()
    assert sorted(r.split(":")[1] for r in t.engine.images.refs if r.startswith("shop-app:")) == sorted([*kept, NEW])


def test_a_deploy_to_another_engine_builds_here_ships_and_acts_there(tmp_path, monkeypatch):
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    t = target(tmp_path)
    t.runner.target = "ssh://deploy@prod.example.com"
    local = FakeClient()
    t.s.local_client = local
    # Neither engine has any of the release's images yet.
    t.engine.images.get = local.images.get = lambda ref: (_ for _ in ()).throw(docker.errors.ImageNotFound(ref))
    shipped = []

    def ship_(local_client, target_client, images, *, change, say, clock, until):
        shipped.append((local_client, target_client, [(i.ref, i.need) for i in images], until - clock()))

    monkeypatch.setattr(ship, "ship", ship_)
    plan = deploy_run.make_plan(t.s, allow_dirty=True)
    assert plan.target == deploy.Target(
        "ssh://deploy@prod.example.com",
        "local",
        (
            ship.Image(f"shop-app:{plan.release}", True),
            ship.Image(f"shop-caddy:{plan.release}", True),
            ship.Image(DB_IMAGE, False),
        ),
    )
    plan = dataclasses.replace(plan, steps=plan.steps[1:])  # the preflight reads the real project
    deploy_run.execute(plan, actions.Deploy(t.s, t.clock, t.clock.sleep))
    (build,) = [c for c in t.runner.changed() if short(c) == ("build",)]
    assert build.local_engine and build.env["APP_TAG"] == plan.release
    assert all(not c.local_engine for c in t.runner.changed() if c is not build)
    assert shipped == [
        (
            local,
            t.engine,
            [(f"shop-app:{plan.release}", "unbuilt"), (f"shop-caddy:{plan.release}", "unbuilt"), (DB_IMAGE, "pull")],
            deploy.SHIP_DEADLINE,
        )
    ]
    assert [line.split(":")[0] for line in t.out.splitlines() if line.startswith("==> ")][:3] == [
        "==> 1/12 lock",
        "==> 2/12 build",
        "==> 3/12 ship",
    ]


def test_built_on_the_target_nothing_is_shipped_and_the_build_goes_there(tmp_path, monkeypatch):
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    t = target(tmp_path)
    t.runner.target = "ssh://deploy@prod.example.com"
    t.s.local_client = "never used"  # type: ignore[assignment]
    plan = deploy_run.make_plan(t.s, allow_dirty=True, build_on="host")
    assert plan.target == deploy.Target("ssh://deploy@prod.example.com", "host")
    assert [s.name for s in plan.steps][:4] == ["preflight", "lock", "build", "backup"]
    assert not plan.steps[2].action.commands()[0].local_engine
    with pytest.raises(StackyardError, match=r"^--build-on 'laptop' is not a place to build"):
        deploy_run.make_plan(t.s, build_on="laptop")
