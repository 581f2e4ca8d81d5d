"""swarm/deploy.py: the plan of a deploy on Swarm (its steps, their reasons, what a
dry run prints), the part-by-part stack files (the job alone with the release), the
watcher of Swarm's UpdateStatus on scripted service data, the undo, the errors."""

from __future__ import annotations

import copy
import dataclasses
import io
import json
import pathlib
import re
from collections.abc import Sequence
from types import SimpleNamespace

import docker.errors
import pytest

from stackyard import config
from stackyard.config import Database, Proxy, Roles, Web
from stackyard.core.command import Command
from stackyard.core.runner import Result
from stackyard.deploy import actions, releases
from stackyard.deploy import plan as deploy
from stackyard.deploy import run as deploy_run
from stackyard.errors import CommandTimeout, StackyardError
from stackyard.session import Session
from stackyard.swarm import actions as sa
from stackyard.swarm import deploy as sd
from stackyard.swarm import render
from tests.unit.fakes import FakeRunner, tmp_env

PROJECT = "shop-swarm"
NEW = "abc1234-20261122101010"
OLD = "0ff1ce0-20261121090909"
ROLES = Roles(Web("api", 8000), Proxy("caddy", "caddy"), Database("db", "postgres"), "migrate", ("worker",), ())
SERVICES = ("api", "caddy", "db", "migrate", "worker")
TASK = "x" * 25  # a task ID, as long as Swarm's


def document(release: str) -> dict:
    """A rendered stack file, as swarm/render.py makes it (the part a plan reads)."""
    app = f"shop-app:{release}"

    def updates(order: str, monitor: str) -> dict:
        return {"update_config": {"parallelism": 1, "order": order, "failure_action": "rollback", "monitor": monitor}}

    return {
        "version": "3.13",
        "services": {
            "api": {"image": app, "environment": {"APP_VERSION": release}, "deploy": {"replicas": 2, **updates("start-first", "55s")}},
            "caddy": {"image": f"shop-caddy:{release}", "deploy": updates("stop-first", "55s")},
            "db": {"image": "postgres:17", "deploy": updates("stop-first", "1m5s")},
            "migrate": {"image": app, "environment": {"APP_VERSION": release}, "deploy": {"mode": "replicated-job"}},
            "worker": {"image": app, "environment": {"APP_VERSION": release}, "deploy": updates("start-first", "35s")},
        },
        "networks": {"backend": {"driver": "overlay", "attachable": True}},
        "secrets": {"pw": {"external": True, "name": f"{PROJECT}_pw_0123456789ab"}},
    }  # fmt: skip


def stack(release: str = NEW) -> render.Stack:
    return render.Stack(
        document(release), {"pw": f"{PROJECT}_pw_0123456789ab"}, {}, "migrate", ("dev.stackyard.db",), ()
    )


def found(services: Sequence[str] = SERVICES, serving: str | None = OLD, data: str | None = None) -> sd.Found:
    return sd.Found(ROLES, tuple(services), serving, data)


def env(tmp_path) -> config.Environment:
    return tmp_env(tmp_path, "swarm", project=PROJECT, orchestrator="swarm")


def plan_of(tmp_path, kind: releases.Kind = "deploy", release: str = NEW, **options) -> deploy.Plan:
    where = options.pop("found", None) or found()
    return sd.make(kind, env(tmp_path), release, where, stack(release), {"services": {}}, **options)


def names(plan: deploy.Plan) -> list[str]:
    return [s.name for s in plan.steps]


def step(plan: deploy.Plan, name: str) -> deploy.Step:
    return next(s for s in plan.steps + plan.finish if s.name == name)


# ---- the plan ------------------------------------------------------------------------


def test_a_deploy_goes_part_by_part_the_job_first_then_the_web_service_then_the_rest(tmp_path):
    plan = plan_of(tmp_path)
    assert names(plan) == ["preflight", "lock", "build", "backup", "secrets", "migration", "api", "services"]
    assert [s.name for s in plan.finish] == ["record", "unlock"]
    text = plan.text()
    lines = text.splitlines()
    assert lines[0] == f"deploy {NEW} to swarm (project {PROJECT}), replacing {OLD}:"
    assert lines[1] == "  on Swarm: Swarm updates each service, health-gated, and rolls it back by itself on a failure"
    part = "$ docker stack deploy --compose-file '<stack file: {}>' --resolve-image never --detach=true " + PROJECT
    for shown in ("migrate", "api", "caddy, db, worker"):
        assert " " * 16 + part.format(shown) in lines
    assert "--prune" not in text  # the stack's other services stay as they run, each step
    assert f"undo: roll api back to {OLD} (`docker service rollback`), unless Swarm did" in text
    assert "why: Swarm gives a new task traffic only once it is healthy, and rolls the service back by itself" in text
    assert "a failed job fails the deploy with nothing else changed" in text
    assert f"$ docker exec --interactive '<container of the {PROJECT}_db task>' sh -c" in text
    assert lines[-1] == (
        f"  on a failure in steps 1-8: the undo of each step begun runs, newest first; {OLD} still serves; exit 1"
    )


def test_the_job_goes_alone_with_the_release_and_the_other_parts_leave_it_out(tmp_path):
    plan = plan_of(tmp_path)
    job = step(plan, "migration").action
    assert job == sa.RunJob(PROJECT, sd.only(document(NEW), ["migrate"]), "migrate")
    assert list(job.document["services"]) == ["migrate"]  # nothing else is in the file: nothing else changes
    assert job.document["services"]["migrate"]["image"] == f"shop-app:{NEW}"
    assert job.document["networks"] == document(NEW)["networks"] and job.document["secrets"]  # declared, all
    web, rest = step(plan, "api").action, step(plan, "services").action
    assert (list(web.document["services"]), web.services, web.serves) == (["api"], ("api",), True)
    assert (list(rest.document["services"]), rest.converge) == (["caddy", "db", "worker"], True)
    assert step(plan, "api").undo == (sa.RollBack(PROJECT, ("api",)),)
    assert step(plan, "services").undo == (sa.RollBack(PROJECT, ("caddy", "db", "worker")),)
    assert step(plan, "migration").undo == ()  # nothing else changed: the old release still serves
    assert "the schema was migrated by" in step(plan, "migration").left_behind
    assert step(plan, "record").action == sa.Record(NEW, "deploy", releases.KEEP_IMAGES)


def test_only_copies_the_file_leaving_the_release_untouched():
    full = document(NEW)
    part = sd.only(full, ["migrate"])
    part["services"]["migrate"]["image"] = "changed"
    assert full == document(NEW)


def test_each_update_may_take_its_tasks_health_checks_one_at_a_time_then_two_monitor_windows(tmp_path):
    plan = plan_of(tmp_path, health_timeout=100)
    assert step(plan, "api").deadline == 2 * 100 + 2 * 55 + deploy.START_MARGIN
    assert step(plan, "services").deadline == 100 + 2 * 65 + deploy.START_MARGIN  # db's window is the longest


def test_a_rollback_updates_the_same_way_without_build_backup_or_job(tmp_path):
    plan = plan_of(tmp_path, "rollback", OLD, found=found(serving=NEW))
    assert names(plan) == ["images", "lock", "secrets", "api", "services"]
    assert step(plan, "images").action == actions.CheckImages(OLD)
    for name in ("api", "services"):
        assert "migrate" not in step(plan, name).action.document["services"]
    assert step(plan, "api").action.document["services"]["api"]["image"] == f"shop-app:{OLD}"
    assert step(plan, "record").action == sa.Record(OLD, "rollback", None)
    assert "the database was not touched" in plan.note
    assert plan.text().splitlines()[0] == f"rollback {OLD} to swarm (project {PROJECT}), replacing {NEW}:"


def test_a_rollback_with_nothing_running_is_refused_it_would_run_the_job(tmp_path):
    with pytest.raises(StackyardError, match="a rollback never migrates"):
        plan_of(tmp_path, "rollback", OLD, found=found(services=(), serving=None))


def test_a_first_deploy_deploys_the_whole_file_with_prune(tmp_path):
    plan = plan_of(tmp_path, found=found(services=(), serving=None))
    assert names(plan) == ["preflight", "lock", "build", "secrets", "start"]
    assert plan.situation == f"no service of stack {PROJECT} runs: a first deploy"
    start = step(plan, "start").action
    assert start.document == document(NEW) and start.prune
    assert "--prune --resolve-image never" in plan.text()
    assert plan.previous is None


def test_a_first_deploy_over_a_database_volume_backs_it_up_first(tmp_path):
    plan = plan_of(tmp_path, found=found(services=(), serving=None, data=f"volume {PROJECT}_db-data"))
    assert names(plan) == ["preflight", "lock", "build", "secrets", "database", "backup", "start"]
    assert list(step(plan, "database").action.document["services"]) == ["db"]
    assert f"the database holds data (volume {PROJECT}_db-data): backup first" in plan.situation


def test_services_the_release_no_longer_names_are_removed_once_it_serves(tmp_path):
    plan = plan_of(tmp_path, found=found(services=(*SERVICES, "flower")))
    assert [s.name for s in plan.finish] == ["prune", "record", "unlock"]
    assert step(plan, "prune").action.commands() == (Command(("docker", "service", "rm", f"{PROJECT}_flower")),)


# ---- the Engine API, scripted ----------------------------------------------------------


def service(name: str, *, state: str | None = None, message: str = "", image: str = f"shop-app:{NEW}", before: str | None = f"shop-app:{OLD}", version: int = 20) -> dict:  # fmt: skip
    """A service as /services shows it: its spec, the spec before its last change, its update."""
    row = {
        "ID": f"id-{name}",
        "Version": {"Index": version},
        "Spec": {"Name": f"{PROJECT}_{name}", "TaskTemplate": {"ContainerSpec": {"Image": image}}},
        "UpdateStatus": {"State": state, "Message": message} if state else None,
    }
    if before:
        row["PreviousSpec"] = {"Name": f"{PROJECT}_{name}", "TaskTemplate": {"ContainerSpec": {"Image": before}}}
    return row


class Client:
    """The part of the docker SDK's client swarm/deploy.py uses. `frames`: what each look
    at the services shows, in turn (the last one stays); `images`: image name -> ID."""

    def __init__(self, frames: Sequence[Sequence[dict]], tasks: dict | None = None, images=None):
        self.frames = [list(f) for f in frames]
        self.task_rows = dict(tasks or {})
        self.image_ids = dict(images or {})
        self.api = SimpleNamespace(services=self.services, tasks=self.tasks, containers=lambda filters: [])
        self.images = SimpleNamespace(get=self.image)
        self.nodes = SimpleNamespace(
            list=lambda: [SimpleNamespace(id=i, attrs={"Description": {"Hostname": h}}) for i, h in NODES.items()]
        )

    def info(self) -> dict:
        return {"Name": "manager1", "Swarm": {"LocalNodeState": "active", "ControlAvailable": True, "NodeID": "n1"}}

    def services(self, filters: dict, status: bool) -> list[dict]:
        assert filters == {"label": f"com.docker.stack.namespace={PROJECT}"}
        return copy.deepcopy(self.frames.pop(0) if len(self.frames) > 1 else self.frames[0])

    def tasks(self, filters: dict) -> list[dict]:
        return list(self.task_rows.get(filters["service"], []))

    def image(self, ref: str):
        if ref not in self.image_ids:
            raise docker.errors.ImageNotFound(ref)
        return SimpleNamespace(attrs={"Id": self.image_ids[ref]})


NODES = {"n1": "manager1", "n2": "worker1"}


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def rollout(tmp_path, client: Client, runner: FakeRunner | None = None) -> sa.SwarmDeploy:
    project = config.Project(tmp_path, "shop", tmp_path / "compose", tmp_path / "env", "swarm")
    s = Session(project, env(tmp_path), runner or FakeRunner(), out=io.StringIO(), client=client)
    clock = Clock()
    x = sa.SwarmDeploy(s, clock, clock.sleep)
    x.deadline = 300
    return x


def out(x: sa.SwarmDeploy) -> str:
    return x.s.out.getvalue()


def failed_task(err: str = "task: non-zero exit (3)") -> dict:
    return {"ID": TASK, "Status": {"State": "failed", "Err": err}, "CreatedAt": "2"}


#: What `docker service logs --raw` of the failed task says.
LOGS = {f"logs --raw --tail 30 {TASK}": Result(0, "refusing to start: broken on purpose\n")}


class Slow(FakeRunner):
    """A runner whose logs never come: its command is stopped at its deadline."""

    def run(self, cmd: Command, mode="capture", check=True, quiet=False, **kw) -> Result:
        if cmd.argv[:3] == ("docker", "service", "logs"):
            raise CommandTimeout(cmd.argv, kw["timeout"])
        return super().run(cmd, mode, check, quiet, **kw)


# ---- the watcher of UpdateStatus -----------------------------------------------------------


def test_the_update_state_is_swarms_else_whether_the_spec_changed_its_tasks():
    assert sa.update_state(service("api", state="completed")) == "completed"
    assert sa.update_state(service("api")) == "updating"  # cleared by the change; the updater has not begun
    assert sa.update_state(service("api", before=f"shop-app:{NEW}")) == "unchanged"
    assert sa.update_state(service("api", before=None)) == "unchanged"  # made by this deploy: nothing to update


@pytest.mark.parametrize(
    ("states", "verdict"),
    [
        ({"a": "completed", "b": "unchanged"}, "completed"),
        ({"a": "completed", "b": "updating"}, "waiting"),
        ({"a": "rollback_started"}, "waiting"),  # Swarm is not done with it: the old release is coming back
        ({"a": "rollback_completed", "b": "updating"}, "failed"),
        ({"a": "paused"}, "failed"),
        ({"a": "rollback_paused"}, "failed"),
        ({}, "completed"),
    ],
)
def test_the_outcome_of_the_updates(states, verdict):
    assert sa.outcome(states) == verdict


def test_the_watcher_returns_once_swarm_says_completed(tmp_path):
    frames = [[service("api")], [service("api", state="updating")], [service("api", state="completed")]]
    x = rollout(tmp_path, Client(frames))
    sa.watch(x, ["api"], until=300)
    assert "api: update completed" in out(x)
    assert x.clock() == 2 * sa.POLL


def test_a_rollback_by_swarm_fails_naming_it_with_swarms_reason_and_the_failing_tasks_lines(tmp_path):
    why = f"update rolled back due to failure or early termination of task {TASK}"
    frames = [
        [service("api", state="updating")],
        [service("api", state="rollback_started", message=why)],
        [service("api", state="rollback_completed", message="rollback completed")],
    ]
    newer = {"ID": "y" * 25, "Status": {"State": "rejected", "Err": "No such image"}, "CreatedAt": "3"}
    runner = FakeRunner(LOGS)
    x = rollout(tmp_path, Client(frames, tasks={"id-api": [newer, failed_task()]}), runner)
    with pytest.raises(StackyardError) as err:
        sa.watch(x, ["api"], until=300)
    assert (
        err.value.message == f"Swarm rolled api back by itself ({why}); its task {TASK[:12]}: task: non-zero exit (3)"
    )
    said = out(x)
    assert f"--- task {TASK[:12]} of {PROJECT}_api (failed: task: non-zero exit (3)): last 30 log lines ---" in said
    assert "refusing to start: broken on purpose" in said
    # The task Swarm names, by its own logs (a service's may never end: commands/swarm.py, last_logs).
    assert [c.argv for c in runner.commands] == [("docker", "service", "logs", "--raw", "--tail", "30", TASK)]


def test_a_paused_update_fails_at_once(tmp_path):
    frames = [[service("worker", state="paused", message="update paused due to failure")]]
    x = rollout(tmp_path, Client(frames, tasks={"id-worker": [failed_task()]}), FakeRunner(LOGS))
    with pytest.raises(StackyardError, match=r"^Swarm paused the update of worker \(update paused due to failure\)"):
        sa.watch(x, ["worker"], until=300)


def test_logs_that_do_not_come_are_said_not_waited_for(tmp_path):
    frames = [[service("api", state="rollback_completed", message="rollback completed")]]
    x = rollout(tmp_path, Client(frames, tasks={"id-api": [failed_task()]}), Slow())
    with pytest.raises(StackyardError, match=r"^Swarm rolled api back by itself"):
        sa.watch(x, ["api"], until=300)
    assert f"(its logs did not come within 30 s: `docker service logs --raw --tail 30 {TASK}` shows them)" in out(x)


def test_an_update_past_its_deadline_fails_saying_where_it_is(tmp_path):
    x = rollout(tmp_path, Client([[service("api", state="updating"), service("worker", state="completed")]]))
    with pytest.raises(StackyardError) as err:
        sa.watch(x, ["api", "worker"], until=30)
    assert err.value.message == "the update did not finish within 300 s: api still updating (no reason given)"
    assert x.clock() == 30
    assert f"--- {PROJECT}_api, every task: last 30 log lines ---" in out(x)  # no failed task to name


# ---- the actions -----------------------------------------------------------------------------


class Deploying(FakeRunner):
    """Records commands; a `docker stack deploy` moves the client to its next frames."""

    def __init__(self, client: Client, after: Sequence[Sequence[dict]]):
        super().__init__()
        self.client, self.after = client, after

    def run(self, cmd: Command, mode="capture", check=True, quiet=False, **kw) -> Result:
        if cmd.argv[:3] == ("docker", "stack", "deploy"):
            self.client.frames = [list(f) for f in self.after]
            self.deployed = _read(cmd.argv[4])
        return super().run(cmd, mode, check, quiet, **kw)


def _read(path: str) -> dict:
    """The stack file the command names (gone once the command returns: read as it runs)."""
    return json.loads(pathlib.Path(path).read_text())


def test_an_update_deploys_its_part_without_prune_then_watches_what_changed(tmp_path):
    before = [service("api", state="completed", version=10), service("worker", state="completed", version=10)]
    after = [
        [service("api", version=11), service("worker", before=f"shop-app:{NEW}", version=11)],
        [service("api", state="completed", version=13), service("worker", before=f"shop-app:{NEW}", version=11)],
    ]
    client = Client([before])
    runner = Deploying(client, after)
    x = rollout(tmp_path, client, runner)
    sa.Update(PROJECT, sd.only(document(NEW), ["api", "worker"]), ("api", "worker")).run(x)
    (cmd,) = runner.commands
    assert cmd.argv[:3] == ("docker", "stack", "deploy") and "--prune" not in cmd.argv
    assert cmd.argv[-4:] == ("--resolve-image", "never", "--detach=true", PROJECT)
    assert list(runner.deployed["services"]) == ["api", "worker"]
    assert x.changed == ["api"]  # worker's tasks are what its spec says: nothing to watch, nothing to undo
    assert "api: update completed" in out(x) and "worker: update" not in out(x)


def test_the_web_services_update_says_the_new_release_serves_once_completed(tmp_path):
    client = Client([[service("api", state="completed", version=1)]])
    runner = Deploying(client, [[service("api", version=2)], [service("api", state="completed", version=3)]])
    x = rollout(tmp_path, client, runner)
    sa.Update(PROJECT, sd.only(document(NEW), ["api"]), ("api",), serves=True).run(x)
    assert actions.serves_new(x) and x.new == f"{PROJECT}_api"


def test_a_stop_first_service_whose_image_did_not_change_keeps_its_name_and_is_not_restarted(tmp_path):
    running = [
        service("caddy", image=f"shop-caddy:{OLD}", state="completed", version=1),
        service("worker", image=f"shop-app:{OLD}", state="completed", version=1),
    ]
    same = {f"shop-caddy:{OLD}": "sha256:c", f"shop-caddy:{NEW}": "sha256:c"}
    client = Client([running], images={**same, f"shop-app:{OLD}": "sha256:a", f"shop-app:{NEW}": "sha256:a"})
    runner = Deploying(client, [running])
    x = rollout(tmp_path, client, runner)
    sa.Update(PROJECT, sd.only(document(NEW), ["caddy", "worker"]), ("caddy", "worker")).run(x)
    assert runner.deployed["services"]["caddy"]["image"] == f"shop-caddy:{OLD}"  # stop-first: same ID, kept
    assert runner.deployed["services"]["worker"]["image"] == f"shop-app:{NEW}"  # start-first: the release's name
    assert f"caddy: shop-caddy:{NEW} is the image it runs (shop-caddy:{OLD}): kept, not restarted" in out(x)


def test_the_undo_rolls_back_what_this_deploy_updated_unless_swarm_did(tmp_path):
    frames = [
        [service("worker", state="completed"), service("api", state="rollback_completed"), service("db", state="completed")],
        [service("worker", state="rollback_started"), service("api", state="rollback_completed")],
        [service("worker", state="rollback_completed"), service("api", state="rollback_completed")],
    ]  # fmt: skip
    client = Client(frames)
    runner = FakeRunner()
    x = rollout(tmp_path, client, runner)
    x.changed = ["api", "worker"]  # db: not changed by this deploy (its "completed" is an earlier one's)
    sa.RollBack(PROJECT, ("api", "db", "worker")).run(x)
    assert [c.argv for c in runner.commands] == [("docker", "service", "rollback", "--detach", f"{PROJECT}_worker")]
    assert "worker: rolled back" in out(x)


def test_the_undo_of_the_web_service_says_what_serves_when_its_rollback_fails(tmp_path):
    client = Client([[service("api", state="completed")], [service("api", state="rollback_paused")]])
    x = rollout(tmp_path, client)
    x.changed, x.new = ["api"], f"{PROJECT}_api"
    x.points_at = x.new
    with pytest.raises(StackyardError, match="the rollback did not finish: api rollback_paused"):
        sa.RollBack(PROJECT, ("api",)).run(x)
    assert x.stuck.startswith("the release may still serve: rolling api back failed")
    assert actions.serves_new(x)  # recorded as failed-serving


def test_the_job_waits_for_this_runs_tasks_not_an_earlier_runs(tmp_path):
    job = service("migrate") | {
        "Spec": {"Name": f"{PROJECT}_migrate", "Mode": {"ReplicatedJob": {"TotalCompletions": 1}}},
        "JobStatus": {"JobIteration": {"Index": 4}},
    }
    earlier = {"ID": "t0", "JobIteration": {"Index": 3}, "Status": {"State": "complete"}}
    running = {"ID": "t1", "JobIteration": {"Index": 4}, "Status": {"State": "running"}}
    done = {"ID": "t1", "JobIteration": {"Index": 4}, "Status": {"State": "complete"}}
    assert sa.job_state(job, [earlier]) == "0/1 complete, 0 running"
    assert sa.job_state(job, [running, earlier]) == "0/1 complete, 1 running"
    assert sa.job_state(job, [done, earlier]) == "complete"


def test_a_job_swarm_gave_up_on_fails_the_deploy_with_its_lines(tmp_path):
    job = {
        "ID": "id-migrate",
        "Spec": {
            "Name": f"{PROJECT}_migrate",
            "Mode": {"ReplicatedJob": {"TotalCompletions": 1}},
            "TaskTemplate": {"RestartPolicy": {"MaxAttempts": 1}},
        },
    }
    tasks = [failed_task("task: non-zero exit (1)"), failed_task("task: non-zero exit (1)") | {"ID": "z" * 25}]
    x = rollout(tmp_path, Client([[job]], tasks={"id-migrate": tasks}), FakeRunner(LOGS))
    with pytest.raises(StackyardError, match=r"^job migrate failed after 2 attempt\(s\): task: non-zero exit \(1\)"):
        sa.wait_job(x, "migrate")
    assert "broken on purpose" in out(x)


def test_a_backup_refuses_a_database_task_on_another_node_naming_it(tmp_path):
    db = service("db", image="postgres:17")
    tasks = {"id-db": [{"ID": "t", "NodeID": "n2", "Status": {"State": "running"}}]}
    x = rollout(tmp_path, Client([[db]], tasks=tasks))
    with pytest.raises(StackyardError) as err:
        sa.Backup(PROJECT, Database("db", "postgres"), NEW).check(x)
    assert err.value.message == (
        f"the task of {PROJECT}_db runs on node worker1, not on this engine's (manager1): the backup runs pg_dump "
        "in its container with `docker exec`, which reaches this engine's containers only"
    )
    assert "dev.stackyard.db=true" in err.value.hint


def test_a_backup_reads_the_database_task_container_on_this_engine(tmp_path, monkeypatch):
    taken = {}
    monkeypatch.setattr(sa.backups, "take", lambda s, name, database, **kw: taken.update(kw, name=name) or name)
    client = Client([[]])
    client.api.containers = lambda filters: [{"Id": "c0ffee", "Created": 1}]
    x = rollout(tmp_path, client)
    sa.Backup(PROJECT, Database("db", "postgres"), NEW).run(x)
    assert "commands" not in taken  # db.backup's own: `docker exec` in that container (stack/db.py)
    assert x.backup == NEW and taken["timeout"] == 300


def test_a_deploy_on_swarm_refuses_a_bundle_and_build_on(tmp_path):
    x = rollout(tmp_path, Client([[]]))
    with pytest.raises(StackyardError, match=r"^--bundle is for a deploy to one host; swarm runs on Swarm"):
        sd.read(x.s, bundled=True)
    with pytest.raises(StackyardError, match=r"^--build-on is for a deploy to one host"):
        sd.read(x.s, build_on="host")


# ---- deploy/run.py's dispatch -----------------------------------------------------------------


class Checked(actions.Action):
    def __init__(self):
        self.checked = self.ran = 0

    def run(self, x) -> None:
        self.ran += 1

    def check(self, x) -> None:
        self.checked += 1


@pytest.mark.parametrize("form", ["--dry-run", "inv --dry"])
def test_a_dry_run_on_swarm_makes_the_checks_prints_swarms_plan_and_runs_nothing(tmp_path, monkeypatch, form):
    action = Checked()
    plan = deploy.Plan("deploy", env(tmp_path), NEW, OLD, (deploy.Step("only", "what", "why", action, 5),), (), "x")
    made = {}
    monkeypatch.setattr(sd, "read", lambda s, bundled, build_on: found())
    monkeypatch.setattr(deploy_run, "release_name", lambda s: NEW)
    monkeypatch.setattr(sd, "make_plan", lambda s, kind, release, f, **kw: made.update(release=release, **kw) or plan)
    x = rollout(tmp_path, Client([[]]), FakeRunner(dry=form == "inv --dry"))
    deploy_run.run(x.s, dry_run=form == "--dry-run", health_timeout=45)
    assert (action.checked, action.ran) == (1, 0)
    assert out(x).strip() == plan.text()
    assert made == {"release": NEW, "allow_dirty": False, "health_timeout": 45}


def test_a_rollback_on_swarm_names_the_previous_good_release(tmp_path, monkeypatch):
    history = [releases.Release(OLD, "t", "me", "ok"), releases.Release(NEW, "t", "me", "ok")]
    monkeypatch.setattr(sd, "read", lambda s, bundled, build_on: found(serving=NEW))
    monkeypatch.setattr(releases, "history", lambda s, skipped=None: history)
    monkeypatch.setattr(sd, "make_plan", lambda s, kind, release, f, **kw: (kind, release))
    x = rollout(tmp_path, Client([[]]))
    assert deploy_run.swarm_plan(x.s, "rollback", None, False, 120, None, None) == ("rollback", OLD)
    with pytest.raises(StackyardError, match=f"release {NEW} already serves swarm"):
        deploy_run.swarm_plan(x.s, "rollback", NEW, False, 120, None, None)


def test_the_plan_text_names_each_step_in_order(tmp_path):
    text = plan_of(tmp_path).text()
    assert re.findall(r"^ +\d+\. (\S+)", text, flags=re.M) == [
        "preflight", "lock", "build", "backup", "secrets", "migration", "api", "services", "record", "unlock"
    ]  # fmt: skip


def test_with_a_registry_the_images_are_pushed_and_every_part_passes_the_login_on(tmp_path):
    registry_env = tmp_env(tmp_path, "swarm", project=PROJECT, orchestrator="swarm", registry="r.example.com/team")
    pushes = {f"shop-app:{NEW}": f"r.example.com/team/shop-app:{NEW}"}
    plan = sd.make(
        "deploy", registry_env, NEW, found(), dataclasses.replace(stack(), pushes=pushes), {"services": {}}, ship=False
    )
    assert names(plan) == ["preflight", "lock", "build", "push", "backup", "secrets", "migration", "api", "services"]
    text = plan.text()
    assert f"push shop-app:{NEW} to r.example.com/team, named r.example.com/team/shop-app:{NEW}" in text
    deploys = [line for line in text.splitlines() if "docker stack deploy" in line]
    assert len(deploys) == 3 and all("--with-registry-auth" in line for line in deploys)
    assert "--with-registry-auth" not in plan_of(tmp_path).text()  # without one, nothing to pass on


def test_a_first_deploy_s_backup_is_checked_before_the_step_that_starts_the_database_without_error(tmp_path):
    # a dry run over a database volume with nothing running: the plan is printed, not refused
    x = rollout(tmp_path, Client([[]]))
    sa.Backup(PROJECT, Database("db", "postgres"), NEW, started_before=True).check(x)
    with pytest.raises(StackyardError, match=rf"^no task of {PROJECT}_db runs: the backup has no database to read"):
        sa.Backup(PROJECT, Database("db", "postgres"), NEW).check(x)
    plan = plan_of(tmp_path, found=found(services=(), serving=None, data=f"volume {PROJECT}_db-data"))
    assert step(plan, "backup").action.started_before
