"""Smoke, without Docker: the variables of a throwaway run, where checks are
sent, each check's verdict on canned responses, and the run itself through a
Session over a FakeRunner (what is run, in which order, what is printed)."""

from __future__ import annotations

import dataclasses
import io
import json

import pytest

from stackyard import config
from stackyard.commands import compose
from stackyard.config import Roles, Web
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


def ctx(answers, sql=None, containers=(), logs="", wait=None, restarts=None) -> Context:
    return Context(
        FakeTarget(answers),
        "/healthz",
        Roles(web=Web("shop", 8080)),
        sql or (lambda s: ""),
        wait or (lambda pred, timeout: pred()),
        lambda: list(containers),
        lambda services: logs,
        lambda: dict(restarts or {}),
    )


def test_health_gets_the_health_path_and_reports_the_response_it_got():
    with pytest.raises(CheckFailed, match=r"GET /healthz -> 500 \{\"status\": \"down\"\}") as info:
        CHECKS["health"](ctx({("GET", "/healthz"): (500, {"status": "down"})}))
    assert info.value.services == ("shop",)
    CHECKS["health"](ctx({("GET", "/healthz"): (200, {"status": "ok"})}))


def test_services_must_run_healthy_and_one_shots_exit_0():
    ok = [
        Container("p-shop-1", "shop", "running", "healthy", 0, ()),
        Container("p-setup-1", "setup", "exited", "", 0, ()),
        Container("p-jobs-1", "jobs", "running", "", 0, ()),
    ]
    CHECKS["services"](ctx({}, containers=ok))
    bad = [*ok, Container("p-pg-1", "pg", "running", "starting", 0, ()), Container("p-x-1", "x", "exited", "", 2, ())]
    with pytest.raises(CheckFailed) as info:
        CHECKS["services"](ctx({}, containers=bad))
    assert str(info.value).endswith("not running and healthy: pg running (starting), x exited exit 2")
    assert info.value.services == ("pg", "x")


def test_tracebacks_in_the_logs_name_their_services():
    CHECKS["tracebacks"](ctx({}, logs="shop-1  | 2026 GET /healthz 200\n"))
    logs = "shop-1  | Traceback (most recent call last):\njobs-1  | ok\n"
    with pytest.raises(CheckFailed, match="a Python traceback in the logs of shop-1") as info:
        CHECKS["tracebacks"](ctx({}, logs=logs))
    assert info.value.services == ("shop-1",)


# ---- the run, through a Session over a FakeRunner ------------------------------------

RAW = json.dumps({"services": {"api": {"ports": ["127.0.0.1:${API_PORT:-8000}:8000"]}, "db": {}}})
# The reference project's roles name these services.
CONFIG = json.dumps(
    {"services": {s: {} for s in ("api", "caddy", "worker", "listener", "migrate")} | {"db": {"image": "postgres:17"}}}
)
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
        {
            " config --no-interpolate --format json": Result(0, RAW),
            " config --format json": Result(0, CONFIG),
            " ps ": Result(0, PS),
            **(responses or {}),
        }
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
        ("config", "--format", "json"),
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
    def broken(ctx):
        raise CheckFailed("broken", "GET /x -> 500", ("db",))

    s, runner = smoke_session()
    assert smoke.run(s, ["broken"], {"broken": broken}) == 1
    out = s.out.getvalue()
    assert "smoke: FAIL broken: smoke check 'broken' failed: GET /x -> 500" in out
    shown = [line for line in out.splitlines() if line.startswith("--- ")]
    assert shown == ["--- api: last 30 log lines ---", "--- db: last 30 log lines ---"]  # not the worker's
    assert runner.subcommands()[-1][0] == "down"


def test_ctrl_c_still_tears_down_and_exits_130(monkeypatch):
    def interrupted(ctx):
        raise KeyboardInterrupt

    s, runner = smoke_session()
    assert smoke.run(s, ["interrupted"], {"interrupted": interrupted}) == 130
    assert "smoke: interrupted: tearing down" in s.out.getvalue()
    assert runner.subcommands()[-1] == ("down", "--remove-orphans", "--timeout", "5", "--volumes")


def test_sql_goes_to_psql_in_the_database_roles_container():
    s, runner = smoke_session({" exec ": Result(0, "1\n"), " ps ": Result(0, PS)})
    s.project = dataclasses.replace(s.project, roles={"database": {"service": "worker", "kind": "postgres"}})
    assert smoke.context(s).sql("SELECT 1") == "1\n"
    assert runner.commands[-1] == compose.psql(s.env, "worker", "SELECT 1")


def test_failing_services_named_then_failed_then_starting():
    api = Container("p-api-1", "api", "running", "healthy", 0, ())
    worker = Container("p-worker-1", "worker", "exited", "", 3, ())
    db = Container("p-db-1", "db", "running", "starting", 0, ())
    assert smoke.failing_services([api, worker, db], ("api", "api"), failed_only=False) == ["api"]
    assert smoke.failing_services([api, worker, db], (), failed_only=True) == ["worker"]
    assert smoke.failing_services([api, db], (), failed_only=True) == ["db"]


def test_check_names_from_the_project_or_asked_for():
    project = config.load(ROOT)
    known = smoke.registry(project)
    assert smoke.check_names(project, None, known) == list(project.smoke_checks)
    assert smoke.check_names(project, ["ready"], known) == ["ready"]
    with pytest.raises(
        StackyardError, match="unknown smoke check\\(s\\): nope: known: health, services, restarts, tracebacks, ready"
    ):
        smoke.check_names(project, ["nope"], known)


def test_the_project_registers_its_own_checks_from_its_modules(tmp_path):
    (tmp_path / "shop_checks.py").write_text("def orders(ctx):\n    pass\n\nCHECKS = {'orders': orders}\n")
    project = config.build(tmp_path, {"smoke": {"modules": ["shop_checks"], "checks": ["health", "orders"]}})
    known = smoke.registry(project)
    assert list(known) == ["health", "services", "restarts", "tracebacks", "orders"]
    assert known["orders"].__module__ == "shop_checks"
    assert smoke.check_names(project, None, known) == ["health", "orders"]


def test_a_smoke_module_that_cannot_be_imported_or_has_no_checks_is_explained(tmp_path):
    with pytest.raises(StackyardError, match="modules: cannot import 'no_such_checks' from"):
        smoke.registry(config.build(tmp_path, {"smoke": {"modules": ["no_such_checks"]}}))
    (tmp_path / "empty_checks.py").write_text("x = 1\n")
    with pytest.raises(StackyardError, match=r"smoke module empty_checks .* has no CHECKS dict") as info:
        smoke.registry(config.build(tmp_path, {"smoke": {"modules": ["empty_checks"]}}))
    assert "CHECKS = {" in info.value.hint


def test_restarts_names_every_container_the_engine_restarted():
    shop = Container("p-shop-1", "shop", "running", "healthy", 0, ())
    worker = Container("p-jobs-1", "jobs", "running", "healthy", 0, ())
    CHECKS["restarts"](ctx({}, containers=[shop, worker], restarts={"p-shop-1": 0, "p-jobs-1": 0}))
    with pytest.raises(CheckFailed, match=r"failed: restarted by the engine: p-jobs-1 \(3x\)$") as info:
        CHECKS["restarts"](ctx({}, containers=[shop, worker], restarts={"p-shop-1": 0, "p-jobs-1": 3}))
    assert info.value.services == ("jobs",)
