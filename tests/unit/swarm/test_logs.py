"""swarm/logs.py: one `docker service logs` per service, their lines merged into one
stream labelled with the service and task slot, in time order (as they come when
following); --grep on the lines as shown; what is not deployed is said."""

from __future__ import annotations

import pytest

from stackyard.errors import StackyardError
from stackyard.stack import logs as stacklogs
from stackyard.swarm import logs
from tests.unit.swarm.fakes import PROJECT, FakeClient, MergingRunner, service, session

T1, T2, T3 = "2026-01-02T10:00:01.000000000Z", "2026-01-02T10:00:02.000000000Z", "2026-01-02T10:00:03.000000000Z"


def raw(name: str, slot: str, time: str, text: str, node: str = "manager1") -> str:
    """A line as `docker service logs --timestamps` writes it."""
    return f"{time} {PROJECT}_{name}.{slot}.k3j4h5g6f7d8@{node}    | {text}\n"


DEPLOYED = [service("api", "s-api"), service("db", "s-db"), service("migrate", "s-mig", job=True)]


def test_a_task_line_is_labelled_with_its_service_and_slot():
    assert logs.parse("api", raw("api", "2", T1, "GET /health 200")) == logs.Line("api", "api.2", T1, "GET /health 200")
    assert logs.parse("migrate", raw("migrate", "0", T1, "done")).label == "migrate.0"  # a job's task


def test_the_node_is_in_the_label_on_a_swarm_of_several_and_for_a_global_service():
    assert logs.parse("api", raw("api", "1", T1, "x", node="worker1"), nodes=True).label == "api.1@worker1"
    glob = f"{T1} {PROJECT}_agent.q2w3e4r5t6y7u8i9o0p1a2s3d.k3j4h5g6f7d8@worker1    | up\n"
    assert logs.parse("agent", glob) == logs.Line("agent", "agent@worker1", T1, "up")


def test_a_line_of_the_cli_itself_keeps_its_text_under_the_service():
    line = "error from daemon in stream: Error grabbing logs: log file is gone\n"
    assert logs.parse("api", line) == logs.Line("api", "api", "", line.rstrip("\n"))


def test_lines_are_put_in_time_order_and_a_line_without_a_time_follows_its_services():
    lines = [
        logs.Line("db", "db.1", T2, "ready"),
        logs.Line("db", "db", "", "error grabbing logs"),
        logs.Line("api", "api.1", T1, "starting"),
        logs.Line("api", "api.1", T3, "serving"),
    ]
    assert [x.text for x in logs.in_time_order(lines)] == ["starting", "ready", "error grabbing logs", "serving"]


def test_render_is_composes_layout_with_the_label_coloured_on_a_terminal():
    line = logs.Line("api", "api.2", T1, "hi")
    assert logs.render(line, 8) == f"api.2    | {T1} hi\n"
    assert logs.render(line, 5, "36") == f"\x1b[36mapi.2 |\x1b[0m {T1} hi\n"
    assert logs.render(logs.Line("api", "api", "", "boom"), 5) == "api   | boom\n"


def test_every_deployed_service_is_one_command_and_the_lines_come_out_merged_in_time_order(tmp_path):
    merged = [
        ("db", raw("db", "1", T2, "database system is ready")),
        ("api", raw("api", "1", T1, "Uvicorn running")),
        ("api", raw("api", "2", T3, "GET /health 200")),
    ]
    runner = MergingRunner(merged)
    s = session(tmp_path, runner, FakeClient(DEPLOYED, nodes={"n1": "manager1"}))
    logs.stream(s, tail=5, since="10m")
    assert {k: c.argv for k, c in runner.merged_cmds.items()} == {
        name: ("docker", "service", "logs", "--timestamps", "--tail", "5", "--since", "10m", f"{PROJECT}_{name}")
        for name in ("api", "db", "migrate")
    }
    assert s.out.getvalue() == (
        f"api.1     | {T1} Uvicorn running\n"
        f"db.1      | {T2} database system is ready\n"
        f"api.2     | {T3} GET /health 200\n"
    )
    assert runner.idle == logs.IDLE  # not following: a stream hung once its lines are out ends


def test_following_shows_the_lines_as_they_come_and_grep_keeps_those_that_match(tmp_path):
    merged = [("db", raw("db", "1", T2, "checkpoint")), ("api", raw("api", "1", T1, "GET /Health 200"))]
    runner = MergingRunner(merged)
    s = session(tmp_path, runner, FakeClient(DEPLOYED))
    logs.stream(s, ["db", "api"], follow=True, keep=stacklogs.matcher("health"))
    assert list(runner.merged_cmds) == ["db", "api"]
    assert all("--follow" in c.argv for c in runner.merged_cmds.values()) and runner.idle is None
    assert s.out.getvalue() == f"api.1@manager1 | {T1} GET /Health 200\n"  # two nodes: the node is said


def test_on_a_terminal_each_service_has_its_colour(tmp_path):
    merged = [("api", raw("api", "1", T1, "a")), ("db", raw("db", "1", T2, "b"))]
    s = session(tmp_path, MergingRunner(merged), FakeClient(DEPLOYED, nodes={"n1": "manager1"}), tty=True)
    logs.stream(s, ["api", "db"])
    assert s.out.getvalue() == f"\x1b[36mapi.1 |\x1b[0m {T1} a\n\x1b[33mdb.1  |\x1b[0m {T2} b\n"


def test_an_unknown_service_lists_the_known_ones_and_nothing_runs(tmp_path):
    runner = MergingRunner()
    with pytest.raises(StackyardError) as info:
        logs.stream(session(tmp_path, runner, FakeClient(DEPLOYED)), ["nope"])
    assert str(info.value) == "unknown service 'nope': services: api, db, flower, migrate, worker"
    assert runner.merged_cmds == {}


def test_a_known_service_not_deployed_is_said_with_what_is(tmp_path):
    runner = MergingRunner()
    with pytest.raises(StackyardError) as info:
        logs.stream(session(tmp_path, runner, FakeClient(DEPLOYED)), ["api", "flower"])
    assert str(info.value) == (
        f"flower not deployed in stack {PROJECT} (swarm): no logs to show: deployed: api, db, migrate; "
        "`inv up --env swarm` deploys the environment's services"
    )
    assert runner.merged_cmds == {}


def test_a_stack_without_services_is_an_error_saying_how_to_start_it(tmp_path):
    with pytest.raises(StackyardError) as info:
        logs.stream(session(tmp_path, MergingRunner(), FakeClient([])))
    assert str(info.value) == (
        f"no services in stack {PROJECT} (swarm): no logs to show: start it with `inv up --env swarm`"
    )


def test_a_swarm_worker_is_told_to_ask_a_manager(tmp_path):
    with pytest.raises(StackyardError, match="this engine is a swarm worker"):
        logs.stream(session(tmp_path, MergingRunner(), FakeClient(DEPLOYED, manager=False)))


def test_inv_logs_on_a_swarm_environment_goes_to_the_swarm_stream(tmp_path):
    runner = MergingRunner([("api", raw("api", "1", T1, "Error: boom")), ("api", raw("api", "1", T2, "fine"))])
    s = session(tmp_path, runner, FakeClient(DEPLOYED, nodes={"n1": "manager1"}))
    stacklogs.stream(s, ["api"], tail=3, grep="ERROR")
    assert s.out.getvalue() == f"api.1 | {T1} Error: boom\n"
    assert [c.argv[:3] for c in runner.commands if c.argv[:2] != ("docker", "compose")] == [
        ("docker", "service", "logs")
    ]
