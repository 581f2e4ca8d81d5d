"""What every operation works with: the project, one environment, a runner,
and where to print. Failed compose calls come out as one explained error."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TextIO

from stackyard.commands import compose
from stackyard.config import Environment, Project
from stackyard.core.command import Command
from stackyard.core.runner import Mode, Result, Runner
from stackyard.engine import state
from stackyard.errors import CommandError, StackyardError


@dataclass
class Session:
    project: Project
    env: Environment
    runner: Runner
    out: TextIO = field(default_factory=lambda: sys.stdout)
    #: The local engine's unix socket for fast reads (engine.py); None: ask Compose.
    socket: str | None = None
    _config: dict | None = field(default=None, repr=False)

    def run(self, cmd: Command, mode: Mode = "capture", check: bool = True, quiet: bool = False) -> Result:
        try:
            return self.runner.run(cmd, mode=mode, check=check, quiet=quiet)
        except CommandError as err:
            raise self.explain(err) from err

    def explain(self, err: CommandError) -> StackyardError:
        """The clearest error for a failed call; the raw one if nothing better is known."""
        from stackyard.engine import (
            diagnose,  # only on failure: keeps the happy path's imports small
            ports,
        )

        text = err.stderr + err.stdout
        if diagnose.needs_config(text):
            cfg = self._config_quietly()
            raw = self._config_quietly(interpolate=False)
            return (
                diagnose.explain(
                    err,
                    state.published_ports(cfg),
                    state.services(cfg),
                    self.env.files,
                    holder=ports.holder,
                    port_vars=diagnose.port_variables(raw),
                )
                or err
            )
        return diagnose.explain(err, files=self.env.files) or err

    def _config_quietly(self, interpolate: bool = True) -> dict:
        cmd = compose.config_json(self.env)
        if not interpolate:
            cmd = compose.config_json_raw(self.env)
        try:
            res = self.runner.run(cmd, quiet=True, readonly=True)
        except StackyardError:
            return {"services": {}}
        return state.parse_config(res.stdout)

    def refresh_env(self) -> None:
        """Re-read the environment's env files (after one was created)."""
        import dataclasses

        from stackyard.config import env_files

        self.env = dataclasses.replace(self.env, env_files=env_files(self.project.env_dir, self.env.name))
        self._config = None

    def read(self, cmd: Command) -> Result:
        """A state query: quiet, and run even under `inv --dry` (it changes nothing)."""
        try:
            return self.runner.run(cmd, quiet=True, readonly=True)
        except CommandError as err:
            raise self.explain(err) from err

    def config(self) -> dict:
        """The merged, interpolated compose config of this environment (read once)."""
        if self._config is None:
            self._config = state.parse_config(self.read(compose.config_json(self.env)).stdout)
        return self._config

    def containers(self) -> list[state.Container]:
        """The project's containers: from the local engine's API when there is
        one (fast, see engine.py), else from `docker compose ps`."""
        if self.socket:
            from stackyard.engine import api as engine

            try:
                return state.parse_engine(engine.project_containers(self.socket, self.env.project))
            except (OSError, ValueError):
                pass  # fall back to Compose, which will explain the problem
        return state.parse_ps(self.read(compose.ps_json(self.env)).stdout)

    def check_services(self, services: Sequence[str]) -> None:
        """An unknown service name is an error that lists the known ones."""
        if not services:
            return
        from stackyard.engine.diagnose import unknown_service

        known = self.read(compose.config_services(self.env)).stdout.split()
        for name in services:
            if name not in known:
                raise unknown_service(name, sorted(known))

    def print(self, text: str = "") -> None:
        print(text, file=self.out, flush=True)
