"""Host processes with one merged, prefixed output stream.

Not honcho: its Process runs every command through `/bin/sh -c` (a shell and
a command string), which our rule "commands are data" forbids, and it gives
no per-process exit codes to decide the run's own. This is the part of it we
need: each process in its own process group (so a reloader's children go
with it), lines prefixed by name in a colour, the first exit stops the rest.
"""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from typing import TextIO

from stackyard.core.command import Command
from stackyard.errors import StackyardError

COLOURS = ["36", "33", "35", "32", "34", "31", "96", "93"]


@dataclass
class Proc:
    name: str
    colour: str
    popen: subprocess.Popen
    returncode: int | None = None  # set once it has exited


class Manager:
    """Start processes, print their output, stop them all when one ends or on Ctrl-C."""

    def __init__(self, out: TextIO | None = None, colour: bool | None = None, grace: float = 10.0):
        self.out = out or sys.stdout
        self.colour = self.out.isatty() if colour is None else colour
        self.grace = grace
        self.procs: list[Proc] = []
        # (process, line) it printed; (process, None) it exited; (None, text) a note of ours.
        self.lines: queue.Queue[tuple[Proc | None, str | None]] = queue.Queue()

    def start(self, name: str, cmd: Command, shown: str | None = None) -> None:
        """Start a process now; `shown` is its command line as printed (masked by the caller)."""
        try:
            popen = subprocess.Popen(
                cmd.argv,
                env={**os.environ, **cmd.env},
                cwd=cmd.cwd,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # its own group: killpg takes its children too
                text=True,
                errors="replace",
                bufsize=1,
            )
        except OSError as exc:  # a missing program or working directory
            raise StackyardError(
                f"cannot start {name}: {exc.strerror}: {exc.filename}",
                "check the command and its working directory",
            ) from exc
        p = Proc(name, COLOURS[len(self.procs) % len(COLOURS)], popen)
        self.procs.append(p)
        # Queued before its reader starts: the news of the start comes before its output.
        self.lines.put((None, f"started {name} (pid {popen.pid}): {shown if shown is not None else cmd}"))
        threading.Thread(target=self._pump, args=(p,), daemon=True).start()

    def _label(self, p: Proc | None) -> str:
        # Made when the line is written, not when the process starts: by then
        # every process has started and the names line up.
        width = max((len(q.name) for q in self.procs), default=0)
        if p is None:
            return f"{'stackyard':<{width}} | "
        label = f"{p.name:<{width}} | "
        return f"\x1b[{p.colour}m{label}\x1b[0m" if self.colour else label

    def _pump(self, p: Proc) -> None:
        assert p.popen.stdout
        reader = threading.Thread(target=self._read, args=(p, p.popen.stdout), daemon=True)
        reader.start()
        # The exit, not the end of output: a child left in its group (a reloader's
        # server) can hold the pipe open long after the process itself is gone.
        p.returncode = p.popen.wait()
        reader.join(timeout=0.5)  # its last lines before the news of its exit
        self.lines.put((p, None))

    def _read(self, p: Proc, stdout: TextIO) -> None:
        for line in stdout:
            self.lines.put((p, line.rstrip("\n")))

    def _write(self, p: Proc | None, text: str) -> None:
        try:
            self.out.write(self._label(p) + text + "\n")
            self.out.flush()
        except BrokenPipeError:
            pass

    def wait(self) -> tuple[str, int]:
        """Block until one process exits (its name, code) or Ctrl-C ("interrupt", 130);
        then stop every process and return."""
        first: tuple[str, int] | None = None
        try:
            while first is None:
                p, text = self.lines.get()
                if p is not None and text is None:
                    first = (p.name, p.returncode if p.returncode is not None else 1)
                    self._write(None, f"{p.name} exited with code {first[1]}; stopping the others")
                else:
                    self._write(p, text or "")
        except KeyboardInterrupt:
            first = ("interrupt", 130)
            self._write(None, "Ctrl-C: stopping every host process")
        self.stop()
        self._drain()
        return first

    def _drain(self) -> None:
        while True:
            try:
                p, text = self.lines.get_nowait()
            except queue.Empty:
                return
            if text is not None:
                self._write(p, text)

    def stop(self) -> None:
        """SIGTERM every process group, SIGKILL what is left after the grace period."""
        live = [p for p in self.procs if p.popen.poll() is None]
        for p in self.procs:
            _signal_group(p.popen.pid, signal.SIGTERM)
        deadline = time.monotonic() + self.grace
        for p in live:
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.popen.wait(timeout=max(0.1, deadline - time.monotonic()))
        for p in self.procs:
            _signal_group(p.popen.pid, signal.SIGKILL)  # stragglers in the group, if any
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.popen.wait(timeout=5)


def _signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)
