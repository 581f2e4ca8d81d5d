"""The deploy plan as text (what --dry-run prints), release names and history, the lock."""

from __future__ import annotations

import datetime as dt

from stackyard.commands import lock
from stackyard.core.command import Command
from stackyard.deploy import plan as deploy
from stackyard.deploy import releases


def test_deploy_plan_over_a_running_release():
    text = deploy.make(
        "deploy", "prod", "shop-prod", "abc1234-20261122101010", "0ff1ce0-20261121090909", first=False
    ).text()
    assert text.splitlines()[0] == (
        "deploy abc1234-20261122101010 to prod (project shop-prod), replacing 0ff1ce0-20261121090909:"
    )
    steps = [line.split()[1] for line in text.splitlines() if line[:4].strip().rstrip(".").isdigit()]
    assert steps == [
        "preflight",
        "lock",
        "build",
        "backup",
        "migrate",
        "api",
        "switch",
        "workers",
        "retire",
        "record",
        "unlock",
    ]
    assert "backups/shop-prod/abc1234-20261122101010.dump" in text
    assert "the new version gets no traffic before it is healthy" in text
    assert text.splitlines()[-1].startswith(
        "  on a failure after the backup: traffic stays on (or returns to) 0ff1ce0-20261121090909"
    )


def test_first_deploy_starts_the_whole_stack_without_backup_or_separate_migration():
    text = deploy.make("deploy", "prod", "p", "abc1234-20261122101010", None, first=True).text()
    steps = [line.split()[1] for line in text.splitlines() if line[:4].strip().rstrip(".").isdigit()]
    assert steps == ["preflight", "lock", "build", "start", "record", "unlock"]
    assert "replacing" not in text.splitlines()[0]


def test_rollback_plan_builds_nothing_and_touches_no_data():
    text = deploy.make("rollback", "prod", "p", "0ff1ce0-20261121090909", "abc1234-20261122101010", first=False).text()
    steps = [line.split()[1] for line in text.splitlines() if line[:4].strip().rstrip(".").isdigit()]
    assert steps == ["lock", "api", "switch", "workers", "retire", "record", "unlock"]
    assert "pg_dump" not in text and "migrate" not in text


def test_release_names_and_history(tmp_path):
    when = dt.datetime(2026, 11, 22, 10, 10, 10, tzinfo=dt.UTC)
    assert releases.name("abcdef0123456789", when) == "abcdef0-20261122101010"
    assert releases.name("abcdef0123456789", when, dirty=True) == "abcdef0-20261122101010-dirty"
    assert releases.is_release("abcdef0-20261122101010") and not releases.is_release("latest")
    path = releases.history_file(tmp_path, "p")
    for version, result in [("a", "ok"), ("b", "failed"), ("c", "ok"), ("d", "ok")]:
        releases.record(path, releases.Release(version, "t", "me", result))
    got = releases.history(path)
    assert [r.version for r in got] == ["a", "b", "c", "d"]
    assert releases.current(got).version == "d"
    assert releases.last_good(got, before="d").version == "c"
    assert releases.last_good(got, before="c").version == "a"
    assert releases.last_good(got, before="a") is None


def test_lock_argv_and_holder():
    cmd = lock.take("p", "postgres:17", "ann@host", "2026-11-22T10:00:00+00:00", "abc1234-20261122101010")
    assert cmd.argv == (
        "docker",
        "create",
        "--name",
        "p-deploy-lock",
        "--label",
        "dev.stackyard.lock.who=ann@host",
        "--label",
        "dev.stackyard.lock.when=2026-11-22T10:00:00+00:00",
        "--label",
        "dev.stackyard.lock.version=abc1234-20261122101010",
        "postgres:17",
        "true",
    )
    labels = (
        '{"dev.stackyard.lock.who": "ann@host", "dev.stackyard.lock.when": "10:00", "dev.stackyard.lock.version": "v2"}'
    )
    assert lock.holder(labels) == "ann@host since 10:00 (deploying v2)"
    assert lock.holder("not json") == "unknown"
    assert lock.release("p").argv == ("docker", "rm", "--force", "p-deploy-lock")


def test_host_names_the_target_engine_for_every_command(monkeypatch):
    import invoke

    from stackyard import tasks
    from tests.unit.fakes import ROOT

    monkeypatch.chdir(ROOT)
    s = tasks.session(invoke.Context(), "prod", "ssh://deploy@prod.example.com")
    assert s.runner.env == {"DOCKER_HOST": "ssh://deploy@prod.example.com"}
    assert s.socket is None  # a remote engine: state is read through Compose, not a local socket
    env = s.runner._env(Command(("true",)))
    assert env["DOCKER_HOST"] == "ssh://deploy@prod.example.com"


def test_docker_builders():
    from stackyard.commands import docker as dockercmds

    assert dockercmds.stop("abc", grace=30).argv == ("docker", "stop", "--time", "30", "abc")
    assert dockercmds.remove("abc", force=True).argv == ("docker", "rm", "--force", "abc")
    assert dockercmds.image_tags("shop-app").argv == ("docker", "image", "ls", "shop-app", "--format", "{{.Tag}}")
    assert dockercmds.state_of("abc").argv[-1] == "abc"


def test_the_health_gate_stops_at_unhealthy_or_at_the_timeout(tmp_path):
    import pytest

    from stackyard.core.runner import Result
    from stackyard.deploy import run as deploy_run
    from stackyard.errors import StackyardError
    from stackyard.session import Session
    from tests.unit.fakes import FakeRunner, tmp_env

    def gate(states, timeout=10):
        answers = iter(states)
        runner = FakeRunner()
        runner.answer = lambda cmd: Result(0, next(answers))
        now = [0.0]
        d = deploy_run.Deployer(
            Session(None, tmp_env(tmp_path), runner),
            "r1",
            clock=lambda: now[0],
            sleep=lambda s: now.__setitem__(0, now[0] + s),
        )
        d.wait_healthy("new", timeout)
        return now[0]

    assert gate(["running starting", "running starting", "running healthy"]) == 1.0
    with pytest.raises(StackyardError, match=r"not healthy \(running unhealthy\)"):
        gate(["running starting", "running unhealthy"])
    with pytest.raises(StackyardError, match=r"not healthy \(exited\)"):
        gate(["exited "])
    with pytest.raises(StackyardError, match=r"not healthy \(running starting\)"):
        gate(["running starting"] * 100, timeout=3)
