"""Run a command with every line of its output prefixed with a name (`worker | ...`):
supervisord passes its programs' output on as it is, and in the all-in-one
container three programs share the container's stdout and stderr.

    python /opt/allinone/named.py NAME COMMAND [ARG...]

Its exit status is the command's (128 + N when signal N ended it). It ends when
the command ends, even while something the command left behind still holds the
output open (the pool processes of a Celery worker killed with -9), so that
supervisord sees the program exit and restarts it.

It does not act on the stop signals itself: supervisord sends them to the
program's whole process group (stopasgroup), which the command is in, and a
forwarded copy would reach the command twice (two SIGINTs are Celery's cold
shutdown). A handler, not SIG_IGN: an ignored signal would stay ignored in the
command, a handled one is back to its default there."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from typing import BinaryIO

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT, signal.SIGHUP)
#: Seconds the last lines have to come through once the command has ended.
DRAIN = 1.0


def copy(source: BinaryIO, sink: BinaryIO, prefix: bytes) -> None:
    """Each line of `source` to `sink` with `prefix`, as it comes."""
    for line in iter(source.readline, b""):
        sink.write(prefix + line if line.endswith(b"\n") else prefix + line + b"\n")
        sink.flush()


def exit_status(returncode: int) -> int:
    """A shell's way: the code, or 128 + N for a command ended by signal N."""
    return returncode if returncode >= 0 else 128 - returncode


def run(name: str, command: list[str], stdout: BinaryIO, stderr: BinaryIO) -> int:
    for signum in STOP_SIGNALS:
        signal.signal(signum, lambda *_: None)
    prefix = f"{name} | ".encode()
    try:
        child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    except OSError as exc:
        stderr.write(prefix + f"cannot run {command[0]}: {exc.strerror}\n".encode())
        stderr.flush()
        return 127
    copies = [
        threading.Thread(target=copy, args=(child.stdout, stdout, prefix), daemon=True),
        threading.Thread(target=copy, args=(child.stderr, stderr, prefix), daemon=True),
    ]
    for thread in copies:
        thread.start()
    code = child.wait()
    for thread in copies:
        thread.join(DRAIN)
    return exit_status(code)


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print("usage: named.py NAME COMMAND [ARG...]", file=sys.stderr)
        return 2
    return run(argv[0], argv[1:], sys.stdout.buffer, sys.stderr.buffer)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
