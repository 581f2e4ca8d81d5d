"""Host processes with one merged, prefixed output stream.

Not honcho: its Process runs every command through `/bin/sh -c` (a shell and
a command string), which our rule "commands are data" forbids, and it gives
no per-process exit codes to decide the run's own. This is the part of it we
need: each process in its own process group (so a reloader's children go
with it), lines prefixed by name in a colour, the first exit stops the rest.
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import TextIO

from stackyard.core.command import Command

COLOURS = ["36", "33", "35", "32", "34", "31", "96", "93"]


@dataclass
class Proc:
    name: str
    cmd: Command
    popen: subprocess.Popen | None = None
    returncode: int | None = None
    pids: set[int] = field(default_factory=set)
    shown: str = ""


class Manager:
    """Start processes, print their output, stop them all when one ends or on Ctrl-C."""

    def __init__(self, out: TextIO | None = None, colour: bool | None = None, grace: float = 10.0):
        self.out = out or sys.stdout
        self.colour = self.out.isatty() if colour is None else colour
        self.grace = grace
        self.procs: list[Proc] = []
        self.lines: queue.Queue = queue.Queue()
        self.width = 0

    def add(self, name: str, cmd: Command, shown: str | None = None) -> None:
        """Add a process; `shown` is its command line as printed (masked by the caller)."""
        self.procs.append(Proc(name, cmd, shown=shown if shown is not None else str(cmd)))
        self.width = max(self.width, len(name))

    def _prefix(self, i: int, name: str) -> str:
        label = f"{name:<{self.width}} | "
        return f"\x1b[{COLOURS[i % len(COLOURS)]}m{label}\x1b[0m" if self.colour else label

    def print(self, name: str, text: str) -> None:
        self.lines.put((name, text))

    def start(self) -> None:
        for i, p in enumerate(self.procs):
            env = {**os.environ, **p.cmd.env}
            p.popen = subprocess.Popen(
                p.cmd.argv,
                env=env,
                cwd=p.cmd.cwd,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # its own group: killpg takes its children too
                text=True,
                errors="replace",
                bufsize=1,
            )
            p.pids.add(p.popen.pid)
            threading.Thread(target=self._pump, args=(i, p), daemon=True).start()
            self.print("stackyard", f"started {p.name} (pid {p.popen.pid}): {p.shown}")

    def _pump(self, i: int, p: Proc) -> None:
        assert p.popen and p.popen.stdout
        reader = threading.Thread(target=self._read, args=(self._prefix(i, p.name), p.popen.stdout), daemon=True)
        reader.start()
        # The exit, not the end of output: a child left in its group (a reloader's
        # server) can hold the pipe open long after the process itself is gone.
        p.returncode = p.popen.wait()
        reader.join(timeout=0.5)  # its last lines before the news of its exit
        self.lines.put((None, p))

    def _read(self, prefix: str, stdout: TextIO) -> None:
        for line in stdout:
            self.lines.put((prefix, line.rstrip("\n")))

    def _write(self, prefix: str, text: str) -> None:
        if prefix == "stackyard":
            prefix = f"{'stackyard':<{self.width}} | "
        try:
            self.out.write(prefix + text + "\n")
            self.out.flush()
        except BrokenPipeError:
            pass

    def wait(self) -> tuple[str, int]:
        """Block until one process exits (its name, code) or Ctrl-C ("interrupt", 130);
        then stop every process and return."""
        first: tuple[str, int] | None = None
        try:
            while first is None:
                prefix, item = self.lines.get()
                if prefix is None:
                    first = (item.name, item.returncode if item.returncode is not None else 1)
                    self._write("stackyard", f"{item.name} exited with code {first[1]}; stopping the others")
                else:
                    self._write(prefix, item)
        except KeyboardInterrupt:
            first = ("interrupt", 130)
            self._write("stackyard", "Ctrl-C: stopping every host process")
        self.stop()
        self._drain()
        return first

    def _drain(self) -> None:
        while True:
            try:
                prefix, item = self.lines.get_nowait()
            except queue.Empty:
                return
            if prefix is not None:
                self._write(prefix, item)

    def stop(self) -> None:
        """SIGTERM every process group, SIGKILL what is left after the grace period."""
        live = [p for p in self.procs if p.popen and p.popen.poll() is None]
        for p in self.procs:
            if p.popen:
                _signal_group(p.popen.pid, signal.SIGTERM)
        deadline = time.monotonic() + self.grace
        for p in live:
            try:
                p.popen.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
        for p in self.procs:
            if p.popen:
                _signal_group(p.popen.pid, signal.SIGKILL)  # stragglers in the group, if any
                try:
                    p.popen.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    pass

    def pids(self) -> list[int]:
        return [p.popen.pid for p in self.procs if p.popen]


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass
