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
from stackyard.engine import ship
from stackyard.errors import StackyardError
from tests.unit.deploy.fakes import EDGE, ROLES, make
from tests.unit.fakes import ROOT, tmp_env

NEW = "abc1234-20261122101010"
OLD = "0ff1ce0-20261121090909"


def env(tmp_path) -> config.Environment:
    return tmp_env(tmp_path, "prod", project="shop-prod")


def step_names(text: str) -> list[str]:
    return re.findall(r"^ +\d+\. (\S+)", text, flags=re.M)


def test_deploy_plan_over_a_running_release(tmp_path):
    plan = make("deploy", env(tmp_path), NEW, OLD, ["shop-prod-api-1"], ROLES)
    text = plan.text()
    assert text.splitlines()[0] == f"deploy {NEW} to prod (project shop-prod), replacing {OLD}:"
    assert step_names(text) == [s.name for s in plan.steps + plan.finish]
    before = ["preflight", "lock", "build", "backup", "migrate"]
    assert [s.name for s in plan.steps] == [*before, "api", "health", "switch", "workers"]
    assert [s.name for s in plan.finish] == ["retire", "record", "unlock"]
    assert f"kept on the engine as backup {NEW}" in text
    assert "the new version gets no traffic before it is healthy" in text
    assert "  then, " + NEW + " serving (never undone):" in text
    assert text.splitlines()[-1] == (
        f"  on a failure in steps 1-9: the undo of each step begun runs, newest first; {OLD} still serves; exit 1"
    )


def test_each_step_carries_the_action_that_does_it(tmp_path):
    e = env(tmp_path)
    plan = make("deploy", e, NEW, OLD, ["shop-prod-api-1"], ROLES, allow_dirty=True, health_timeout=45)
    kinds = {s.name: s.action for s in plan.steps + plan.finish}
    assert kinds["preflight"] == actions.Preflight(allow_dirty=True)
    assert kinds["build"] == actions.Stream(compose.for_release(compose.build(e), NEW))
    assert kinds["migrate"] == actions.Stream(compose.for_release(compose.run_once(e, "migrate"), NEW))
    caddy = Caddy("caddy", EDGE, "api")
    # Created, taken off the network it shares with caddy (the adapter's before_start), then started.
    assert kinds["api"] == actions.StartBeside(
        compose.for_release(compose.scale_up(e, "api", 2), NEW),
        "api",
        compose.for_release(compose.scale_up(e, "api", 2, start=False), NEW),
        caddy,
    )
    assert kinds["health"] == actions.WaitHealthy(45, 30)
    assert kinds["switch"] == actions.Switch(e, caddy, None, 8000)
    assert kinds["retire"] == actions.Retire(("shop-prod-api-1",), 30)
    assert kinds["record"] == actions.Record(NEW, "deploy", releases.KEEP_IMAGES)
    undo = {s.name: s.undo for s in plan.steps if s.undo}
    assert undo == {
        "lock": (actions.RecordFailed(NEW, "deploy"), actions.Unlock()),
        "api": (actions.ShowNewLogs(30), actions.RemoveNew()),
        "switch": (actions.SwitchBack(e, caddy, "shop-prod-api-1", 8000, NEW, OLD),),
        "workers": (
            actions.ShowLogs(("worker", "listener"), 30),
            actions.Stream(compose.for_release(compose.up(e, ("worker", "listener"), timeout=45, no_deps=True), OLD)),
        ),
    }


def test_the_text_shows_the_commands_the_steps_run(tmp_path):
    e = env(tmp_path)
    plan = make("deploy", e, NEW, OLD, ["shop-prod-api-1"], ROLES)
    text = plan.text()
    for step in plan.steps + plan.finish:
        for cmd in step.action.commands():
            assert f"$ {compose.short(cmd, e)}" in text
    assert "$ docker compose … build\n" in text
    # The new container is created, taken off caddy's network, started; the switch attaches it: no reload.
    assert (
        "$ docker compose … up --no-start --no-deps --no-recreate --scale api=2 api\n"
        "                $ docker network disconnect shop-prod_edge '<new container>'\n"
        "                $ docker compose … up --detach --no-deps --no-recreate --scale api=2 api\n"
    ) in text
    assert "$ docker network connect --alias=api shop-prod_edge '<new container>'\n" in text
    assert "caddy reload" not in text and "why: no reload: the container joins shop-prod_edge as api" in text
    assert "$ docker stop --time 30 shop-prod-api-1\n" in text
    assert "undo: point caddy at shop-prod-api-1 again" in text
    assert f"undo: record {NEW} as failed, with the reason (failed-serving when it serves after all" in text


def test_the_kept_releases_are_one_number_in_the_text_and_the_pruning(tmp_path):
    plan = make("deploy", env(tmp_path), NEW, OLD, ["a"], ROLES)
    assert f"those of the last {releases.KEEP_IMAGES} good releases are kept" in plan.text()
    assert plan.finish[1].action.keep == releases.KEEP_IMAGES


def test_first_deploy_starts_the_whole_stack_without_backup_or_separate_migration(tmp_path):
    e = env(tmp_path)
    plan = make("deploy", e, NEW, None, [], ROLES, health_timeout=60)
    assert step_names(plan.text()) == ["preflight", "lock", "build", "start", "pin", "record", "unlock"]
    start = plan.steps[-2]
    # Its failure is explained as `inv up` explains one (the failed service, its logs).
    assert start.action == actions.StartAll(compose.for_release(compose.up(e, timeout=60), NEW), 60)
    assert "replacing" not in plan.text().splitlines()[0]


def test_a_first_deploy_that_fails_says_what_is_left_nothing_serving_and_stopped_containers(tmp_path):
    e = env(tmp_path)
    plan = make("deploy", e, NEW, None, [], ROLES)
    start = plan.steps[-2]
    assert start.undo == (actions.Stream(compose.for_release(compose.stop(e), NEW)),)
    assert "undo: stop the stack's containers (kept, with their logs, for `inv logs`; the data is kept)" in plan.text()
    assert plan.text().splitlines()[-1] == (
        "  on a failure in steps 1-5: the undo of each step begun runs, newest first; "
        "nothing served before, nothing serves after (the containers started are stopped); exit 1"
    )


def test_rollback_plan_builds_nothing_and_touches_no_data(tmp_path):
    plan = make("rollback", env(tmp_path), OLD, NEW, ["shop-prod-api-2"], ROLES)
    text = plan.text()
    assert step_names(text) == ["images", "lock", "api", "health", "switch", "workers", "retire", "record", "unlock"]
    assert plan.steps[0].action == actions.CheckImages(OLD)
    assert plan.finish[1].action == actions.Record(OLD, "rollback", None)
    assert "pg_dump" not in text and "migrate" not in text and "remove the images" not in text
    assert "inv db.restore" in plan.note


def test_a_rollback_never_migrates_so_it_refuses_to_start_a_stack_from_nothing(tmp_path):
    with pytest.raises(StackyardError, match=r"^nothing runs in prod: a rollback to .* and migrate with it"):
        make("rollback", env(tmp_path), OLD, None, [], ROLES)
    # Without a migration service, starting the stack migrates nothing: allowed.
    plan = make("rollback", env(tmp_path), OLD, None, [], dataclasses.replace(ROLES, migrate=None))
    assert step_names(plan.text()) == ["images", "lock", "start", "pin", "record", "unlock"]
    # Over a running release, no step of a rollback runs the migration service.
    running = make("rollback", env(tmp_path), OLD, NEW, ["shop-prod-api-2"], ROLES)
    commands = [c for step in running.steps + running.finish for a in (step.action, *step.undo) for c in a.commands()]
    assert commands and not [c for c in commands if "migrate" in c.argv]


def test_every_step_states_its_deadline_and_the_kinds_have_their_own(tmp_path):
    plan = make("deploy", env(tmp_path), NEW, OLD, ["shop-prod-api-1"], ROLES, health_timeout=45)
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
    plan = make("deploy", e, NEW, OLD, ["shop-prod-api-1"], ROLES, leftovers=left)
    names = [s.name for s in plan.steps]
    assert names[names.index("converge") + 1] == "api"
    converge = plan.steps[names.index("converge")]
    assert converge.what.startswith("remove 2 leftover api containers (shop-prod-api-2, shop-prod-api-3)")
    assert converge.action == actions.Converge(
        actions.Switch(e, Caddy("caddy", EDGE, "api"), "shop-prod-api-1", 8000),
        actions.Retire(tuple(left), deploy.STOP_GRACE),
    )
    # One container is left, so the new one is the second; only the kept one is retired at the end.
    api = plan.steps[names.index("api")]
    assert api.action.scale == compose.for_release(compose.scale_up(e, "api", 2), NEW)
    assert api.action.create == compose.for_release(compose.scale_up(e, "api", 2, start=False), NEW)
    assert plan.finish[0].action == actions.Retire(("shop-prod-api-1",), deploy.STOP_GRACE)
    assert "converge" not in step_names(make("deploy", e, NEW, OLD, ["shop-prod-api-1"], ROLES).text())


def test_release_names_and_history():
    when = dt.datetime(2026, 11, 22, 10, 10, 10, tzinfo=dt.UTC)
    assert releases.name("abcdef0123456789", when) == "abcdef0-20261122101010"
    assert releases.name("abcdef0123456789", when, dirty=True) == "abcdef0-20261122101010-dirty"
    got = [releases.Release(v, "t", "me", r) for v, r in [("a", "ok"), ("b", "failed"), ("c", "ok"), ("d", "ok")]]
    assert [r.version for r in got] == ["a", "b", "c", "d"]
    assert [r.version for r in releases.good(got)] == ["a", "c", "d"]
    assert releases.current(got).version == "d"
    assert releases.last_good(got, before="d").version == "c"
    assert releases.last_good(got, before="c").version == "a"
    assert releases.last_good(got, before="a") is None


def test_host_names_the_target_engine_for_every_command_but_the_local_ones(monkeypatch):
    monkeypatch.chdir(ROOT)
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    s = tasks.session(invoke.Context(), "prod", "ssh://deploy@prod.example.com")
    assert s.target == "ssh://deploy@prod.example.com" and s.remote
    env = s.runner._env(Command(("true",)))
    assert env["DOCKER_HOST"] == "ssh://deploy@prod.example.com"
    assert s.runner._env(Command(("true",), local_engine=True)) is None  # the process's own environment


OTHER = Roles(Web("shop", 8080), Proxy("edge", "nginx"), Database("pg", "postgres"), "setup", ("jobs",))


def test_the_plan_takes_every_name_from_the_roles(tmp_path):
    e = env(tmp_path)
    plan = make("deploy", e, NEW, OLD, ["shop-prod-shop-1"], OTHER, health_timeout=45)
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
    plan = make("deploy", env(tmp_path), NEW, OLD, ["shop-prod-shop-1"], bare)
    assert [s.name for s in plan.steps] == ["preflight", "lock", "build", "shop", "health", "switch"]


def test_a_deploy_over_a_running_stack_needs_a_proxy(tmp_path):
    with pytest.raises(StackyardError, match="needs the proxy role") as err:
        make("deploy", env(tmp_path), NEW, OLD, ["x"], Roles(Web("shop", 8080)))
    assert "[tool.stackyard.roles]" in err.value.hint


DATA = deploy.Data("volume shop-prod_db-data", running=False)


def test_a_stopped_web_container_over_data_is_no_first_deploy_the_backup_comes_first(tmp_path):
    e = env(tmp_path)
    plan = make("deploy", e, NEW, OLD, [], ROLES, stopped=["shop-prod-api-1"], data=DATA, health_timeout=60)
    text = plan.text()
    assert step_names(text) == [
        *("preflight", "lock", "build", "database", "backup", "logs", "start", "pin"),
        *("record", "unlock"),
    ]
    # The plan says why, on its second line: what --dry-run prints.
    assert text.splitlines()[1] == (
        "  no api container runs (shop-prod-api-1: stopped), and the database holds data "
        "(volume shop-prod_db-data): backup first"
    )
    steps = {s.name: s for s in plan.steps}
    assert steps["database"].action == actions.Stream(
        compose.for_release(compose.up(e, ("db",), timeout=60, no_deps=True), NEW)
    )
    assert steps["database"].undo == (actions.Stream(compose.for_release(compose.stop(e, ("db",)), NEW)),)
    assert steps["backup"].action == actions.Backup(e, Database("db", "postgres"), NEW)
    assert steps["backup"].why == "the database holds data: backup first; the start runs migrate"
    assert steps["logs"].action == actions.ShowContainerLogs(("shop-prod-api-1",), 30)
    assert "the start replaces it (Compose recreates the service's container" in steps["logs"].why
    assert steps["start"].action == actions.StartAll(compose.for_release(compose.up(e, timeout=60), NEW), 60)
    assert steps["start"].what.endswith("; it replaces shop-prod-api-1")
    assert steps["start"].why == "no api container runs (shop-prod-api-1: stopped)"
    # The migration runs in the start (migrate first, the others depend on it): after the backup.
    assert [s.name for s in plan.steps].index("backup") < [s.name for s in plan.steps].index("start")
    assert "migrate" not in [s.name for s in plan.steps]
    assert plan.after_failure == (
        "nothing served before, nothing serves after "
        "(the containers started are stopped; the data is kept); if migrate ran, the schema was migrated by "
        f"{NEW}: restore the backup taken before it: inv db.restore {NEW} --env prod "
        "--confirm-data-loss"
    )
    assert [s.name for s in plan.finish] == ["record", "unlock"]  # nothing to retire: the start replaced it


def test_over_data_with_the_database_running_the_backup_needs_no_start_of_it(tmp_path):
    running = dataclasses.replace(DATA, running=True)
    plan = make("deploy", env(tmp_path), NEW, None, [], ROLES, data=running)
    assert step_names(plan.text()) == ["preflight", "lock", "build", "backup", "start", "pin", "record", "unlock"]
    assert plan.text().splitlines()[1] == (
        "  no api container runs, and the database holds data (volume shop-prod_db-data): backup first"
    )


def test_without_data_it_is_a_first_deploy_and_the_plan_says_so(tmp_path):
    plan = make("deploy", env(tmp_path), NEW, None, [], ROLES)
    assert plan.text().splitlines()[1] == (
        "  nothing runs in prod, and db holds no data (no volume, no container of it): a first deploy"
    )
    assert "backup" not in step_names(plan.text())
    no_db = make("deploy", env(tmp_path), NEW, None, [], dataclasses.replace(ROLES, database=None))
    assert no_db.text().splitlines()[1] == "  nothing runs in prod"


def test_a_rollback_over_a_stopped_web_container_never_migrates(tmp_path):
    e = env(tmp_path)
    with pytest.raises(StackyardError) as err:
        make("rollback", e, OLD, NEW, [], ROLES, stopped=["shop-prod-api-1"], data=DATA)
    assert str(err.value) == (
        f"no api container runs (shop-prod-api-1: stopped) in prod: a rollback to {OLD} would start the whole stack, "
        f"and migrate with it (a rollback never migrates): check out {OLD}'s commit and "
        "`inv prod-deploy --env prod` (it backs up the data first)"
    )
    with pytest.raises(StackyardError, match=r"^no api container runs in prod: a rollback"):
        make("rollback", e, OLD, None, [], ROLES, data=DATA)
    # Without a migration service a rollback starts the stack, and takes no backup: it changes no data.
    bare = dataclasses.replace(ROLES, migrate=None)
    plan = make("rollback", e, OLD, NEW, [], bare, stopped=["shop-prod-api-1"], data=DATA)
    assert step_names(plan.text()) == ["images", "lock", "logs", "start", "pin", "record", "unlock"]
    assert plan.text().splitlines()[1].endswith("the database holds data (volume shop-prod_db-data)")


def test_a_switch_back_that_fails_is_said_in_the_plan(tmp_path):
    plan = make("deploy", env(tmp_path), NEW, OLD, ["shop-prod-api-1"], ROLES)
    text = plan.text()
    assert f"undo: point caddy at shop-prod-api-1 again (if that fails, {NEW} still serves" in text
    assert "remove it (kept while caddy may point at it: a switch back that failed)" in text


# --- another engine: build here and ship, or build there -------------------------------

TARGET = "ssh://deploy@prod.example.com"
APP_ID, DB_ID, CACHE_ID = ("sha256:" + c * 64 for c in "abc")
# The images of the release before its build, as both engines have them.
IMAGES = (
    ship.Image(f"shop-app:{NEW}", built=True),
    ship.Image("postgres:17", built=False, local=DB_ID, size=412_000_000),
    ship.Image("redis:8", built=False, local=CACHE_ID, target=CACHE_ID),
)


def test_to_another_engine_the_build_runs_here_and_a_ship_step_follows_it(tmp_path):
    e = env(tmp_path)
    plan = make("deploy", e, NEW, OLD, ["shop-prod-api-1"], ROLES, target=deploy.Target(TARGET, "local", IMAGES))
    assert [s.name for s in plan.steps] == [
        "preflight",
        "lock",
        "build",
        "ship",
        "backup",
        "migrate",
        "api",
        "health",
        "switch",
        "workers",
    ]
    steps = {s.name: s for s in plan.steps}
    assert steps["build"].action == actions.Stream(compose.for_release(compose.build(e), NEW).on_local_engine())
    assert steps["ship"].action == actions.Ship((f"shop-app:{NEW}",), ("postgres:17", "redis:8"))
    assert steps["ship"].deadline == deploy.SHIP_DEADLINE and not steps["ship"].undo
    # Every other step acts on the target.
    assert not any(
        cmd.local_engine for s in plan.steps + plan.finish if s.name != "build" for cmd in s.action.commands()
    )
    text = plan.text()
    assert text.splitlines()[0] == f"deploy {NEW} to prod (project shop-prod) on {TARGET}, replacing {OLD}:"
    assert (
        "   3. build     build the images, tagged " + NEW + ", on this machine's engine (the docker CLI's default)"
        in text
    )
    assert "                $ docker compose … build   (this machine's engine)\n" in text
    assert f"   4. ship      send {TARGET} the images of {NEW} it lacks, by image ID: " in text
    # What the ship would do with each image, as read before the plan: the dry run's text.
    assert (
        f"                shop-app:{NEW}: once built, sent unless the target has its image ID\n"
        "                send postgres:17 (~412.0 MB): the target lacks it\n"
        "                redis:8: the target has it (cccccccccccc)\n"
        "                why: no registry: the images go from this machine's engine to the target's, "
        "and only those it lacks\n"
    ) in text


def test_built_on_the_target_only_the_context_travels_and_nothing_is_shipped(tmp_path):
    e = env(tmp_path)
    plan = make("deploy", e, NEW, OLD, ["shop-prod-api-1"], ROLES, target=deploy.Target(TARGET, "host"))
    assert [s.name for s in plan.steps][:4] == ["preflight", "lock", "build", "backup"]
    build = plan.steps[2]
    assert build.action == actions.Stream(compose.for_release(compose.build(e), NEW))  # on the target
    assert build.what == f"build the images, tagged {NEW}, on the target's engine: only the build context travels"
    assert "this machine's engine" not in plan.text() and "ship" not in step_names(plan.text())


def test_on_the_local_engine_nothing_changes(tmp_path):
    e = env(tmp_path)
    plain = make("deploy", e, NEW, OLD, ["shop-prod-api-1"], ROLES)
    assert plain.target is None and "ship" not in [s.name for s in plain.steps]
    assert not any(cmd.local_engine for s in plain.steps for cmd in s.action.commands())
    assert " on ssh://" not in plain.text() and "(this machine's engine)" not in plain.text()


def test_a_first_deploy_to_another_engine_ships_too(tmp_path):
    plan = make("deploy", env(tmp_path), NEW, None, [], ROLES, target=deploy.Target(TARGET, "local", IMAGES))
    assert [s.name for s in plan.steps] == ["preflight", "lock", "build", "ship", "start", "pin"]


def test_a_rollback_on_another_engine_neither_builds_nor_ships(tmp_path):
    plan = make("rollback", env(tmp_path), OLD, NEW, ["shop-prod-api-2"], ROLES, target=deploy.Target(TARGET))
    assert [s.name for s in plan.steps][:2] == ["images", "lock"]
    assert not {"build", "ship"} & {s.name for s in plan.steps}
    assert plan.text().splitlines()[0].endswith(f"on {TARGET}, replacing {NEW}:")
