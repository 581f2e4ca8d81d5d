"""The one place that runs commands: echoes the quoted line, honours dry-run,
and raises CommandError (argv, exit code, stderr) on failure."""

from __future__ import annotations

import collections
import contextlib
import fcntl
import os
import pty
import queue
import re
import signal
import subprocess
import sys
import termios
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Literal, TextIO

from stackyard.core.command import Command
from stackyard.errors import CommandError, CommandTimeout, Interrupted, StackyardError

Mode = Literal["capture", "stream", "interactive"]


@dataclass
class Result:
    returncode: int
    stdout: str = ""
    stderr: str = ""

    @property
    def ok(self) -> bool:
        return self.returncode == 0


class Runner:
    """Run Commands.

    - capture: output collected, nothing shown (state queries).
    - stream: output shown as it comes; stderr is also kept for the error.
    - interactive: stdin/stdout/stderr are the terminal's (exec, shell).
    """

    def __init__(
        self,
        dry: bool = False,
        echo: bool = True,
        out: TextIO | None = None,
        env: dict[str, str] | None = None,
        target: str | None = None,
    ):
        self.dry = dry
        self.echo = echo
        self.out = out or sys.stderr
        #: Added to every command's environment (a throwaway project's ports, ...).
        self.env = dict(env or {})
        #: The target engine's address (DOCKER_HOST form: `--host`, an environment's `host`),
        #: given to every command but those marked `local_engine`; None: every command talks
        #: to the docker CLI's default engine (the process's DOCKER_HOST or context).
        self.target = target

    def _announce(self, cmd: Command) -> None:
        self.announce(str(cmd))

    def announce(self, line: str) -> None:
        """Echo what is about to run (a command line, or an Engine API change), as
        `$ line`, and as `[dry-run] $ line` under dry-run."""
        if self.echo or self.dry:
            prefix = "[dry-run] $ " if self.dry else "$ "
            print(prefix + line, file=self.out, flush=True)

    def engine_env(self, local: bool = False) -> dict[str, str]:
        """The variables that choose the engine: the target's DOCKER_HOST, or none (the
        local engine: what the process environment says) when `local` or no target."""
        return {"DOCKER_HOST": self.target} if self.target and not local else {}

    def _env(self, cmd: Command) -> dict[str, str] | None:
        added = {**self.env, **self.engine_env(cmd.local_engine), **cmd.env}
        return {**os.environ, **added} if added else None

    def _popen(self, cmd: Command, **options) -> subprocess.Popen:
        """Start cmd with its environment and directory; no stdin unless given."""
        options.setdefault("stdin", subprocess.DEVNULL)
        return subprocess.Popen(cmd.argv, env=self._env(cmd), cwd=cmd.cwd, **options)

    def run(
        self,
        cmd: Command,
        mode: Mode = "capture",
        check: bool = True,
        quiet: bool = False,
        stdin: str | None = None,
        readonly: bool = False,
        timeout: float | None = None,
    ) -> Result:
        """Run cmd; with check, a non-zero exit raises CommandError. `stdin` (capture
        mode) is written to the command's standard input: the way to pass a secret.
        A `readonly` command (a state query) runs even in dry-run: it changes nothing.
        After `timeout` seconds the command is stopped and CommandTimeout raised."""
        dry = self.dry and not readonly
        if not quiet or dry:
            self._announce(cmd)
        if dry:
            return Result(0)
        try:
            if mode == "capture":
                proc = subprocess.run(
                    cmd.argv,
                    env=self._env(cmd),
                    cwd=cmd.cwd,
                    capture_output=True,
                    text=True,
                    timeout=timeout,
                    **({"input": stdin} if stdin is not None else {"stdin": subprocess.DEVNULL}),
                )
                result = Result(proc.returncode, proc.stdout, proc.stderr)
            elif mode == "interactive":
                proc = subprocess.run(cmd.argv, env=self._env(cmd), cwd=cmd.cwd, timeout=timeout)
                result = Result(proc.returncode)
            else:
                result = self._stream(cmd, timeout)
        except subprocess.TimeoutExpired as exc:
            raise CommandTimeout(cmd.argv, timeout or 0) from exc
        except FileNotFoundError as exc:
            raise _not_found(cmd, exc) from exc
        except KeyboardInterrupt as exc:
            raise Interrupted() from exc
        if check and not result.ok:
            raise CommandError(cmd.argv, result.returncode, result.stderr, result.stdout)
        return result

    def run_files(
        self,
        cmd: Command,
        *,
        stdin_path=None,
        stdout_path=None,
        check: bool = True,
        readonly: bool = False,
        timeout: float | None = None,
    ) -> Result:
        """Run cmd with its stdin read from / stdout written to files, as bytes
        (a database dump); without stdout_path, stdout is captured as text.
        stderr is kept for the error. A `readonly` command runs even in dry-run.
        After `timeout` seconds the command is stopped and CommandTimeout raised."""
        dry = self.dry and not readonly
        if not readonly:
            self._announce(cmd)
        if dry:
            return Result(0)
        with contextlib.ExitStack() as stack:
            stdin = stack.enter_context(open(stdin_path, "rb")) if stdin_path else subprocess.DEVNULL
            stdout = stack.enter_context(open(stdout_path, "wb")) if stdout_path else subprocess.PIPE
            try:
                proc = subprocess.run(
                    cmd.argv,
                    env=self._env(cmd),
                    cwd=cmd.cwd,
                    stdin=stdin,
                    stdout=stdout,
                    stderr=subprocess.PIPE,
                    timeout=timeout,
                )
            except subprocess.TimeoutExpired as exc:
                raise CommandTimeout(cmd.argv, timeout or 0) from exc
            except FileNotFoundError as exc:
                raise _not_found(cmd, exc) from exc
            except KeyboardInterrupt as exc:
                raise Interrupted() from exc
        out = proc.stdout.decode(errors="replace") if proc.stdout is not None else ""
        result = Result(proc.returncode, out, proc.stderr.decode(errors="replace"))
        if check and not result.ok:
            raise CommandError(cmd.argv, result.returncode, result.stderr)
        return result

    def _stream(self, cmd: Command, timeout: float | None = None) -> Result:
        """Show the output as it comes and keep stderr for the error message.
        On a terminal the child gets a pseudo-terminal, so Compose draws its
        live progress instead of one line per event."""
        if _isatty(sys.stderr):
            return self._stream_pty(cmd, timeout)
        proc = self._popen(cmd, stderr=subprocess.PIPE, text=True, bufsize=1)
        kept: list[str] = []

        def pump() -> None:
            assert proc.stderr is not None
            for line in proc.stderr:
                kept.append(line)
                sys.stderr.write(line)
                sys.stderr.flush()

        t = threading.Thread(target=pump, daemon=True)
        t.start()
        try:
            code = proc.wait(timeout=timeout)
        except (KeyboardInterrupt, subprocess.TimeoutExpired):
            _stop(proc)
            raise
        t.join(timeout=5)
        return Result(code, "", "".join(kept))

    def _stream_pty(self, cmd: Command, timeout: float | None = None) -> Result:
        primary, secondary = pty.openpty()
        _copy_window_size(sys.stderr.fileno(), secondary)
        proc = self._popen(cmd, stdout=secondary, stderr=secondary, close_fds=True)
        os.close(secondary)
        kept = bytearray()
        timer = threading.Timer(timeout, _stop, (proc,)) if timeout else None
        if timer:
            timer.start()
        try:
            while True:
                try:
                    chunk = os.read(primary, 65536)
                except OSError:  # EIO: the child closed the terminal
                    break
                if not chunk:
                    break
                kept += chunk
                os.write(sys.stderr.fileno(), chunk)
            code = proc.wait()
        except KeyboardInterrupt:
            _stop(proc)
            raise
        finally:
            os.close(primary)
            if timer:
                timer.cancel()
        if timer and timer.finished.is_set() and code < 0:
            raise subprocess.TimeoutExpired(cmd.argv, timeout or 0)
        text = ANSI.sub("", kept.decode(errors="replace")).replace("\r", "\n")
        return Result(code, "", text)

    def lines(self, cmd: Command, keep: Callable[[str], bool] | None = None) -> Iterator[str]:
        """Yield cmd's stdout line by line (a long-running stream, e.g. logs -f).
        Ctrl-C stops the child and raises Interrupted; a failure raises CommandError."""
        self._announce(cmd)
        if self.dry:
            return
        try:
            proc = self._popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, errors="replace")
        except FileNotFoundError as exc:
            raise _not_found(cmd, exc) from exc
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                if keep is None or keep(line):
                    yield line
            code = proc.wait()
        except KeyboardInterrupt as exc:
            _stop(proc)
            raise Interrupted() from exc
        finally:
            if proc.poll() is None:
                _stop(proc)
        if code != 0:
            raise CommandError(cmd.argv, code, proc.stderr.read() if proc.stderr else "")

    def merged_lines(self, cmds: Mapping[str, Command], idle: float | None = None) -> Iterator[tuple[str, str]]:
        """Run the named commands at once and yield (name, line) from any of them as the
        lines come: one stream of several long-running ones (the logs of each Swarm
        service, followed). A command's stderr is in its stream (a service's log lines
        are on both). It ends when every command has; then one that failed raises
        CommandError with its last lines. Ctrl-C (or the caller leaving) stops them all;
        Ctrl-C raises Interrupted. `idle`: once no line has come from any of them for that
        many seconds, those still running are stopped and taken as ended, without error
        (`docker service logs` without --follow may hang once its lines are out:
        docker/cli#4678)."""
        for cmd in cmds.values():
            self._announce(cmd)
        if self.dry:
            return
        found: queue.Queue[tuple[str, str | None]] = queue.Queue()
        procs: dict[str, subprocess.Popen] = {}
        last: dict[str, collections.deque[str]] = {}
        stalled: set[str] = set()
        try:
            for name, cmd in cmds.items():
                try:
                    proc = self._popen(
                        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace"
                    )
                except FileNotFoundError as exc:
                    raise _not_found(cmd, exc) from exc
                procs[name], last[name] = proc, collections.deque(maxlen=MERGED_KEPT)
                threading.Thread(target=_queue_lines, args=(name, proc.stdout, found), daemon=True).start()
            running = len(procs)
            while running:
                try:
                    name, line = found.get(timeout=idle)
                except queue.Empty:
                    stalled = {n for n, proc in procs.items() if proc.poll() is None}
                    break
                if line is None:
                    running -= 1
                    continue
                last[name].append(line)
                yield name, line
        except KeyboardInterrupt as exc:
            raise Interrupted() from exc
        finally:
            for proc in procs.values():
                if proc.poll() is None:
                    _stop(proc)
        for name, proc in procs.items():
            code = proc.wait()
            if code != 0 and name not in stalled:
                raise CommandError(cmds[name].argv, code, "".join(last[name]))


ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
#: The last lines of each merged command kept for its error (its stderr is in them).
MERGED_KEPT = 20


def _queue_lines(name: str, stream: TextIO, into: queue.Queue) -> None:
    """Each line of a merged command's output, then None: it has ended."""
    for line in stream:
        into.put((name, line))
    into.put((name, None))


def _not_found(cmd: Command, exc: FileNotFoundError) -> StackyardError:
    if cmd.cwd and not os.path.isdir(cmd.cwd):
        return StackyardError(f"working directory {cmd.cwd} does not exist")
    return StackyardError(f"{cmd.argv[0]} not found on PATH", "install Docker (with the Compose v2 plugin)")


def _isatty(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _copy_window_size(src_fd: int, dst_fd: int) -> None:
    try:
        size = fcntl.ioctl(src_fd, termios.TIOCGWINSZ, b"\0" * 8)
        fcntl.ioctl(dst_fd, termios.TIOCSWINSZ, size)
    except OSError:
        pass


def _stop(proc: subprocess.Popen) -> None:
    """End a child that Ctrl-C may already have reached (same process group)."""
    try:
        proc.terminate()
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    except KeyboardInterrupt:  # a second Ctrl-C: stop waiting
        proc.kill()


#: The signals that stop a deploy as Ctrl-C does: a closed terminal (SIGHUP), a CI
#: job cancelled or `kill` (SIGTERM).
STOPPING = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class Interrupts:
    """For an operation that must clean up after itself (a deploy, a rollback):
    SIGTERM and SIGHUP raise KeyboardInterrupt, as Ctrl-C does, so they take the
    same path; once `cleaning()` (or once a first signal came), further signals are
    held and reported, not raised: they must not abort the cleanup halfway. The
    previous handlers come back on exit. Outside the main thread (where Python
    cannot install handlers) it does nothing."""

    def __init__(self, out: TextIO | None = None):
        self.out = out or sys.stderr
        self.held: list[str] = []
        self._cleaning = False
        self._saved: dict[int, object] = {}

    def __enter__(self) -> Interrupts:
        if threading.current_thread() is threading.main_thread():
            self._saved = {sig: signal.signal(sig, self._handle) for sig in STOPPING}
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._saved.items():
            signal.signal(sig, handler)  # type: ignore[arg-type]

    def cleaning(self) -> None:
        """From now on, hold signals instead of raising them."""
        self._cleaning = True

    def _handle(self, signum: int, frame: object) -> None:
        name = signal.Signals(signum).name
        if self._cleaning:
            self.held.append(name)
            print(f"stackyard: {name} received during the cleanup; it finishes first", file=self.out, flush=True)
            return
        self._cleaning = True  # a second signal must not stop the cleanup this one starts
        raise KeyboardInterrupt(name)
