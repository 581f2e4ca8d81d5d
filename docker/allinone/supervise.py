"""The all-in-one container's command: supervisord in the foreground (config
/etc/supervisord.conf), handed the container's stop signals, with an exit status
that says how it ended: 1 when a program entered FATAL (fatal.py stopped
supervisord, naming it), else supervisord's own (0 after `docker stop`). So a
restart policy of `on-failure` replaces the container too, and `docker ps -a`
shows it failed. (supervisord exits 0 however it was stopped.)

    python /opt/allinone/supervise.py"""

from __future__ import annotations

import os
import pathlib
import signal
import subprocess
import sys

CONFIG = "/etc/supervisord.conf"
#: Where fatal.py names the program that entered FATAL; /tmp is writable in a read-only container.
FATAL_FILE = pathlib.Path("/tmp/allinone.fatal")
FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT, signal.SIGHUP)


def exit_status(returncode: int, fatal: str | None) -> int:
    if fatal:
        return 1
    return returncode if returncode >= 0 else 128 - returncode


def main() -> int:
    # A container started again keeps its /tmp where /tmp is no tmpfs: a name left from its last run is no news.
    FATAL_FILE.unlink(missing_ok=True)
    started: list[subprocess.Popen] = []

    def forward(signum: int, _frame) -> None:
        for child in started:
            child.send_signal(signum)

    for signum in FORWARDED:  # set before supervisord starts: no stop signal is missed
        signal.signal(signum, forward)
    started.append(
        subprocess.Popen(
            ["supervisord", "--nodaemon", "--configuration", CONFIG],
            env={**os.environ, "ALLINONE_FATAL_FILE": str(FATAL_FILE)},
        )
    )
    code = started[0].wait()
    fatal = FATAL_FILE.read_text().strip() if FATAL_FILE.exists() else None
    if fatal:
        print(f"supervise | exiting 1: program {fatal} entered FATAL (see its lines above)", file=sys.stderr)
    return exit_status(code, fatal)


if __name__ == "__main__":
    sys.exit(main())
