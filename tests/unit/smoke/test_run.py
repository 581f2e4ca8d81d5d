"""Smoke, without Docker: the variables of a throwaway run, where checks are
sent, and each check's verdict on canned responses."""

from __future__ import annotations

import pytest

from stackyard import config
from stackyard.engine.state import Container, Port
from stackyard.smoke import run as smoke
from stackyard.smoke.checks import CHECKS, CheckFailed, Context
from tests.unit.fakes import ROOT, tmp_env


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
