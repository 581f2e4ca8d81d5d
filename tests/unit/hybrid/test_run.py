"""hybrid.run: the executor walks the plan's steps in order and decides
nothing; `inv --dry hybrid` prints every step and starts no process. Compose
is a FakeRunner; the host processes a FakeProcs that logs into the same list,
or real, short-lived Python processes. No Docker."""

from __future__ import annotations

import io
import json
import os
import pathlib
import re
import signal
import socket
import stat
import subprocess
import sys

import pytest
from dotenv import dotenv_values

from stackyard import config
from stackyard.config import HostProcess, Hybrid
from stackyard.core.command import Command
from stackyard.core.procs import Manager
from stackyard.core.runner import Result, Runner
from stackyard.errors import CommandError, Interrupted, StackyardError
from stackyard.hybrid import plan as hybrid
from stackyard.hybrid import run as hybrid_run
from stackyard.session import Session
from tests.unit.fakes import FakeRunner, after_base, tmp_env
from tests.unit.hybrid.test_plan import (
    PG,
    REDIS,
    SECRET_VALUES,
    SECRETS,
    dev_services,
    file_services,
    make_hybrid,
    mask,
)

WAIT = "wait for the first exit or Ctrl-C"


class FakeProcs(Manager):
    """Host processes that are only recorded, in the list the FakeRunner records
    its Commands in: one list shows the order of everything that ran."""

    def __init__(self, log: list, ending: tuple[str, int] = ("interrupt", 130), fail_on: str | None = None):
        super().__init__(out=io.StringIO(), colour=False)
        self.log, self.ending, self.fail_on = log, ending, fail_on
        self.started: list[tuple[str, str | None]] = []
        self.stops = 0

    def start(self, name: str, cmd: Command, shown: str | None = None) -> None:
        if name == self.fail_on:
            raise StackyardError(f"cannot start {name}")
        self.log.append(cmd)
        self.started.append((name, shown))

    def wait(self) -> tuple[str, int]:
        self.log.append(WAIT)
        return self.ending

    def stop(self) -> None:
        self.stops += 1


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def cwd(tmp_path):
    (tmp_path / "app").mkdir()
    return tmp_path / "app"


@pytest.fixture
def programs(tmp_path, monkeypatch):
    """A PATH on which uvicorn and watchfiles are installed (as do-nothing scripts)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("uvicorn", "watchfiles"):
        (bin_dir / name).write_text("#!/bin/sh\n")
        (bin_dir / name).chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))
    return bin_dir


@pytest.fixture
def api_port():
    return free_port()


def project(tmp_path, hybrid_table: Hybrid | None) -> config.Project:
    return config.Project(tmp_path, "demo", tmp_path / "compose", tmp_path / "env", "dev", hybrid=hybrid_table)


def session(tmp_path, runner: Runner, hybrid_table: Hybrid | None = None) -> Session:
    return Session(project(tmp_path, hybrid_table), tmp_env(tmp_path), runner, out=io.StringIO())


def dev_plan(tmp_path, cwd, api_port, **kw) -> hybrid.Plan:
    return hybrid.make_plan(
        tmp_env(tmp_path), dev_services(), make_hybrid(cwd), ["api", "worker"], {"API_PORT": str(api_port)}, **kw
    )


def ran(log: list) -> list:
    """The log, readable: compose calls from their subcommand on, host processes by program."""
    return [
        entry if entry == WAIT else after_base(entry.argv) if entry.argv[:2] == ("docker", "compose") else entry.argv[0]
        for entry in log
    ]


# --- the executor follows the steps ------------------------------------------------------


def test_the_executed_commands_follow_the_plans_steps_in_order(tmp_path, cwd, programs, api_port):
    plan = dev_plan(tmp_path, cwd, api_port, logs=True, down=True)
    runner = FakeRunner()
    procs = FakeProcs(runner.commands)
    s = session(tmp_path, runner)
    with pytest.raises(Interrupted):
        hybrid_run.execute(s, plan, mask, procs)
    expected: list = []
    for step in plan.steps:
        if isinstance(step, hybrid.RunCompose | hybrid.FollowLogs):
            expected.append(step.command)
        elif isinstance(step, hybrid.StartProcess):
            expected.append(step.process.command)
        elif isinstance(step, hybrid.Supervise):
            expected += [WAIT, step.down]
    assert runner.commands == expected
    assert ran(runner.commands) == [
        ("stop", "api", "worker"),
        ("up", "--detach", "--build", "--wait", "--wait-timeout", "180", "db", "listener", "redis"),
        ("run", "--rm", "--no-deps", "--no-TTY", "migrate"),
        "uvicorn",
        "watchfiles",
        ("logs", "--timestamps", "--follow", "--tail", "0", "--no-color", "db", "listener", "redis"),
        WAIT,
        ("down", "--remove-orphans", "--timeout", "10"),
    ]
    assert runner.modes == ["stream"] * 4  # stop, up, run, down: their output shown as it comes
    assert procs.started[0] == ("api", f"uvicorn refapp.api:app --port {api_port}")
    assert procs.started[2] == ("containers", None)
    assert s.out.getvalue() == "every host process stopped; the containers were removed (volumes kept)\n"
    assert procs.stops == 1  # and once more by the executor, whatever happened


def test_ctrl_c_without_down_keeps_the_containers(tmp_path, cwd, programs, api_port):
    runner = FakeRunner()
    s = session(tmp_path, runner)
    with pytest.raises(Interrupted):
        hybrid_run.execute(s, dev_plan(tmp_path, cwd, api_port), mask, FakeProcs(runner.commands))
    assert ran(runner.commands)[-1] == WAIT
    assert s.out.getvalue() == "every host process stopped; the containers keep running (`inv down` stops them)\n"


@pytest.mark.parametrize(("code", "exit_code"), [(3, 3), (0, 1), (-9, 1), (300, 1)])
def test_a_process_that_exits_ends_the_run_with_its_code(tmp_path, cwd, programs, api_port, code, exit_code):
    runner = FakeRunner()
    procs = FakeProcs(runner.commands, ending=("worker", code))
    with pytest.raises(StackyardError) as info:
        hybrid_run.execute(session(tmp_path, runner), dev_plan(tmp_path, cwd, api_port, down=True), mask, procs)
    assert str(info.value) == (
        f"worker exited with code {code}; every host process was stopped: "
        "its output is above; the containers were removed"
    )
    assert info.value.exit_code == exit_code
    assert ran(runner.commands)[-2:] == [WAIT, ("down", "--remove-orphans", "--timeout", "10")]


def test_a_dependency_that_fails_to_start_is_named_and_nothing_starts(tmp_path, cwd, programs, api_port):
    ps = (
        '{"Name":"demo-dev-db-1","Service":"db","State":"running","Health":"unhealthy","ExitCode":0,'
        '"Publishers":null}\n'
    )
    runner = FakeRunner(
        {
            " up --detach": Result(1, "", "container demo-dev-db-1 is unhealthy\n"),
            " ps --all --format json": Result(0, ps),
            " logs ": Result(0, "db-1  | FATAL: the log line\n"),
        }
    )
    procs = FakeProcs(runner.commands)
    s = session(tmp_path, runner)
    with pytest.raises(StackyardError) as info:
        hybrid_run.execute(s, dev_plan(tmp_path, cwd, api_port, down=True), mask, procs)
    assert not isinstance(info.value, CommandError)
    assert str(info.value) == "service db is unhealthy: its last 30 log lines are above; `inv logs -s db` shows more"
    assert isinstance(info.value.__cause__, CommandError)
    assert "FATAL: the log line" in s.out.getvalue()
    assert [c[0] for c in ran(runner.commands)] == ["stop", "up", "ps", "logs"]  # no one-shot, no down
    assert procs.started == []
    assert procs.stops == 1


def test_a_missing_program_stops_the_run_before_anything_changes(tmp_path, cwd, programs, api_port):
    (programs / "watchfiles").unlink()
    runner = FakeRunner()
    with pytest.raises(StackyardError) as info:
        hybrid_run.execute(session(tmp_path, runner), dev_plan(tmp_path, cwd, api_port), mask, FakeProcs([]))
    assert str(info.value) == (
        "watchfiles not found on the host: install the app's packages on the host: "
        "pip install -r app/requirements.txt -r app/requirements-dev.txt"
    )
    assert runner.commands == []


def test_a_taken_host_port_is_named_with_its_holder(tmp_path, cwd, programs, api_port):
    runner = FakeRunner()
    procs = FakeProcs(runner.commands)
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", api_port))
        listener.listen()
        with pytest.raises(StackyardError) as info:
            hybrid_run.execute(session(tmp_path, runner), dev_plan(tmp_path, cwd, api_port), mask, procs)
    assert str(info.value).startswith(f"host port {api_port} for api is already taken by pid {os.getpid()} (")
    assert str(info.value).endswith(
        ": stop what holds it, or set API_PORT to a free port (`inv env.explain API_PORT` shows where it is set)"
    )
    assert [c[0] for c in ran(runner.commands)] == ["stop", "up", "run"]  # checked once api's container is gone
    assert procs.started == []


def test_a_process_that_cannot_start_stops_the_ones_already_started(tmp_path, cwd, programs, api_port):
    runner = FakeRunner()
    procs = FakeProcs(runner.commands, fail_on="worker")
    with pytest.raises(StackyardError, match="cannot start worker"):
        hybrid_run.execute(session(tmp_path, runner), dev_plan(tmp_path, cwd, api_port, down=True), mask, procs)
    assert ran(runner.commands)[-1] == "uvicorn"  # no wait, no down
    assert procs.stops == 1


# --- --dry ----------------------------------------------------------------------------


def test_a_dry_run_prints_every_step_in_order_and_starts_no_process(tmp_path, cwd, monkeypatch, api_port):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))  # not installed: under --dry, not checked
    plan = dev_plan(tmp_path, cwd, api_port, logs=True, down=True)
    out = io.StringIO()
    s = Session(project(tmp_path, None), tmp_env(tmp_path), Runner(dry=True, echo=False, out=out), out=out)
    procs = FakeProcs([])
    hybrid_run.execute(s, plan, mask, procs)
    expected = []
    for step in plan.steps:
        if isinstance(step, hybrid.RunCompose):
            expected.append(f"[dry-run] $ {step.command}")
        else:
            expected.append(f"[dry-run] would {mask(step.what)}")
        if isinstance(step, hybrid.Supervise):
            expected.append(f"[dry-run] $ {step.down}")
    lines = out.getvalue().splitlines()
    assert lines == expected
    assert [line.split("compose ", 1)[0] for line in lines] == [
        "[dry-run] would check uvicorn, watchfiles are installed on the host",
        "[dry-run] $ docker ",
        "[dry-run] $ docker ",
        "[dry-run] $ docker ",
        f"[dry-run] would check host port {api_port} is free for api",
        f"[dry-run] would start api on the host, in {cwd}: uvicorn refapp.api:app --port {api_port}",
        f"[dry-run] would start worker on the host, in {cwd}: watchfiles 'celery -A refapp.worker worker' refapp",
        "[dry-run] would follow the containers' logs in the same stream",
        (
            "[dry-run] would wait for Ctrl-C or a host process to exit, then stop every host process"
            " and `down` the containers (volumes kept)"
        ),
        "[dry-run] $ docker ",
    ]
    assert procs.log == [] and procs.started == []


def test_dry_run_steps_are_masked(tmp_path, cwd):
    h = make_hybrid(cwd)
    h.processes["worker"] = HostProcess("worker", ("celery", "--broker", "${CELERY_BROKER_URL}"))
    plan = hybrid.make_plan(tmp_env(tmp_path), dev_services(), h, ["worker"], {})
    s = session(tmp_path, FakeRunner(dry=True))
    hybrid_run.execute(s, plan, mask, FakeProcs([]))
    out = s.out.getvalue()
    assert "[dry-run] would start worker on the host" in out and "redis://:****@127.0.0.1:16379/1" in out
    assert REDIS not in out and PG not in out


# --- with real host processes ---------------------------------------------------------------


def python_plan(tmp_path, cwd, code: str) -> hybrid.Plan:
    table = Hybrid(cwd=cwd, processes={"api": HostProcess("api", (sys.executable, "-c", code))})
    return hybrid.make_plan(tmp_env(tmp_path), {}, table, ["api"], {})


def test_real_processes_output_and_exit_code(tmp_path, cwd):
    plan = python_plan(tmp_path, cwd, "import os; print('hello from', os.getcwd()); raise SystemExit(3)")
    s = session(tmp_path, FakeRunner())
    with pytest.raises(StackyardError) as info:
        hybrid_run.execute(s, plan, mask)
    assert info.value.exit_code == 3
    lines = s.out.getvalue().splitlines()
    assert re.fullmatch(rf"stackyard \| started api \(pid \d+\): {re.escape(str(plan.processes[0].command))}", lines[0])
    assert f"api | hello from {os.path.realpath(cwd)}" in lines
    assert "stackyard | api exited with code 3; stopping the others" in lines


def test_sigterm_is_ctrl_c_and_the_previous_handler_comes_back(tmp_path, cwd):
    # An IDE's stop button. Should the executor not catch it, this handler
    # does (and the test fails) rather than SIGTERM ending pytest.
    caught = []
    previous = signal.signal(signal.SIGTERM, lambda *_: caught.append(1))
    code = "import os, signal, time; time.sleep(0.3); os.kill(os.getppid(), signal.SIGTERM); time.sleep(5)"
    try:
        s = session(tmp_path, FakeRunner())
        with pytest.raises(Interrupted):
            hybrid_run.execute(s, python_plan(tmp_path, cwd, code), mask)
        assert signal.getsignal(signal.SIGTERM) is not hybrid_run._raise_interrupt
        assert caught == []
        assert "stackyard | Ctrl-C: stopping every host process" in s.out.getvalue().splitlines()
    finally:
        signal.signal(signal.SIGTERM, previous)


# --- run: from the project to the executed plan ----------------------------------------------


def config_runner(services: dict, dry: bool = False) -> FakeRunner:
    return FakeRunner({" config --format json": Result(0, json.dumps({"services": services}))}, dry=dry)


def no_popen(*args, **kwargs):
    raise AssertionError("a process was started")


def test_run_under_dry_prints_the_plan_then_every_step(tmp_path, cwd, monkeypatch, api_port):
    monkeypatch.setenv("API_PORT", str(api_port))
    monkeypatch.setenv("REDIS_PASSWORD", REDIS)  # a secret of the environment: masked wherever printed
    monkeypatch.setattr(subprocess, "Popen", no_popen)
    runner = config_runner(dev_services(), dry=True)
    s = session(tmp_path, runner, make_hybrid(cwd))
    hybrid_run.run(s, ["api"], down=True)
    assert [c[0] for c in runner.subcommands()] == ["config", "stop", "up", "run", "down"]
    api = f"uvicorn refapp.api:app --port {api_port}"
    assert s.out.getvalue().splitlines() == [
        "hybrid plan for dev:",
        "  1. check uvicorn is installed on the host",
        "  2. stop containers that run on the host instead: api",
        "  3. start in containers, wait until healthy: db, listener, redis, worker",
        "  4. run migrate once in a container (migrations) and wait for it to succeed",
        f"  5. check host port {api_port} is free for api",
        f"  6. start api on the host, in {cwd}: {api}",
        "  7. wait for Ctrl-C or a host process to exit, then stop every host process and `down` the containers"
        " (volumes kept)",
        "rewritten for the host:",
        # a URL's password is masked wherever it comes from (no secret name needed)
        "  api: DATABASE_URL: postgresql://app:****@db:5432/app?sslmode=disable"
        " -> postgresql://app:****@127.0.0.1:15432/app?sslmode=disable",
        "  api: REDIS_URL: redis://:****@redis:6379/0 -> redis://:****@127.0.0.1:16379/0",
        "  api: CELERY_BROKER_URL: redis://:****@redis:6379/1 -> redis://:****@127.0.0.1:16379/1",
        "  api: CELERY_RESULT_BACKEND: redis://:****@redis:6379/2 -> redis://:****@127.0.0.1:16379/2",
        # the compose steps are printed by the runner: here, a FakeRunner, which records them
        "[dry-run] would check uvicorn is installed on the host",
        f"[dry-run] would check host port {api_port} is free for api",
        f"[dry-run] would start api on the host, in {cwd}: {api}",
        "[dry-run] would wait for Ctrl-C or a host process to exit, then stop every host process and `down` the"
        " containers (volumes kept)",
    ]


def test_run_print_env_prints_the_variables_and_runs_nothing_else(tmp_path, cwd, monkeypatch):
    monkeypatch.delenv("API_PORT", raising=False)
    runner = config_runner(dev_services())
    s = session(tmp_path, runner, make_hybrid(cwd))
    hybrid_run.run(s, None, print_only=True)
    assert [c[0] for c in runner.subcommands()] == ["config"]
    out = s.out.getvalue()
    assert out.startswith(
        f"# api (on the host), in {cwd}: uvicorn refapp.api:app --port 8000\n# secrets are masked here; "
    )
    assert f"# worker (on the host), in {cwd}" in out


def test_run_names_the_compose_file_to_publish_a_port_in(tmp_path, cwd):
    services = dev_services()
    del services["db"]["ports"]
    s = session(tmp_path, config_runner(services), make_hybrid(cwd))
    with pytest.raises(StackyardError) as info:
        hybrid_run.run(s, ["api"], print_only=True)
    assert 'publish it in compose/compose.dev.yaml: ports: ["127.0.0.1:5432:5432"] under db' in str(info.value)


def test_run_without_host_processes_says_what_to_add(tmp_path):
    runner = FakeRunner()
    with pytest.raises(StackyardError) as info:
        hybrid_run.run(session(tmp_path, runner, None))
    assert str(info.value) == (
        "no host processes configured: add [tool.stackyard.hybrid.processes.<name>] command = [...] to pyproject.toml"
    )
    assert runner.commands == []


# --- --ide -------------------------------------------------------------------------------------


def ide_plan(tmp_path, cwd, api_port) -> hybrid.Plan:
    return hybrid.make_plan(
        tmp_env(tmp_path),
        dev_services(),
        make_hybrid(cwd),
        ["worker"],
        {"API_PORT": str(api_port)},
        ide=["api"],
        ide_dir=tmp_path / ".stackyard" / "hybrid",
    )


def test_an_ide_process_gets_its_env_file_and_its_description_and_is_not_started(tmp_path, cwd, programs, api_port):
    plan = ide_plan(tmp_path, cwd, api_port)
    runner = FakeRunner()
    procs = FakeProcs(runner.commands)
    s = session(tmp_path, runner)
    with pytest.raises(Interrupted):
        hybrid_run.execute(s, plan, mask, procs)
    assert [name for name, _ in procs.started] == ["worker"]
    assert ran(runner.commands)[:2] == [
        ("stop", "api", "worker"),
        ("up", "--detach", "--build", "--wait", "--wait-timeout", "180", "db", "listener", "redis"),
    ]
    env_file = tmp_path / ".stackyard" / "hybrid" / "dev-api.env"
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    # The file has the real values (an IDE reads it); it reads back as exactly what the process would get.
    assert dotenv_values(env_file) == plan.ide[0].env
    assert PG in env_file.read_text()
    out = s.out.getvalue()
    assert PG not in out and REDIS not in out
    assert out.splitlines()[:3] == [
        f"# api (in your IDE), in {cwd}: uvicorn refapp.api:app --port {api_port}",
        "# secrets are masked here; the real values are in .stackyard/hybrid/dev-api.env (mode 600): "
        "give it to your IDE's run configuration",
        "APP_ENV=dev",
    ]
    assert "DATABASE_URL=postgresql://app:****@127.0.0.1:15432/app?sslmode=disable    # was " in out


def test_a_taken_port_of_a_literal_port_names_the_setting_to_change(tmp_path, cwd, programs):
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        table = Hybrid(cwd=cwd, processes={"web": HostProcess("web", ("uvicorn", "app:app"), str(port))})
        plan = hybrid.make_plan(tmp_env(tmp_path), {}, table, ["web"], {})
        with pytest.raises(StackyardError) as info:
            hybrid_run.execute(session(tmp_path, FakeRunner()), plan, mask, FakeProcs([]))
    assert str(info.value).endswith(": stop what holds it, or change `port` in [tool.stackyard.hybrid.processes.web]")


def test_the_ide_port_is_checked_before_anything_is_handed_over(tmp_path, cwd, programs):
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        plan = ide_plan(tmp_path, cwd, port)
        runner = FakeRunner()
        procs = FakeProcs(runner.commands)
        with pytest.raises(StackyardError, match=f"host port {port} for api is already taken"):
            hybrid_run.execute(session(tmp_path, runner), plan, mask, procs)
    assert procs.started == [] and not (tmp_path / ".stackyard").exists()


def test_under_dry_the_ide_env_file_is_not_written(tmp_path, cwd, api_port):
    plan = ide_plan(tmp_path, cwd, api_port)
    s = session(tmp_path, FakeRunner(dry=True))
    hybrid_run.execute(s, plan, mask, FakeProcs([]))
    assert not (tmp_path / ".stackyard").exists()
    assert f"[dry-run] would hand api to your IDE: write its variables to {tmp_path}/.stackyard/hybrid/dev-api.env" in (
        s.out.getvalue()
    )


def test_run_with_ide_runs_the_default_processes_less_the_ide_ones(tmp_path, cwd, monkeypatch, api_port):
    monkeypatch.setenv("API_PORT", str(api_port))
    monkeypatch.setattr(subprocess, "Popen", no_popen)
    runner = config_runner(dev_services(), dry=True)
    s = session(tmp_path, runner, make_hybrid(cwd))
    hybrid_run.run(s, None, ide=["api"])
    lines = s.out.getvalue().splitlines()
    assert "  2. stop containers that run on the host instead: api, worker" in lines
    assert f"  7. start worker on the host, in {cwd}: watchfiles 'celery -A refapp.worker worker' refapp" in lines
    assert not any(line.startswith("  ") and "start api on the host" in line for line in lines)


def test_run_print_env_with_ide_prints_host_and_ide_processes(tmp_path, cwd, monkeypatch):
    monkeypatch.delenv("API_PORT", raising=False)
    s = session(tmp_path, config_runner(dev_services()), make_hybrid(cwd))
    hybrid_run.run(s, None, ide=["api"], print_only=True)
    heads = [line.split(",")[0] for line in s.out.getvalue().splitlines() if line.startswith("# ") and "), in " in line]
    assert heads == ["# worker (on the host)", "# api (in your IDE)"]
    assert not (tmp_path / ".stackyard").exists()  # printing writes nothing


# --- secret files: written before any process starts, mode 600 in a 700 directory, removed at the end ---


def secrets_plan(tmp_path, cwd, api_port, **kw) -> hybrid.Plan:
    return hybrid.make_plan(
        tmp_env(tmp_path),
        file_services(),
        make_hybrid(cwd),
        ["api", "worker"],
        {"API_PORT": str(api_port), **SECRET_VALUES},
        ide_dir=tmp_path / ".stackyard" / "hybrid",
        secrets=SECRETS,
        **kw,
    )


class SeeingProcs(FakeProcs):
    """Records, as each host process starts, the secret files it would find."""

    def __init__(self, log: list, directory: pathlib.Path, **kw):
        super().__init__(log, **kw)
        self.directory, self.seen = directory, []

    def start(self, name: str, cmd: Command, shown: str | None = None) -> None:
        super().start(name, cmd, shown)
        files = sorted(self.directory.iterdir()) if self.directory.exists() else []
        self.seen.append(
            (
                name,
                stat.S_IMODE(self.directory.stat().st_mode) if files else None,
                {f.name: (f.read_text(), stat.S_IMODE(f.stat().st_mode)) for f in files},
            )
        )


def test_the_secret_files_exist_while_the_processes_run_and_are_removed_at_the_end(tmp_path, cwd, programs, api_port):
    directory = tmp_path / ".stackyard" / "hybrid" / "dev-secrets"
    directory.mkdir(parents=True)
    (directory / "postgres_password").write_text("left by a killed run")
    os.chmod(directory / "postgres_password", 0o644)
    plan = secrets_plan(tmp_path, cwd, api_port)
    runner = FakeRunner()
    procs = SeeingProcs(runner.commands, directory)
    with pytest.raises(Interrupted):
        hybrid_run.execute(session(tmp_path, runner), plan, mask, procs)
    files = {"postgres_password": ("pg-Secret-1", 0o600), "redis_password": ("redis-Secret-2", 0o600)}
    assert procs.seen == [("api", 0o700, files), ("worker", 0o700, files)]
    assert not directory.exists()
    assert procs.started[0][0] == "api" and "pg-Secret-1" not in json.dumps(procs.started)


def test_a_secret_file_copied_from_its_source_file(tmp_path, cwd, programs, api_port):
    source = tmp_path / "pg.txt"
    source.write_bytes(b"from-a-file\n")
    secrets = {**SECRETS, "postgres_password": {"file": str(source)}}
    plan = hybrid.make_plan(
        tmp_env(tmp_path),
        file_services(),
        make_hybrid(cwd),
        ["api"],
        {"API_PORT": str(api_port), **SECRET_VALUES},
        ide_dir=tmp_path / "h",
        secrets=secrets,
    )
    procs = SeeingProcs([], tmp_path / "h" / "dev-secrets")
    with pytest.raises(Interrupted):
        hybrid_run.execute(session(tmp_path, FakeRunner()), plan, mask, procs)
    assert procs.seen[0][2]["postgres_password"] == ("from-a-file\n", 0o600)  # byte for byte


def test_a_missing_source_file_is_named_and_nothing_starts(tmp_path, cwd, programs, api_port):
    secrets = {**SECRETS, "postgres_password": {"file": str(tmp_path / "gone.txt")}}
    plan = hybrid.make_plan(
        tmp_env(tmp_path),
        file_services(),
        make_hybrid(cwd),
        ["api"],
        {"API_PORT": str(api_port), **SECRET_VALUES},
        ide_dir=tmp_path / "h",
        secrets=secrets,
    )
    procs = FakeProcs([])
    with pytest.raises(StackyardError) as info:
        hybrid_run.execute(session(tmp_path, FakeRunner()), plan, mask, procs)
    assert str(info.value) == (
        f"cannot read {tmp_path}/gone.txt, the file of secret postgres_password (No such file or directory): "
        "create it, or give secrets.postgres_password another source in the compose file"
    )
    assert procs.started == [] and not (tmp_path / "h" / "dev-secrets").exists()


def test_a_closed_terminal_removes_the_secret_files_too(tmp_path, cwd, programs, api_port):
    class HungUp(FakeProcs):
        def wait(self):
            os.kill(os.getpid(), signal.SIGHUP)  # the terminal closes while the processes run
            raise AssertionError("SIGHUP did not interrupt the wait")

    caught = []
    previous = signal.signal(signal.SIGHUP, lambda *_: caught.append(1))  # should the executor not catch it
    try:
        with pytest.raises(KeyboardInterrupt):  # the Ctrl-C path (the real Manager turns it into Interrupted)
            hybrid_run.execute(session(tmp_path, FakeRunner()), secrets_plan(tmp_path, cwd, api_port), mask, HungUp([]))
        assert caught == [] and signal.getsignal(signal.SIGHUP) is not hybrid_run._raise_interrupt
    finally:
        signal.signal(signal.SIGHUP, previous)
    assert not (tmp_path / ".stackyard" / "hybrid" / "dev-secrets").exists()


def test_under_dry_no_secret_file_is_written(tmp_path, cwd, api_port):
    plan = secrets_plan(tmp_path, cwd, api_port)
    s = session(tmp_path, FakeRunner(dry=True))
    hybrid_run.execute(s, plan, mask, FakeProcs([]))
    assert not (tmp_path / ".stackyard").exists()
    assert (
        "[dry-run] would write the secret files postgres_password, redis_password to "
        f"{tmp_path}/.stackyard/hybrid/dev-secrets (mode 600; removed when hybrid ends)"
    ) in s.out.getvalue().splitlines()


def test_an_ide_process_is_told_where_its_secret_files_are(tmp_path, cwd, programs, api_port):
    plan = secrets_plan(tmp_path, cwd, api_port, ide=["listener"])
    s = session(tmp_path, FakeRunner())
    with pytest.raises(Interrupted):
        hybrid_run.execute(s, plan, mask, FakeProcs([]))
    env_file = tmp_path / ".stackyard" / "hybrid" / "dev-listener.env"
    assert (
        dotenv_values(env_file)["POSTGRES_PASSWORD_FILE"]
        == f"{tmp_path}/.stackyard/hybrid/dev-secrets/postgres_password"
    )
    out = s.out.getvalue().splitlines()
    assert "# its secret files are in .stackyard/hybrid/dev-secrets/ while `inv hybrid` runs (mode 600)" in out
    assert (
        "POSTGRES_PASSWORD_FILE="
        f"{tmp_path}/.stackyard/hybrid/dev-secrets/postgres_password"
        "    # was /run/secrets/postgres_password" in out
    )


def secrets_config_runner(dry: bool = False) -> FakeRunner:
    config = {"services": file_services(), "secrets": SECRETS}
    return FakeRunner({" config --format json": Result(0, json.dumps(config))}, dry=dry)


def test_run_reads_the_secrets_of_the_config(tmp_path, cwd, monkeypatch, api_port):
    monkeypatch.setenv("API_PORT", str(api_port))
    for name, value in SECRET_VALUES.items():
        monkeypatch.setenv(name, value)
    s = session(tmp_path, secrets_config_runner(), make_hybrid(cwd))
    hybrid_run.run(s, ["api"], print_only=True)
    out = s.out.getvalue()
    assert "# its secret files are in .stackyard/hybrid/dev-secrets/ while `inv hybrid` runs (mode 600)" in out
    assert f"REDIS_PASSWORD_FILE={tmp_path}/.stackyard/hybrid/dev-secrets/redis_password" in out
    assert not (tmp_path / ".stackyard").exists()


def test_a_dry_run_needs_no_secret_value_yet(tmp_path, cwd, monkeypatch, api_port):
    # A fresh clone: no layer sets the secrets yet (the real run makes the local env file first).
    monkeypatch.setenv("API_PORT", str(api_port))
    for name in SECRET_VALUES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(subprocess, "Popen", no_popen)
    s = session(tmp_path, secrets_config_runner(dry=True), make_hybrid(cwd))
    hybrid_run.run(s, ["api"])
    assert "[dry-run] would write the secret files postgres_password, redis_password to " in s.out.getvalue()
    with pytest.raises(StackyardError, match="whose variable POSTGRES_PASSWORD is not set"):
        hybrid_run.run(session(tmp_path, secrets_config_runner(), make_hybrid(cwd)), ["api"], print_only=True)
