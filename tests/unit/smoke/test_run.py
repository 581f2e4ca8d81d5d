"""Smoke, without Docker: the variables of a throwaway run, where checks are
sent, each check's verdict on canned responses, and the run itself through a
Session over a FakeRunner (what is run, in which order, what is printed)."""

from __future__ import annotations

import io
import json

import pytest

from stackyard import config
from stackyard.commands import compose
from stackyard.core.runner import Result
from stackyard.engine.state import Container, Port
from stackyard.errors import StackyardError
from stackyard.smoke import run as smoke
from stackyard.smoke.checks import CHECKS, CheckFailed, Context
from tests.unit.fakes import ROOT, FakeRunner, after_base, tmp_env


def test_overrides_give_free_ports_loopback_and_throwaway_secrets_only(tmp_path):
    (tmp_path / "compose").mkdir()
    (tmp_path / "compose" / "compose.yaml").write_text("services: {}\n")
    (tmp_path / "compose" / "compose.prod.yaml").write_text("services: {}\n")
    (tmp_path / "env").mkdir()
    (tmp_path / "env" / "prod.env").write_text("SET_SECRET=" + "x" * 40 + "\n")
    (tmp_path / ".env.example").write_text("# [secret] set\nSET_SECRET=\n# [secret] unset\nNEW_SECRET=\n")
    project = config.build(tmp_path, {})
    raw = {
        "services": {
            "caddy": {
                "ports": [
                    "${PUBLISH_ADDRESS:-0.0.0.0}:${HTTPS_PORT:-443}:443",
                    {"host_ip": "127.0.0.1", "published": "${HTTP_PORT:-80}", "target": 80},
                ]
            },
            "db": {"ports": ["5432"]},
        }
    }
    out = smoke.overrides(project, project.environments["prod"], raw, {})
    assert out["PUBLISH_ADDRESS"] == "127.0.0.1"
    assert out["HTTPS_PORT"].isdigit() and out["HTTP_PORT"].isdigit() and out["HTTPS_PORT"] != "443"
    assert len(out["NEW_SECRET"]) >= 43
    assert "SET_SECRET" not in out  # a secret the user set is never replaced


def test_throwaway_project_name_is_unique_and_names_the_env():
    project = config.load(ROOT)
    a = smoke.throwaway(project, project.environments["dev"])
    b = smoke.throwaway(project, project.environments["dev"])
    assert a.project.startswith("stackyard-smoke-") and a.project != b.project


def test_target_through_the_proxy_sends_the_host_of_the_env_url(tmp_path):
    env = tmp_env(tmp_path, "prod", url="https://shop.example.com")
    caddy = Container(
        "p-caddy-1",
        "caddy",
        "running",
        "healthy",
        0,
        (Port("caddy", "127.0.0.1", 18080, 80), Port("caddy", "127.0.0.1", 18443, 443)),
    )
    t = smoke.target_for(env, [caddy])
    assert (t.base, t.host_header, t.insecure, t.service) == (
        "https://127.0.0.1:18443",
        "shop.example.com",
        True,
        "caddy",
    )


def test_target_of_the_entry_service(tmp_path):
    env = tmp_env(tmp_path, "dev", entry="api")
    containers = [
        Container("p-db-1", "db", "running", "healthy", 0, (Port("db", "127.0.0.1", 15432, 5432),)),
        Container("p-api-1", "api", "running", "healthy", 0, (Port("api", "127.0.0.1", 18000, 8000),)),
    ]
    t = smoke.target_for(env, containers)
    assert (t.base, t.service, t.host_header) == ("http://127.0.0.1:18000", "api", None)


def test_no_http_port_is_a_clear_error(tmp_path):
    with pytest.raises(smoke.StackyardError, match="no published HTTP port to check in dev"):
        smoke.target_for(tmp_env(tmp_path, "dev"), [])


class FakeTarget:
    """Answers requests from a table: (method, path prefix) -> (status, body)."""

    def __init__(self, answers):
        self.answers = answers
        self.calls = []

    def request(self, method, path, body=None, timeout=10):
        self.calls.append((method, path, body))
        for (m, prefix), answer in self.answers.items():
            if m == method and path.startswith(prefix):
                return answer(path) if callable(answer) else answer
        return 404, {"detail": "not found"}


def ctx(answers, sql=None) -> Context:
    return Context(FakeTarget(answers), sql or (lambda s: ""), lambda pred, timeout: pred())


def test_health_reports_the_response_it_got():
    with pytest.raises(CheckFailed, match=r"GET /health -> 500 \{\"status\": \"down\"\}"):
        CHECKS["health"](ctx({("GET", "/health"): (500, {"status": "down"})}), "/health")
    CHECKS["health"](ctx({("GET", "/healthz"): (200, {"status": "ok"})}), "/healthz")


def test_ready_names_the_failed_dependency_in_the_message():
    with pytest.raises(CheckFailed) as info:
        CHECKS["ready"](ctx({("GET", "/ready"): (503, {"failed": ["redis"]})}), "/health")
    assert "redis" in str(info.value) and "db" in info.value.services


def test_jobs_waits_for_the_worker_result():
    answers = {
        ("POST", "/jobs"): (202, {"id": "j1"}),
        ("GET", "/jobs/j1"): (200, {"status": "done", "result": {"sum": 10}}),
    }
    CHECKS["jobs"](ctx(answers), "/health")
    answers[("GET", "/jobs/j1")] = (200, {"status": "queued"})
    with pytest.raises(CheckFailed, match="not done by the worker") as info:
        CHECKS["jobs"](ctx(answers), "/health")
    assert info.value.services == ("api", "worker")


def timing_out(pred, timeout):
    """The real wait's contract: poll, and give back None when time runs out."""
    for _ in range(3):
        try:
            pred()
        except OSError:
            pass
    return None


def test_jobs_says_what_the_last_poll_got_never_none():
    answers = {("POST", "/jobs"): (202, {"id": "j1"}), ("GET", "/jobs/j1"): (200, {"status": "running"})}
    with pytest.raises(CheckFailed) as info:
        CHECKS["jobs"](Context(FakeTarget(answers), lambda s: "", timing_out), "/health")
    assert str(info.value) == (
        "smoke check 'jobs' failed: job j1 not done by the worker in 30 s: "
        'last GET /jobs/j1 -> 200 {"status": "running"}'
    )


def test_jobs_names_a_request_that_never_answered():
    def refused(path):
        raise ConnectionRefusedError(111, "Connection refused")

    answers = {("POST", "/jobs"): (202, {"id": "j1"}), ("GET", "/jobs/j1"): refused}
    with pytest.raises(CheckFailed) as info:
        CHECKS["jobs"](Context(FakeTarget(answers), lambda s: "", timing_out), "/health")
    assert str(info.value).endswith("last GET /jobs/j1 -> no answer ([Errno 111] Connection refused)")


def test_jobs_done_with_a_wrong_result():
    answers = {
        ("POST", "/jobs"): (202, {"id": "j1"}),
        ("GET", "/jobs/j1"): (200, {"status": "done", "result": {"sum": 9}}),
    }
    with pytest.raises(CheckFailed, match=r"job j1 done with a wrong result: .*\"sum\": 9") as info:
        CHECKS["jobs"](ctx(answers), "/health")
    assert info.value.services == ("worker",)


def test_cache_needs_a_hit_then_the_new_value_after_the_sql_update():
    state = {"value": "before", "reads": 0}
    statements = []

    def item(path):
        state["reads"] += 1
        return 200, {"value": state["value"], "cached": state["reads"] > 1}

    def sql(statement):
        statements.append(statement)
        state["value"] = "after"
        return ""

    CHECKS["cache"](ctx({("PUT", "/items/"): (200, {}), ("GET", "/items/"): item}, sql), "/health")
    assert statements and statements[0].startswith("UPDATE items SET value = 'after' WHERE key = 'smoke-")

    with pytest.raises(CheckFailed, match="not invalidated") as info:
        CHECKS["cache"](
            ctx({("PUT", "/items/"): (200, {}), ("GET", "/items/"): (200, {"value": "before", "cached": True})}),
            "/health",
        )
    assert "listener" in info.value.services


# ---- the run, through a Session over a FakeRunner ------------------------------------

RAW = json.dumps({"services": {"api": {"ports": ["127.0.0.1:${API_PORT:-8000}:8000"]}, "db": {}}})
# `ps --format json`: the api healthy on its published port, the worker crashed.
PS = "\n".join(
    [
        '{"Name":"p-api-1","Service":"api","State":"running","Health":"healthy","ExitCode":0,'
        '"Publishers":[{"URL":"127.0.0.1","TargetPort":8000,"PublishedPort":18000,"Protocol":"tcp"}]}',
        '{"Name":"p-worker-1","Service":"worker","State":"exited","Health":"","ExitCode":3,"Publishers":null}',
        '{"Name":"p-db-1","Service":"db","State":"running","Health":"healthy","ExitCode":0,"Publishers":null}',
    ]
)


def smoke_session(responses: dict[str, Result] | None = None):
    runner = FakeRunner(
        {" config --no-interpolate --format json": Result(0, RAW), " ps ": Result(0, PS), **(responses or {})}
    )
    s = smoke.session(config.load(ROOT), "dev", runner)
    s.out = io.StringIO()
    return s, runner


def test_the_session_is_a_throwaway_project_whose_runner_carries_the_overrides():
    s, runner = smoke_session()
    assert s.env.project.startswith("stackyard-smoke-")
    assert runner.env["API_PORT"].isdigit() and runner.env["API_PORT"] != "8000"
    [read] = runner.commands
    assert after_base(read.argv) == ("config", "--no-interpolate", "--format", "json")
    assert read.argv[3] == s.env.project


def test_a_passing_run_builds_starts_reads_and_removes_the_project():
    s, runner = smoke_session()
    assert smoke.run(s, []) == 0
    assert runner.subcommands()[1:] == [
        ("build",),
        ("up", "--detach", "--wait", "--wait-timeout", "180"),
        ("ps", "--all", "--format", "json"),
        ("down", "--remove-orphans", "--timeout", "5", "--volumes"),
    ]
    assert runner.modes[1:3] == ["stream", "stream"]
    # Every command is the builder's own: the run's variables come from the runner, not the Command.
    assert all(dict(c.env) == {} and c.argv[3] == s.env.project for c in runner.commands)
    out = s.out.getvalue()
    assert "smoke: checking http://127.0.0.1:18000" in out
    assert "smoke: passed" in out


def test_a_failed_command_names_the_phase_shows_the_failed_services_logs_and_tears_down():
    s, runner = smoke_session({" up --detach": Result(1, "", "dependency failed to start\n")})
    assert smoke.run(s, ["health"]) == 1
    out = s.out.getvalue()
    assert "smoke: FAIL up: `docker compose --project-name ...` exited 1: dependency failed to start" in out
    assert "--- worker: last 30 log lines ---" in out and "--- api:" not in out
    logs = [c for c in runner.subcommands() if c[0] == "logs"]
    assert logs == [("logs", "--timestamps", "--tail", "30", "--no-color", "worker")]
    assert runner.subcommands()[-1][0] == "down"


def test_a_failed_check_shows_the_logs_of_the_services_it_names_and_of_the_target(monkeypatch):
    def broken(ctx, health_path):
        raise CheckFailed("broken", "GET /x -> 500", ("db",))

    monkeypatch.setitem(smoke.CHECKS, "broken", broken)
    s, runner = smoke_session()
    assert smoke.run(s, ["broken"]) == 1
    out = s.out.getvalue()
    assert "smoke: FAIL broken: smoke check 'broken' failed: GET /x -> 500" in out
    shown = [line for line in out.splitlines() if line.startswith("--- ")]
    assert shown == ["--- api: last 30 log lines ---", "--- db: last 30 log lines ---"]  # not the worker's
    assert runner.subcommands()[-1][0] == "down"


def test_ctrl_c_still_tears_down_and_exits_130(monkeypatch):
    def interrupted(ctx, health_path):
        raise KeyboardInterrupt

    monkeypatch.setitem(smoke.CHECKS, "interrupted", interrupted)
    s, runner = smoke_session()
    assert smoke.run(s, ["interrupted"]) == 130
    assert "smoke: interrupted: tearing down" in s.out.getvalue()
    assert runner.subcommands()[-1] == ("down", "--remove-orphans", "--timeout", "5", "--volumes")


def test_sql_goes_to_psql_in_the_db_container():
    s, runner = smoke_session({" exec ": Result(0, "1\n")})
    assert smoke._sql(s, "SELECT 1") == "1\n"
    assert runner.commands[-1] == compose.psql(s.env, "db", "SELECT 1")


def test_failing_services_named_then_failed_then_starting():
    api = Container("p-api-1", "api", "running", "healthy", 0, ())
    worker = Container("p-worker-1", "worker", "exited", "", 3, ())
    db = Container("p-db-1", "db", "running", "starting", 0, ())
    assert smoke.failing_services([api, worker, db], ("api", "api"), failed_only=False) == ["api"]
    assert smoke.failing_services([api, worker, db], (), failed_only=True) == ["worker"]
    assert smoke.failing_services([api, db], (), failed_only=True) == ["db"]


def test_check_names_from_the_project_or_asked_for():
    project = config.load(ROOT)
    assert smoke.check_names(project, None) == list(project.smoke_checks)
    assert smoke.check_names(project, ["ready"]) == ["ready"]
    with pytest.raises(StackyardError, match="unknown smoke check\\(s\\): nope: known: health, ready, jobs, cache"):
        smoke.check_names(project, ["nope"])
