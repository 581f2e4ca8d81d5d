"""Runner.merged_lines: several commands at once, their lines (stdout and stderr) in
one stream as they come; a failure after the end; leaving stops them all. With
real harmless commands (this Python), never docker."""

from __future__ import annotations

import io
import os
import pathlib
import sys
import time

import pytest

from stackyard.core.command import Command
from stackyard.core.runner import Runner
from stackyard.errors import CommandError, StackyardError


def py(code: str) -> Command:
    return Command((sys.executable, "-c", code))


def test_the_lines_of_every_command_come_with_its_name_stderr_included():
    cmds = {
        "api": py("import sys; print('GET /health'); print('warn', file=sys.stderr)"),
        "db": py("print('ready')"),
    }
    got = list(Runner(out=io.StringIO()).merged_lines(cmds))
    assert sorted(got) == [("api", "GET /health\n"), ("api", "warn\n"), ("db", "ready\n")]


def test_lines_come_as_they_are_written_not_command_by_command():
    # b writes between a's two lines: one stream, in the order written
    cmds = {
        "a": py("import time; print('a1', flush=True); time.sleep(1.0); print('a2')"),
        "b": py("import time; time.sleep(0.5); print('b1')"),
    }
    assert [line for _, line in Runner(out=io.StringIO()).merged_lines(cmds)] == ["a1\n", "b1\n", "a2\n"]


def test_a_failure_is_raised_after_every_line_with_its_last_ones():
    cmds = {
        "ok": py("print('fine')"),
        "bad": py("import sys; print('no such service: x', file=sys.stderr); sys.exit(3)"),
    }
    got = []
    with pytest.raises(CommandError) as info:
        for item in Runner(out=io.StringIO()).merged_lines(cmds):
            got.append(item)
    assert sorted(got) == [("bad", "no such service: x\n"), ("ok", "fine\n")]
    assert info.value.returncode == 3 and "no such service: x" in info.value.stderr


def sleeper(pidfile: pathlib.Path, first: str = "") -> Command:
    """Writes its pid, then `first` (if any), then sleeps for a minute."""
    say = f"print({first!r}, flush=True); " if first else ""
    return py(f"import os, time; open({str(pidfile)!r}, 'w').write(str(os.getpid())); {say}time.sleep(60)")


def alive(pidfile: pathlib.Path) -> bool:
    """The process that wrote `pidfile` still runs (no file, or an empty one: it never got that far)."""
    pid = pidfile.read_text() if pidfile.is_file() else ""
    if not pid:
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    return True


def test_leaving_the_stream_stops_every_command(tmp_path):
    cmds = {"a": sleeper(tmp_path / "a", first="a"), "b": sleeper(tmp_path / "b")}
    lines = Runner(out=io.StringIO()).merged_lines(cmds)
    assert next(lines) == ("a", "a\n")
    deadline = time.monotonic() + 10
    while not alive(tmp_path / "b") and time.monotonic() < deadline:  # b has started too
        time.sleep(0.05)
    lines.close()  # as a reader that went away (BrokenPipe), or an exception in the loop, does
    assert not alive(tmp_path / "a") and not alive(tmp_path / "b")


def test_each_command_is_echoed_and_a_dry_run_runs_none():
    out = io.StringIO()
    assert list(Runner(dry=True, out=out).merged_lines({"a": py("print(1)"), "b": py("print(2)")})) == []
    assert out.getvalue() == f"[dry-run] $ {sys.executable} -c 'print(1)'\n[dry-run] $ {sys.executable} -c 'print(2)'\n"


def test_a_missing_program_is_said_and_what_started_is_stopped(tmp_path):
    cmds = {"a": sleeper(tmp_path / "a"), "b": Command(("stackyard-no-such-tool",))}
    with pytest.raises(StackyardError, match="stackyard-no-such-tool not found on PATH"):
        list(Runner(out=io.StringIO()).merged_lines(cmds))
    time.sleep(1)  # a left running would have written its pid by now
    assert not alive(tmp_path / "a")


def test_with_idle_those_silent_that_long_are_stopped_and_taken_as_ended(tmp_path):
    # as `docker service logs` without --follow, hung once its lines are out (docker/cli#4678)
    cmds = {"hung": sleeper(tmp_path / "hung", first="all there is"), "done": py("print('done')")}
    started = time.monotonic()
    got = sorted(Runner(out=io.StringIO()).merged_lines(cmds, idle=1.0))
    assert got == [("done", "done\n"), ("hung", "all there is\n")]  # and no error
    assert time.monotonic() - started < 30 and not alive(tmp_path / "hung")
