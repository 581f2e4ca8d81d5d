"""The reference app's own smoke checks (smoke_checks.py at the project root), on
canned responses: the API they use is stackyard.smoke.checks'."""

from __future__ import annotations

import pytest

import smoke_checks
from stackyard.smoke.checks import CheckFailed
from tests.unit.smoke.test_run import ctx


def test_ready_names_the_failed_dependency_in_the_message():
    with pytest.raises(CheckFailed) as info:
        smoke_checks.CHECKS["ready"](ctx({("GET", "/ready"): (503, {"failed": ["redis"]})}))
    assert "redis" in str(info.value) and "db" in info.value.services


def test_jobs_waits_for_the_worker_result():
    answers = {
        ("POST", "/jobs"): (202, {"id": "j1"}),
        ("GET", "/jobs/j1"): (200, {"status": "done", "result": {"sum": 10}}),
    }
    smoke_checks.CHECKS["jobs"](ctx(answers))
    answers[("GET", "/jobs/j1")] = (200, {"status": "queued"})
    with pytest.raises(CheckFailed, match="not done by the worker") as info:
        smoke_checks.CHECKS["jobs"](ctx(answers))
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
        smoke_checks.CHECKS["jobs"](ctx(answers, wait=timing_out))
    assert str(info.value) == (
        "smoke check 'jobs' failed: job j1 not done by the worker in 30 s: "
        'last GET /jobs/j1 -> 200 {"status": "running"}'
    )


def test_jobs_names_a_request_that_never_answered():
    def refused(path):
        raise ConnectionRefusedError(111, "Connection refused")

    answers = {("POST", "/jobs"): (202, {"id": "j1"}), ("GET", "/jobs/j1"): refused}
    with pytest.raises(CheckFailed) as info:
        smoke_checks.CHECKS["jobs"](ctx(answers, wait=timing_out))
    assert str(info.value).endswith("last GET /jobs/j1 -> no answer ([Errno 111] Connection refused)")


def test_jobs_done_with_a_wrong_result():
    answers = {
        ("POST", "/jobs"): (202, {"id": "j1"}),
        ("GET", "/jobs/j1"): (200, {"status": "done", "result": {"sum": 9}}),
    }
    with pytest.raises(CheckFailed, match=r"job j1 done with a wrong result: .*\"sum\": 9") as info:
        smoke_checks.CHECKS["jobs"](ctx(answers))
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

    smoke_checks.CHECKS["cache"](ctx({("PUT", "/items/"): (200, {}), ("GET", "/items/"): item}, sql))
    assert statements and statements[0].startswith("UPDATE items SET value = 'after' WHERE key = 'smoke-")

    with pytest.raises(CheckFailed, match="not invalidated") as info:
        smoke_checks.CHECKS["cache"](
            ctx({("PUT", "/items/"): (200, {}), ("GET", "/items/"): (200, {"value": "before", "cached": True})}),
        )
    assert "listener" in info.value.services
