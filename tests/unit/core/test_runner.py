"""The runner, with real harmless commands (this Python), never docker."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from stackyard.core import runner as runner_module
from stackyard.core.command import Command
from stackyard.core.runner import Runner
from stackyard.errors import CommandError, StackyardError


def py(code: str, **kwargs) -> Command:
    return Command((sys.executable, "-c", code), **kwargs)


def quiet_runner(**kwargs) -> Runner:
    return Runner(out=io.StringIO(), **kwargs)


def test_capture_returns_stdout_and_stderr():
    res = quiet_runner().run(py("import sys; print('hello'); print('warn', file=sys.stderr)"))
    assert res.ok and res.returncode == 0
    assert res.stdout == "hello\n"
    assert res.stderr == "warn\n"


def test_env_is_added_to_the_inherited_environment_and_cwd_is_used(tmp_path, monkeypatch):
    monkeypatch.setenv("SY_INHERITED", "kept")
    cmd = py(
        "import os; print(os.environ['SY_INHERITED'], os.environ['SY_ADDED'], os.getcwd())",
        env={"SY_ADDED": "added"},
        cwd=str(tmp_path),
    )
    assert quiet_runner().run(cmd).stdout.split() == ["kept", "added", str(tmp_path)]


def test_non_zero_exit_raises_command_error_with_argv_code_and_stderr():
    cmd = py("import sys; print('partial'); sys.stderr.write('first\\nboom: it broke\\n'); sys.exit(3)")
    with pytest.raises(CommandError) as info:
        quiet_runner().run(cmd)
    err = info.value
    assert err.argv == cmd.argv
    assert err.returncode == 3 and err.exit_code == 3
    assert err.stderr == "first\nboom: it broke\n"
    assert err.stdout == "partial\n"
    assert str(err).endswith("exited 3: boom: it broke")


def test_without_check_a_failure_is_returned():
    res = quiet_runner().run(py("raise SystemExit(4)"), check=False)
    assert not res.ok and res.returncode == 4


def test_dry_run_runs_nothing(tmp_path):
    target = tmp_path / "created"
    out = io.StringIO()
    res = Runner(dry=True, out=out).run(py(f"open({str(target)!r}, 'w').close()"))
    assert res.ok
    assert not target.exists()
    assert out.getvalue().startswith("[dry-run] $ ")
    # the same command really run does create it: the test above could fail
    quiet_runner().run(py(f"open({str(target)!r}, 'w').close()"))
    assert target.exists()


def test_dry_run_echoes_the_quoted_line_even_when_quiet(monkeypatch):
    def no_process(*args, **kwargs):
        raise AssertionError("dry-run started a process")

    monkeypatch.setattr(subprocess, "run", no_process)
    monkeypatch.setattr(subprocess, "Popen", no_process)
    out = io.StringIO()
    r = Runner(dry=True, echo=False, out=out)
    cmd = Command(("docker", "compose", "exec", "db", "psql", "-c", "select 1"))
    for mode in ("capture", "stream", "interactive"):
        assert r.run(cmd, mode=mode, quiet=True).returncode == 0
    assert list(r.lines(cmd)) == []
    assert out.getvalue() == "[dry-run] $ docker compose exec db psql -c 'select 1'\n" * 4


def test_echo_prints_the_quoted_line_to_out():
    out = io.StringIO()
    Runner(out=out).run(py("pass"))
    assert out.getvalue() == f"$ {sys.executable} -c pass\n"


def test_no_echo_when_quiet_or_echo_off():
    out = io.StringIO()
    Runner(out=out).run(py("pass"), quiet=True)
    Runner(echo=False, out=out).run(py("pass"))
    assert out.getvalue() == ""


@pytest.mark.parametrize("mode", ["capture", "stream", "interactive"])
def test_missing_executable_says_not_found_on_path(mode):
    with pytest.raises(StackyardError, match="stackyard-no-such-tool not found on PATH") as info:
        quiet_runner().run(Command(("stackyard-no-such-tool", "ps")), mode=mode)
    assert not isinstance(info.value, CommandError)


def test_lines_yields_stdout_filtered_by_keep():
    cmd = py("print('api | GET /health'); print('db | checkpoint'); print('api | GET /jobs')")
    got = list(quiet_runner().lines(cmd, keep=lambda line: line.startswith("api")))
    assert got == ["api | GET /health\n", "api | GET /jobs\n"]
    assert len(list(quiet_runner().lines(cmd))) == 3


def test_lines_failure_raises_after_the_output():
    cmd = py("import sys; print('one'); sys.stderr.write('no such service: x\\n'); sys.exit(1)")
    got = []
    with pytest.raises(CommandError) as info:
        for line in quiet_runner().lines(cmd):
            got.append(line)
    assert got == ["one\n"]
    assert info.value.returncode == 1 and "no such service: x" in info.value.stderr


def test_lines_missing_executable():
    with pytest.raises(StackyardError, match="not found on PATH"):
        list(quiet_runner().lines(Command(("stackyard-no-such-tool",))))


def test_stream_shows_output_and_keeps_stderr_for_the_error(capfd):
    cmd = py("import sys; print('building'); sys.stderr.write('Error: port is already allocated\\n'); sys.exit(2)")
    with pytest.raises(CommandError) as info:
        quiet_runner().run(cmd, mode="stream")
    assert info.value.stderr == "Error: port is already allocated\n"
    assert info.value.returncode == 2
    shown = capfd.readouterr()
    assert "building" in shown.out
    assert "Error: port is already allocated" in shown.err


def test_stream_on_a_terminal_keeps_the_text_without_colours(tmp_path, monkeypatch):
    # On a terminal the child gets a pty; what it printed is kept for the error, colours removed.
    monkeypatch.setattr(runner_module, "_isatty", lambda stream: True)
    cmd = py("import sys; sys.stderr.write('\\x1b[31mcontainer sy-api-1 is unhealthy\\x1b[0m\\r\\n'); sys.exit(1)")
    with open(tmp_path / "terminal", "w") as shown, pytest.raises(CommandError) as info:
        monkeypatch.setattr(sys, "stderr", shown)
        quiet_runner().run(cmd, mode="stream")
    assert "container sy-api-1 is unhealthy" in info.value.stderr
    assert "\x1b" not in info.value.stderr
    assert "\x1b[31m" in (tmp_path / "terminal").read_text()  # the terminal got the colours


def test_interactive_returns_the_exit_code():
    assert quiet_runner().run(py("raise SystemExit(0)"), mode="interactive").ok
    with pytest.raises(CommandError) as info:
        quiet_runner().run(py("raise SystemExit(5)"), mode="interactive")
    assert info.value.returncode == 5


def test_sigterm_and_sighup_become_ctrl_c_then_are_held_during_the_cleanup_and_handlers_come_back():
    before = {sig: signal.getsignal(sig) for sig in runner_module.STOPPING}
    out = io.StringIO()
    with runner_module.Interrupts(out) as interrupts:
        with pytest.raises(KeyboardInterrupt, match="SIGHUP"):
            os.kill(os.getpid(), signal.SIGHUP)
            time.sleep(5)  # interrupted by the handler
        os.kill(os.getpid(), signal.SIGTERM)  # during the cleanup the first signal started: held
        time.sleep(0.01)
        assert interrupts.held == ["SIGTERM"]
    assert out.getvalue() == "stackyard: SIGTERM received during the cleanup; it finishes first\n"
    assert {sig: signal.getsignal(sig) for sig in before} == before


def test_interrupts_outside_the_main_thread_leave_the_handlers_alone():
    before = signal.getsignal(signal.SIGTERM)
    seen = []

    def body() -> None:
        with runner_module.Interrupts(io.StringIO()):
            seen.append(signal.getsignal(signal.SIGTERM))

    thread = threading.Thread(target=body)
    thread.start()
    thread.join()
    assert seen == [before]


# --- the target engine: DOCKER_HOST for every command but the local engine's ----------

SHOW_HOST = "import os; print(os.environ.get('DOCKER_HOST', '-'))"


def test_the_target_is_every_commands_docker_host_but_a_local_engines(monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", "unix:///local.sock")  # the local engine: the process's own
    r = quiet_runner(target="ssh://deploy@target")
    assert r.run(py(SHOW_HOST)).stdout.strip() == "ssh://deploy@target"
    assert r.run(py(SHOW_HOST, local_engine=True)).stdout.strip() == "unix:///local.sock"
    monkeypatch.delenv("DOCKER_HOST")
    assert r.run(py(SHOW_HOST, local_engine=True)).stdout.strip() == "-"  # the docker CLI's default then


def test_without_a_target_every_command_talks_to_the_local_engine(monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", "unix:///local.sock")
    r = quiet_runner()
    assert [r.run(py(SHOW_HOST, local_engine=local)).stdout.strip() for local in (False, True)] == [
        "unix:///local.sock",
        "unix:///local.sock",
    ]
    assert r.engine_env() == r.engine_env(local=True) == {}


def test_a_commands_own_variables_win_over_the_target():
    r = quiet_runner(target="ssh://deploy@target", env={"SY_ADDED": "1"})
    assert r.engine_env() == {"DOCKER_HOST": "ssh://deploy@target"} and r.engine_env(local=True) == {}
    cmd = py("import os; print(os.environ['DOCKER_HOST'], os.environ['SY_ADDED'])", env={"DOCKER_HOST": "tcp://x:1"})
    assert r.run(cmd).stdout.split() == ["tcp://x:1", "1"]
