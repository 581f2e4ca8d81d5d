"""Commands as data: an argv with its environment and working directory, and the
engine it talks to."""

from __future__ import annotations

import dataclasses
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Command:
    """One process to run. Built by pure functions, executed by the runner."""

    argv: tuple[str, ...]
    #: Variables added to the inherited environment (not a replacement).
    env: Mapping[str, str] = field(default_factory=dict)
    cwd: str | None = None
    #: It talks to the local engine (the docker CLI's default: the process's DOCKER_HOST
    #: or context), never to the target (`--host`): a deploy's build, before its images
    #: are shipped. The runner gives every other command the target's DOCKER_HOST.
    local_engine: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "argv", tuple(str(a) for a in self.argv))

    def __str__(self) -> str:
        return shlex.join(self.argv)

    def with_args(self, *args: str) -> Command:
        return dataclasses.replace(self, argv=self.argv + tuple(args))

    def on_local_engine(self) -> Command:
        """This command, run against the local engine rather than the target."""
        return dataclasses.replace(self, local_engine=True)
