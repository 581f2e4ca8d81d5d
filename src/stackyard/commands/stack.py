"""Pure builders for `docker stack` calls that need no swarm (nothing here runs)."""

from __future__ import annotations

import pathlib

from stackyard.core.command import Command


def config(path: str | pathlib.Path) -> Command:
    """The stack file at `path` ("-": stdin) through the docker CLI's own stack loader:
    exit 1 with the reason on stderr where `docker stack deploy` would refuse it. It
    reads the file only: no engine, no swarm."""
    return Command(("docker", "stack", "config", "--compose-file", str(path)))
