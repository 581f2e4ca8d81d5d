"""procs.Manager with real, short-lived child processes: merged and prefixed
output, the first exit stops the rest, process groups, SIGKILL after the grace
period, Ctrl-C. No Docker; each test takes well under a second."""

from __future__ import annotations

import io
import os
import signal
import sys
import time

import pytest

from stackyard.core.command import Command
from stackyard.core.procs import Manager
from stackyard.errors import StackyardError

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="process groups, and /proc to tell a zombie"
)


def py(code: str, **kw) -> Command:
    return Command((sys.executable, "-c", code), **kw)


SLEEP = "import time; time.sleep(60)"


@pytest.fixture
def manager():
    """Managers that print to a StringIO, without colour; stopped after the
    test whatever happens, so no child outlives a failing test."""
    made: list[Manager] = []

    def make(grace: float = 2.0) -> Manager:
        made.append(Manager(out=io.StringIO(), colour=False, grace=grace))
        return made[-1]

    yield make
    for mgr in made:
        mgr.grace = 0
        mgr.stop()
        for p in mgr.procs:  # should stop() itself be broken
            if p.popen.poll() is None:
                p.popen.kill()


def read_until(mgr: Manager, text: str, timeout: float = 5.0) -> str:
    """The first line a process printed containing `text`, read from the manager's queue."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        proc, line = mgr.lines.get(timeout=max(0.01, deadline - time.monotonic()))
        if proc is not None and line is not None and text in line:
            return line
    raise AssertionError(f"no line with {text!r} within {timeout}s")


def gone(pid: int, group: bool = False, timeout: float = 2.0) -> bool:
    """True once the process (or every process of its group) has ended. A zombie
    counts as ended: once its parent is gone, only init's reaping is left."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            (os.killpg if group else os.kill)(pid, 0)
        except ProcessLookupError:
            return True
        if not any(state != "Z" for state in _states(pid, group)):
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)


def _states(pid: int, group: bool) -> list[str]:
    """From /proc: the state of the process, or of each process in the group."""
    found = []
    for entry in [e for e in os.listdir("/proc") if e.isdigit()] if group else [str(pid)]:
        try:
            with open(f"/proc/{entry}/stat") as f:
                state, _ppid, pgrp = f.read().rsplit(")", 1)[1].split()[:3]
        except (FileNotFoundError, ProcessLookupError):
            continue  # ended while we looked
        if not group or int(pgrp) == pid:
            found.append(state)
    return found


def test_output_is_merged_and_prefixed_with_padded_names(tmp_path, manager):
    flag = tmp_path / "a-printed"
    mgr = manager()
    mgr.start(
        "a",
        py(f"import pathlib, time; print('from a', flush=True); pathlib.Path({str(flag)!r}).touch(); time.sleep(60)"),
    )
    # Started after a printed: the names still line up, as labels are made when written.
    mgr.start(
        "longer",
        py(
            f"import pathlib, time\nwhile not pathlib.Path({str(flag)!r}).exists(): time.sleep(0.01)\n"
            "print('from longer'); raise SystemExit(3)"
        ),
    )
    assert mgr.wait() == ("longer", 3)
    lines = mgr.out.getvalue().splitlines()
    assert "a      | from a" in lines
    assert "longer | from longer" in lines
    assert lines[-1] == "stackyard | longer exited with code 3; stopping the others"


def test_the_first_exit_returns_and_stops_the_others(manager):
    mgr = manager()
    start = time.monotonic()
    mgr.start("sleeper", py(SLEEP))
    mgr.start("quick", py("print('done')"))
    assert mgr.wait() == ("quick", 0)
    assert time.monotonic() - start < 2
    sleeper = mgr.procs[0].popen
    assert sleeper.returncode == -signal.SIGTERM
    assert gone(sleeper.pid, group=True)


def test_stop_takes_the_grandchildren_too(manager):
    child = (
        "import subprocess, sys, time\n"
        f"g = subprocess.Popen([sys.executable, '-c', {SLEEP!r}])\n"
        "print('grandchild', g.pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    mgr = manager()
    mgr.start("parent", py(child))
    grandchild = int(read_until(mgr, "grandchild").split()[1])
    assert not gone(grandchild, timeout=0)
    mgr.stop()
    assert gone(grandchild)
    assert gone(mgr.procs[0].popen.pid, group=True)


def test_a_process_that_ignores_sigterm_is_killed_after_the_grace_period(manager):
    mgr = manager(grace=0.5)
    mgr.start(
        "stubborn",
        py(
            "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
            "print('ready', flush=True); time.sleep(60)"
        ),
    )
    read_until(mgr, "ready")
    start = time.monotonic()
    mgr.stop()
    assert 0.4 < time.monotonic() - start < 2
    assert mgr.procs[0].popen.returncode == -signal.SIGKILL


def test_ctrl_c_stops_every_process(monkeypatch, manager):
    mgr = manager()
    mgr.start("api", py(SLEEP))
    mgr.start("worker", py(SLEEP))
    real_get, calls = mgr.lines.get, []

    def get(*args, **kwargs):
        if not calls:
            calls.append(1)
            raise KeyboardInterrupt
        return real_get(*args, **kwargs)

    monkeypatch.setattr(mgr.lines, "get", get)
    assert mgr.wait() == ("interrupt", 130)
    assert [p.popen.returncode for p in mgr.procs] == [-signal.SIGTERM, -signal.SIGTERM]
    assert all(gone(p.popen.pid, group=True) for p in mgr.procs)
    assert "stackyard | Ctrl-C: stopping every host process" in mgr.out.getvalue().splitlines()


def test_command_env_and_cwd_reach_the_child(tmp_path, monkeypatch, manager):
    monkeypatch.setenv("INHERITED", "yes")
    mgr = manager()
    mgr.start(
        "p",
        py(
            "import os; print(os.environ['GREETING'], os.environ['INHERITED'], os.getcwd())",
            env={"GREETING": "hello"},
            cwd=str(tmp_path),
        ),
    )
    assert mgr.wait() == ("p", 0)
    assert f"p | hello yes {os.path.realpath(tmp_path)}" in mgr.out.getvalue().splitlines()


def test_an_exit_is_noticed_while_a_child_still_holds_the_output(manager):
    # A reloader that dies and leaves its server behind, the pipe still open
    # (for 3 s, so that a regression fails rather than hangs).
    leader = (
        "import subprocess, sys\n"
        "g = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(3)'])\n"
        "print('grandchild', g.pid, flush=True)\n"
        "sys.exit(2)\n"
    )
    mgr = manager()
    start = time.monotonic()
    mgr.start("reloader", py(leader))
    assert mgr.wait() == ("reloader", 2)
    assert time.monotonic() - start < 2
    lines = mgr.out.getvalue().splitlines()
    grandchild = int(next(line for line in lines if line.startswith("reloader | grandchild")).split()[-1])
    assert gone(grandchild)
    assert lines[-1] == "stackyard | reloader exited with code 2; stopping the others"


def test_each_name_gets_its_colour_when_the_output_is_a_terminal(manager):
    mgr = manager()
    mgr.colour = True
    mgr.start("api", py("print('a')"))
    mgr.start("worker", py(SLEEP))
    mgr.wait()
    lines = mgr.out.getvalue().splitlines()
    assert "\x1b[36mapi    | \x1b[0ma" in lines
    assert lines[0].startswith("stackyard | started api (pid ")  # our own notes stay plain


@pytest.mark.parametrize("what", ["program", "cwd"])
def test_a_process_that_cannot_start_is_one_explained_error(tmp_path, manager, what):
    mgr = manager()
    missing = tmp_path / "nowhere"
    cmd = Command((str(missing),)) if what == "program" else py("pass", cwd=str(missing))
    with pytest.raises(StackyardError) as info:
        mgr.start("api", cmd)
    assert str(info.value) == (
        f"cannot start api: No such file or directory: {missing}: check the command and its working directory"
    )
    assert mgr.procs == []
