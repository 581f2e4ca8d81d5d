"""stack.watch (`inv dev --watch`): the override merged, the rules read, the Compose
versions checked, and what runs in which order. No engine: the FakeRunner answers,
or (dry runs) Compose renders the repository's real files."""

from __future__ import annotations

import dataclasses
import io
import json
import shutil

import invoke
import pytest

import stackyard.core.runner
from stackyard import config, tasks
from stackyard.core.runner import Result, Runner
from stackyard.errors import StackyardError
from stackyard.session import Session
from stackyard.stack import watch
from tests.unit.fakes import ROOT, FakeRunner, real_project

OVERRIDE = ROOT / "compose" / "compose.dev.watch.yaml"


def watched(root) -> dict:
    """A rendered config with watch rules, as Compose prints it (absolute paths)."""
    return {
        "services": {
            "api": {"develop": {"watch": [{"action": "sync", "path": f"{root}/app/refapp", "target": "/app/refapp"}]}},
            "worker": {"develop": {"watch": [{"action": "sync+restart", "path": f"{root}/app/refapp"}]}},
            "migrate": {
                "develop": {
                    "watch": [
                        {"action": "rebuild", "path": f"{root}/app", "ignore": ["refapp/"]},
                        {"action": "rebuild", "path": f"{root}/docker/Dockerfile"},
                    ]
                }
            },
            "db": {},
        }
    }


WATCHED = watched(ROOT)


@pytest.fixture
def clone(tmp_path, monkeypatch):
    """The repository's compose files, committed env file, schema and settings, copied
    without any local env file; no secret in the process environment."""
    root = tmp_path / "clone"
    shutil.copytree(ROOT / "compose", root / "compose")
    (root / "env").mkdir()
    shutil.copy(ROOT / "env" / "dev.env", root / "env" / "dev.env")
    for name in (".env.example", "pyproject.toml"):
        shutil.copy(ROOT / name, root / name)
    for name in ("POSTGRES_PASSWORD", "REDIS_PASSWORD", "GRAFANA_ADMIN_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    return root


def test_watching_merges_the_environments_override_last_and_once():
    project = real_project()
    dev = project.environment("dev")
    watched = watch.watching(project, dev)
    assert watched.files == (*dev.files, OVERRIDE)
    assert watch.watching(project, watched) == watched
    assert dataclasses.replace(watched, files=dev.files) == dev  # nothing else changes


def test_watching_leaves_an_environment_without_an_override_as_it_is(tmp_path):
    project = dataclasses.replace(real_project(), compose_dir=tmp_path)
    dev = project.environment("dev")
    assert watch.watching(project, dev) is dev
    prod = real_project().environment("prod")
    assert watch.watching(real_project(), prod) is prod  # no compose.prod.watch.yaml


def test_rules_reads_every_rule_service_by_service():
    assert watch.rules(WATCHED) == [
        watch.Rule("api", "sync", f"{ROOT}/app/refapp"),
        watch.Rule("migrate", "rebuild", f"{ROOT}/app", ("refapp/",)),
        watch.Rule("migrate", "rebuild", f"{ROOT}/docker/Dockerfile"),
        watch.Rule("worker", "sync+restart", f"{ROOT}/app/refapp"),
    ]
    assert watch.rules({"services": {"api": {"develop": None}, "db": {}}}) == []
    assert watch.rules({}) == []


@pytest.mark.parametrize(
    ("version", "actions", "missing"),
    [
        ((2, 40, 3), {"sync", "sync+restart", "rebuild", "restart", "sync+exec"}, []),
        ((2, 32, 0), {"restart"}, []),
        ((2, 31, 9), {"sync", "restart", "sync+exec"}, ["restart (2.32)", "sync+exec (2.32)"]),
        ((2, 22, 0), {"sync+restart", "sync"}, ["sync+restart (2.23)"]),
        ((2, 21, 0), {"sync"}, ["sync (2.22)"]),
        ((2, 30, 0), {"some-future-action"}, []),  # unknown here: Compose itself says what it makes of it
    ],
)
def test_lacking_names_each_action_with_the_release_that_brought_it(version, actions, missing):
    assert watch.lacking(version, actions) == missing


def test_summary_groups_paths_by_service_and_action_relative_to_the_project():
    more = [watch.Rule("api", "sync", "/elsewhere/static", ("*.map", "tmp/"))]
    text = watch.summary(watch.rules(WATCHED) + more, ROOT)
    assert text.splitlines() == [
        "SERVICE  ACTION        ON A CHANGE TO",
        "api      sync          app/refapp, /elsewhere/static (not *.map, tmp/)",
        "migrate  rebuild       app (not refapp/), docker/Dockerfile",
        "worker   sync+restart  app/refapp",
    ]


def fake_session(root, responses: dict[str, Result], **env_changes) -> tuple[Session, FakeRunner]:
    """A dry run over a copy of the project, a FakeRunner answering."""
    runner = FakeRunner(responses, dry=True)
    project = config.load(root)
    env = dataclasses.replace(project.environment("dev"), **env_changes)
    return Session(project, env, runner, out=io.StringIO()), runner


def answers(root, version: str = "2.40.3", cfg: dict | None = None) -> dict[str, Result]:
    cfg = watched(root) if cfg is None else cfg
    return {
        " config --format json": Result(0, json.dumps(cfg)),
        "compose version": Result(0, json.dumps({"version": version})),
    }


def test_run_brings_the_stack_up_then_watches_in_the_foreground(clone):
    s, runner = fake_session(clone, answers(clone))
    watch.run(s, timeout=60)
    steps = runner.subcommands()
    assert steps[0] == ("up", "--detach", "--build", "--wait", "--wait-timeout", "60")
    assert steps[-1] == ("watch", "--no-up")
    assert runner.modes[0] == runner.modes[-1] == "stream"
    # the rules and Compose's version are read once the stack is up (a first run makes its secrets)
    assert steps[1:-1] == [("config", "--format", "json"), ("version", "--format", "json")]
    for cmd in (runner.commands[0], runner.commands[-1]):  # up and watch both merge the override last
        files = [cmd.argv[i + 1] for i, a in enumerate(cmd.argv) if a == "--file"]
        assert files[-1] == str(clone / "compose" / "compose.dev.watch.yaml")
    out = s.out.getvalue()
    assert "watching dev: Ctrl-C ends the watch, the stack keeps running" in out
    assert "worker   sync+restart  app/refapp" in out


@pytest.mark.parametrize(
    ("changes", "why"),
    [({"protected": True}, "which is protected"), ({"orchestrator": "swarm"}, "which runs on Swarm")],
)
def test_run_refuses_what_is_no_dev_loop_before_running_anything(clone, changes, why):
    s, runner = fake_session(clone, answers(clone), **changes)
    with pytest.raises(StackyardError) as info:
        watch.run(s)
    assert str(info.value) == (
        f"--watch copies files into running containers, a dev loop: not for dev, {why}: "
        "`inv up --env dev` starts it; `inv dev --watch` watches dev"
    )
    assert runner.commands == []


def test_run_without_rules_says_where_they_go_and_does_not_watch(clone):
    s, runner = fake_session(clone, answers(clone, cfg={"services": {"api": {}}}))
    with pytest.raises(StackyardError) as info:
        watch.run(s)
    assert str(info.value) == (
        "dev is up, but no service of it has `develop.watch` rules: nothing to watch: "
        "add them in compose/compose.dev.watch.yaml (README: Dev loop)"
    )
    assert ("watch", "--no-up") not in runner.subcommands()


def test_run_on_a_compose_without_the_actions_of_the_rules_says_which(clone):
    s, runner = fake_session(clone, answers(clone, version="2.22.1"))
    with pytest.raises(StackyardError) as info:
        watch.run(s)
    assert str(info.value) == (
        "dev is up, but Compose 2.22.1 lacks the watch action(s) sync+restart (2.23) of its rules: "
        "upgrade docker-compose-plugin (`inv doctor` shows what it has)"
    )
    assert ("watch", "--no-up") not in runner.subcommands()


def test_dry_run_on_a_fresh_clone_renders_the_real_override_and_prints_both_commands(clone, capsys):
    # Compose renders the repository's files (no engine): the `!reset` of the bind mounts
    # and the rules of compose.dev.watch.yaml are Compose's reading, not ours.
    project = config.load(clone)
    s = Session(project, project.environment("dev"), Runner(dry=True), out=io.StringIO())
    watch.run(s)
    printed = capsys.readouterr().err.splitlines()
    override = clone / "compose" / "compose.dev.watch.yaml"
    assert printed[-2].endswith("up --detach --build --wait --wait-timeout 180")
    assert printed[-1].startswith("[dry-run] $ docker compose") and printed[-1].endswith(" watch --no-up")
    assert f"--file {override} --env-file" in printed[-1]
    assert not (clone / "env" / "dev.local.env").exists()
    cfg = s.for_env(watch.watching(project, s.env)).config()["services"]
    assert [r.action for r in watch.rules({"services": cfg}) if r.service != "migrate"] == [
        "sync",
        "sync+restart",
        "sync+restart",
    ]
    assert all("volumes" not in cfg[name] for name in ("api", "worker", "listener", "migrate"))
    assert "watchfiles" not in cfg["worker"]["command"]  # restarted by Compose, not from inside
    assert s.out.getvalue().splitlines()[-4:] == [
        "api       sync          app/refapp (not **/__pycache__)",
        "listener  sync+restart  app/refapp (not **/__pycache__)",
        "migrate   rebuild       app (not refapp/), docker (not caddy/)",
        "worker    sync+restart  app/refapp (not **/__pycache__)",
    ]
    assert {cfg[name]["user"] for name in ("api", "worker", "listener")} == {"root"}  # moby/moby#49213


def test_the_task_runs_the_watch_with_its_timeout(monkeypatch):
    monkeypatch.chdir(ROOT)
    calls = []
    monkeypatch.setattr(watch, "run", lambda s, timeout: calls.append((s.env.name, timeout)))
    monkeypatch.setattr(stackyard.core.runner, "Runner", lambda dry=False, **_: FakeRunner(dry=dry))
    tasks.dev(invoke.Context(), watch=True, timeout="90")
    assert calls == [("dev", 90)]
