"""supervisord event listener of the all-in-one image: when a program enters FATAL
(it could not stay up in `startretries` tries: a broker it cannot use, a missing
setting), stop supervisord, so that the container exits and the engine's restart
policy (or Swarm) replaces it, instead of a container that serves half alive.
It writes the program's name to the file ALLINONE_FATAL_FILE names first:
supervise.py then exits 1, naming it.

The protocol (supervisor's docs, "Events"): say READY; read a header line of
`key:value` tokens, then `len` bytes of payload (`processname:worker ...`);
answer RESULT 2 / OK; again."""

from __future__ import annotations

import os
import pathlib
import signal
import sys
from collections.abc import Callable
from typing import BinaryIO

FATAL = "PROCESS_STATE_FATAL"


def tokens(raw: bytes) -> dict[str, str]:
    """`a:1 b:2` -> {"a": "1", "b": "2"}."""
    return dict(item.split(":", 1) for item in raw.decode().split() if ":" in item)


def listen(stdin: BinaryIO, stdout: BinaryIO, stderr: BinaryIO, on_fatal: Callable[[str], None]) -> None:
    """Answer supervisord's events until it closes stdin; `on_fatal(program)` for each FATAL."""
    while True:
        stdout.write(b"READY\n")
        stdout.flush()
        line = stdin.readline()
        if not line:
            return
        header = tokens(line)
        payload = tokens(stdin.read(int(header.get("len", "0"))))
        if header.get("eventname") == FATAL:
            program = payload.get("processname", "?")
            stderr.write(
                f"fatal | {program} entered FATAL: it could not stay up (its lines above say why); "
                "stopping supervisord: the container exits\n".encode()
            )
            stderr.flush()
            on_fatal(program)
        stdout.write(b"RESULT 2\nOK")
        stdout.flush()


def stop_supervisord(program: str) -> None:
    """Leave the program's name for supervise.py, then stop supervisord (this process's
    parent) the way `docker stop` does: every program stops gracefully."""
    path = os.environ.get("ALLINONE_FATAL_FILE")
    if path:
        pathlib.Path(path).write_text(program + "\n")
    os.kill(os.getppid(), signal.SIGTERM)


if __name__ == "__main__":
    listen(sys.stdin.buffer, sys.stdout.buffer, sys.stderr.buffer, stop_supervisord)
