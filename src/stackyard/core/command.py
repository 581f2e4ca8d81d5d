"""Commands as data: an argv with its environment and working directory."""

from __future__ import annotations

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

    def __post_init__(self) -> None:
        object.__setattr__(self, "argv", tuple(str(a) for a in self.argv))

    def __str__(self) -> str:
        return shlex.join(self.argv)

    def with_args(self, *args: str) -> Command:
        return Command(self.argv + tuple(args), self.env, self.cwd)
