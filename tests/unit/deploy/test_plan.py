"""The deploy plan: its steps, the action each carries, and its text (what
--dry-run prints); release names and history."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re

import invoke
import pytest

from stackyard import config, tasks
from stackyard.commands import compose
from stackyard.config import Database, Proxy, Roles, Web
from stackyard.core.command import Command
from stackyard.deploy import actions, releases
from stackyard.deploy import plan as deploy
from stackyard.deploy.proxy import Caddy, Nginx
from stackyard.errors import StackyardError
from tests.unit.deploy.fakes import ROLES
from tests.unit.fakes import ROOT, tmp_env

NEW = "abc1234-20261122101010"
OLD = "0ff1ce0-20261121090909"


def env(tmp_path) -> config.Environment:
    return tmp_env(tmp_path, "prod", project="shop-prod")


def step_names(text: str) -> list[str]:
    return re.findall(r"^ +\d+\. (\S+)", text, flags=re.M)


def test_deploy_plan_over_a_running_release(tmp_path):
    plan = deploy.make("deploy", env(tmp_path), NEW, OLD, ["shop-prod-api-1"], ROLES)
    text = plan.text()
    assert text.splitlines()[0] == f"deploy {NEW} to prod (project shop-prod), replacing {OLD}:"
    assert step_names(text) == [s.name for s in plan.steps + plan.finish]
    before = ["preflight", "lock", "build", "backup", "migrate"]
    assert [s.name for s in plan.steps] == [*before, "api", "health", "switch", "workers"]
    assert [s.name for s in plan.finish] == ["retire", "record", "unlock"]
    assert f"backups/shop-prod/{NEW}.dump" in text
    assert "the new version gets no traffic before it is healthy" in text
    assert "  then, " + NEW + " serving (never undone):" in text
    assert text.splitlines()[-1] == (
        f"  on a failure in steps 1-9: the undo of each step begun runs, newest first; {OLD} still serves; exit 1"
    )


def test_each_step_carries_the_action_that_does_it(tmp_path):
    e = env(tmp_path)
    plan = deploy.make("deploy", e, NEW, OLD, ["shop-prod-api-1"], ROLES, allow_dirty=True, health_timeout=45)
    kinds = {s.name: s.action for s in plan.steps + plan.finish}
    assert kinds["preflight"] == actions.Preflight(allow_dirty=True)
    assert kinds["build"] == actions.Stream(compose.for_release(compose.build(e), NEW))
    assert kinds["migrate"] == actions.Stream(compose.for_release(compose.run_once(e, "migrate"), NEW))
    assert kinds["api"] == actions.StartBeside(compose.for_release(compose.scale_up(e, "api", 2), NEW), "api")
    assert kinds["health"] == actions.WaitHealthy(45, 30)
    assert kinds["switch"] == actions.Switch(e, Caddy("caddy"), None, 8000)
    assert kinds["retire"] == actions.Retire(("shop-prod-api-1",), 30)
    assert kinds["record"] == actions.Record(NEW, "deploy", releases.KEEP_IMAGES)
    undo = {s.name: s.undo for s in plan.steps if s.undo}
    assert undo == {
        "lock": (actions.RecordFailed(NEW, "deploy"), actions.Unlock()),
        "api": (actions.ShowNewLogs(30), actions.RemoveNew()),
        "switch": (actions.Switch(e, Caddy("caddy"), "shop-prod-api-1", 8000),),
        "workers": (
            actions.ShowLogs(("worker", "listener"), 30),
            actions.Stream(compose.for_release(compose.up(e, ("worker", "listener"), timeout=45, no_deps=True), OLD)),
        ),
    }


def test_the_text_shows_the_commands_the_steps_run(tmp_path):
    e = env(tmp_path)
    plan = deploy.make("deploy", e, NEW, OLD, ["shop-prod-api-1"], ROLES)
    text = plan.text()
    for step in plan.steps + plan.finish:
        for cmd in step.action.commands():
            assert f"$ {compose.short(cmd, e)}" in text
    assert "$ docker compose … build\n" in text
    assert "$ docker compose … exec --no-TTY --env 'UPSTREAM=<new container>:8000' caddy caddy reload" in text
    assert "$ docker stop --time 30 shop-prod-api-1\n" in text
    assert "undo: point caddy at shop-prod-api-1 again" in text
    assert f"undo: record {NEW} as failed, with the reason; remove the lock" in text


def test_the_kept_releases_are_one_number_in_the_text_and_the_pruning(tmp_path):
    plan = deploy.make("deploy", env(tmp_path), NEW, OLD, ["a"], ROLES)
    assert f"those of the last {releases.KEEP_IMAGES} good releases are kept" in plan.text()
    assert plan.finish[1].action.keep == releases.KEEP_IMAGES


def test_first_deploy_starts_the_whole_stack_without_backup_or_separate_migration(tmp_path):
    e = env(tmp_path)
    plan = deploy.make("deploy", e, NEW, None, [], ROLES, health_timeout=60)
    assert step_names(plan.text()) == ["preflight", "lock", "build", "start", "record", "unlock"]
    start = plan.steps[-1]
    # Its failure is explained as `inv up` explains one (the failed service, its logs).
    assert start.action == actions.StartAll(compose.for_release(compose.up(e, timeout=60), NEW), 60)
    assert "replacing" not in plan.text().splitlines()[0]


def test_a_first_deploy_that_fails_says_what_is_left_nothing_serving_and_stopped_containers(tmp_path):
    e = env(tmp_path)
    plan = deploy.make("deploy", e, NEW, None, [], ROLES)
    start = plan.steps[-1]
    assert start.undo == (actions.Stream(compose.for_release(compose.stop(e), NEW)),)
    assert "undo: stop the stack's containers (kept, with their logs, for `inv logs`; the data is kept)" in plan.text()
    assert plan.text().splitlines()[-1] == (
        "  on a failure in steps 1-4: the undo of each step begun runs, newest first; "
        "nothing served before, nothing serves after (the containers started are stopped); exit 1"
    )


def test_rollback_plan_builds_nothing_and_touches_no_data(tmp_path):
    plan = deploy.make("rollback", env(tmp_path), OLD, NEW, ["shop-prod-api-2"], ROLES)
    text = plan.text()
    assert step_names(text) == ["images", "lock", "api", "health", "switch", "workers", "retire", "record", "unlock"]
    assert plan.steps[0].action == actions.CheckImages(OLD)
    assert plan.finish[1].action == actions.Record(OLD, "rollback", None)
    assert "pg_dump" not in text and "migrate" not in text and "remove the images" not in text
    assert "inv db.restore" in plan.note


def test_a_rollback_never_migrates_so_it_refuses_to_start_a_stack_from_nothing(tmp_path):
    with pytest.raises(StackyardError, match=r"^nothing runs in prod: a rollback to .* and migrate with it"):
        deploy.make("rollback", env(tmp_path), OLD, None, [], ROLES)
    # Without a migration service, starting the stack migrates nothing: allowed.
    plan = deploy.make("rollback", env(tmp_path), OLD, None, [], dataclasses.replace(ROLES, migrate=None))
    assert step_names(plan.text()) == ["images", "lock", "start", "record", "unlock"]
    # Over a running release, no step of a rollback runs the migration service.
    running = deploy.make("rollback", env(tmp_path), OLD, NEW, ["shop-prod-api-2"], ROLES)
    commands = [c for step in running.steps + running.finish for a in (step.action, *step.undo) for c in a.commands()]
    assert commands and not [c for c in commands if "migrate" in c.argv]


def test_every_step_states_its_deadline_and_the_kinds_have_their_own(tmp_path):
    plan = deploy.make("deploy", env(tmp_path), NEW, OLD, ["shop-prod-api-1"], ROLES, health_timeout=45)
    deadlines = {step.name: step.deadline for step in plan.steps + plan.finish}
    assert deadlines == {
        "preflight": deploy.PREFLIGHT_DEADLINE,
        "lock": 30,
        "build": 1800,
        "backup": 600,
        "migrate": 600,
        "api": 45 + deploy.START_MARGIN,
        "health": 45,
        "switch": 30,
        "workers": 45 + deploy.START_MARGIN,
        "retire": deploy.RETIRE_DEADLINE,
        "record": deploy.RECORD_DEADLINE,
        "unlock": 30,
    }
    lines = [line for line in plan.text().splitlines() if re.match(r" +\d+\. ", line)]
    assert len(lines) == len(deadlines) and all(line.endswith(" s)") for line in lines)
    assert "   8. switch    point caddy (caddy) at the new container (≤ 30 s)" in lines


def test_leftover_web_containers_are_removed_before_the_new_one_starts(tmp_path):
    e = env(tmp_path)
    left = ["shop-prod-api-2", "shop-prod-api-3"]
    plan = deploy.make("deploy", e, NEW, OLD, ["shop-prod-api-1"], ROLES, leftovers=left)
    names = [s.name for s in plan.steps]
    assert names[names.index("converge") + 1] == "api"
    converge = plan.steps[names.index("converge")]
    assert converge.what.startswith("remove 2 leftover api containers (shop-prod-api-2, shop-prod-api-3)")
    assert converge.action == actions.Converge(
        actions.Switch(e, Caddy("caddy"), "shop-prod-api-1", 8000), actions.Retire(tuple(left), deploy.STOP_GRACE)
    )
    # One container is left, so the new one is the second; only the kept one is retired at the end.
    api = plan.steps[names.index("api")]
    assert api.action == actions.StartBeside(compose.for_release(compose.scale_up(e, "api", 2), NEW), "api")
    assert plan.finish[0].action == actions.Retire(("shop-prod-api-1",), deploy.STOP_GRACE)
    assert "converge" not in step_names(deploy.make("deploy", e, NEW, OLD, ["shop-prod-api-1"], ROLES).text())


def test_release_names_and_history(tmp_path):
    when = dt.datetime(2026, 11, 22, 10, 10, 10, tzinfo=dt.UTC)
    assert releases.name("abcdef0123456789", when) == "abcdef0-20261122101010"
    assert releases.name("abcdef0123456789", when, dirty=True) == "abcdef0-20261122101010-dirty"
    path = releases.history_file(tmp_path, "p")
    for version, result in [("a", "ok"), ("b", "failed"), ("c", "ok"), ("d", "ok")]:
        releases.record(path, releases.Release(version, "t", "me", result))
    got = releases.history(path)
    assert [r.version for r in got] == ["a", "b", "c", "d"]
    assert [r.version for r in releases.good(got)] == ["a", "c", "d"]
    assert releases.current(got).version == "d"
    assert releases.last_good(got, before="d").version == "c"
    assert releases.last_good(got, before="c").version == "a"
    assert releases.last_good(got, before="a") is None


def test_host_names_the_target_engine_for_every_command(monkeypatch):
    monkeypatch.chdir(ROOT)
    s = tasks.session(invoke.Context(), "prod", "ssh://deploy@prod.example.com")
    assert s.runner.env == {"DOCKER_HOST": "ssh://deploy@prod.example.com"}
    env = s.runner._env(Command(("true",)))
    assert env["DOCKER_HOST"] == "ssh://deploy@prod.example.com"


OTHER = Roles(Web("shop", 8080), Proxy("edge", "nginx"), Database("pg", "postgres"), "setup", ("jobs",))


def test_the_plan_takes_every_name_from_the_roles(tmp_path):
    e = env(tmp_path)
    plan = deploy.make("deploy", e, NEW, OLD, ["shop-prod-shop-1"], OTHER, health_timeout=45)
    kinds = {s.name: s.action for s in plan.steps + plan.finish}
    assert kinds["backup"] == actions.Backup(e, Database("pg", "postgres"), NEW)
    assert kinds["migrate"] == actions.Stream(compose.for_release(compose.run_once(e, "setup"), NEW))
    assert kinds["shop"] == actions.StartBeside(compose.for_release(compose.scale_up(e, "shop", 2), NEW), "shop")
    assert kinds["switch"] == actions.Switch(e, Nginx("edge", "shop"), None, 8080)
    workers = compose.up(e, ("jobs",), timeout=45, no_deps=True)
    assert kinds["workers"] == actions.Stream(compose.for_release(workers, NEW))
    text = plan.text()
    assert "$ docker compose … exec --no-TTY edge sh -c " in text and "nginx -t -q" in text
    for name in ("api", "caddy", "listener", " db "):
        assert name not in text


def test_a_stack_without_migration_database_or_workers_skips_their_steps(tmp_path):
    bare = Roles(Web("shop", 8080), Proxy("edge", "caddy"))
    plan = deploy.make("deploy", env(tmp_path), NEW, OLD, ["shop-prod-shop-1"], bare)
    assert [s.name for s in plan.steps] == ["preflight", "lock", "build", "shop", "health", "switch"]


def test_a_deploy_over_a_running_stack_needs_a_proxy(tmp_path):
    with pytest.raises(StackyardError, match="needs the proxy role") as err:
        deploy.make("deploy", env(tmp_path), NEW, OLD, ["x"], Roles(Web("shop", 8080)))
    assert "[tool.stackyard.roles]" in err.value.hint
