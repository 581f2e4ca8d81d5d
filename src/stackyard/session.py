"""What every operation works with: the project, one environment, a runner,
and where to print. It is the one door to running a command: run, read,
stream, lines and run_files all pass through the runner, and a failed call
comes out as one explained error."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import pathlib
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TextIO

from stackyard.commands import compose
from stackyard.config import Environment, Project, compose_project_dir, env_files
from stackyard.core.command import Command
from stackyard.core.runner import Mode, Result, Runner
from stackyard.engine import api, diagnose, ports, state
from stackyard.errors import CommandError, StackyardError

if TYPE_CHECKING:
    from docker import DockerClient


@dataclass
class Session:
    project: Project
    env: Environment
    runner: Runner
    out: TextIO = field(default_factory=lambda: sys.stdout)
    #: The Engine API client (engine/api.py), made by engine() on first use; tests give a fake one.
    client: DockerClient | None = field(default=None, repr=False)
    _config: dict | None = field(default=None, repr=False)
    #: The local engine's client, made by local_engine() on first use (when it is not the target's).
    local_client: DockerClient | None = field(default=None, repr=False)

    @property
    def dry(self) -> bool:
        """`inv --dry`: commands that change something are printed, not run."""
        return self.runner.dry

    @property
    def target(self) -> str | None:
        """The target engine's address (`--host`, the environment's `host`); None: the local engine."""
        return self.runner.target

    @property
    def remote(self) -> bool:
        """The target is another engine than the local one (the docker CLI's default, which
        builds): a deploy ships its images there. The same address given twice is the same one."""
        return self.target is not None and self.target != os.environ.get("DOCKER_HOST")

    # -- the one door ------------------------------------------------------------------

    def run(
        self,
        cmd: Command,
        mode: Mode = "capture",
        check: bool = True,
        quiet: bool = False,
        stdin: str | None = None,
        timeout: float | None = None,
    ) -> Result:
        """Run a command that may change something (printed, not run, under `inv --dry`)."""
        with self._explained():
            return self.runner.run(cmd, mode=mode, check=check, quiet=quiet, stdin=stdin, timeout=timeout)

    def stream(self, cmd: Command, check: bool = True, timeout: float | None = None) -> Result:
        """Run a command with its output shown as it comes (build, up, down)."""
        return self.run(cmd, mode="stream", check=check, timeout=timeout)

    def read(self, cmd: Command, check: bool = True, stdin: str | None = None, timeout: float | None = None) -> Result:
        """A state query: quiet, and run even under `inv --dry` (it changes nothing)."""
        with self._explained():
            return self.runner.run(cmd, check=check, quiet=True, stdin=stdin, readonly=True, timeout=timeout)

    def lines(self, cmd: Command, keep: Callable[[str], bool] | None = None) -> Iterator[str]:
        """A long-running stream (logs -f), line by line."""
        with self._explained():
            yield from self.runner.lines(cmd, keep=keep)

    def merged_lines(self, cmds: Mapping[str, Command], idle: float | None = None) -> Iterator[tuple[str, str]]:
        """Several long-running streams at once (the logs of each Swarm service), as
        (name, line) pairs as the lines come; `idle`: Runner.merged_lines'."""
        with self._explained():
            yield from self.runner.merged_lines(cmds, idle)

    def run_files(
        self,
        cmd: Command,
        *,
        stdin_path: pathlib.Path | None = None,
        stdout_path: pathlib.Path | None = None,
        check: bool = True,
        readonly: bool = False,
        timeout: float | None = None,
    ) -> Result:
        """A command whose stdin or stdout is a file, as bytes (a database dump); after
        `timeout` seconds it is stopped (CommandTimeout)."""
        with self._explained():
            return self.runner.run_files(
                cmd, stdin_path=stdin_path, stdout_path=stdout_path, check=check, readonly=readonly, timeout=timeout
            )

    def for_env(self, env: Environment) -> Session:
        """A session on another environment of the project, with the same runner (and target) and output."""
        return Session(self.project, env, self.runner, self.out, client=self.client, local_client=self.local_client)

    def announce(self, line: str) -> None:
        """Echo an action that is not a command (an Engine API write) as commands are echoed."""
        self.runner.announce(line)

    def add_variables(self, values: Mapping[str, str]) -> None:
        """Variables given to every command from now on, above the env files (a throwaway
        project's ports, the stand-in secrets a dry run's reads need)."""
        self.runner.env.update(values)

    @contextlib.contextmanager
    def _explained(self) -> Iterator[None]:
        """The one translation of a failed command into the clearest error."""
        try:
            yield
        except CommandError as err:
            raise self.explain(err) from err

    # -- errors ------------------------------------------------------------------------

    def explain(self, err: CommandError) -> StackyardError:
        """The clearest error for a failed call; the raw one if nothing better is known."""
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
        cmd = compose.config_json(self.env) if interpolate else compose.config_json_raw(self.env)
        try:
            res = self.runner.run(cmd, quiet=True, readonly=True)
        except StackyardError:
            return {"services": {}}
        return state.parse_config(res.stdout)

    # -- state -------------------------------------------------------------------------

    def refresh_env(self) -> None:
        """Re-read the environment's env files (after one was created)."""
        files = env_files(self.project.env_dir, self.env.name, compose_project_dir(self.env))
        self.env = dataclasses.replace(self.env, env_files=files)
        self._config = None

    def config(self) -> dict:
        """The merged, interpolated compose config of this environment (read once)."""
        if self._config is None:
            self._config = state.parse_config(self.read(compose.config_json(self.env)).stdout)
        return self._config

    def engine(self) -> DockerClient:
        """The Engine API client for the target engine (`--host`, the environment's `host`;
        else the local one)."""
        if self.client is None:
            self.client = api.client({**self.runner.env, **self.runner.engine_env()})
        return self.client

    def local_engine(self) -> DockerClient:
        """The Engine API client for the local engine: the docker CLI's default (the process's
        DOCKER_HOST or context), where a deploy builds; the target's, when that is the same."""
        if not self.remote:
            return self.engine()
        if self.local_client is None:
            self.local_client = api.client({**self.runner.env, **self.runner.engine_env(local=True)})
        return self.local_client

    def containers(self) -> list[state.Container]:
        """The project's containers, from the Engine API (one request). When no engine
        answers there, `docker compose ps` is asked: it finds one the SDK cannot
        (a context of another kind), or its error is explained in one line."""
        try:
            rows = api.containers(self.engine(), self.env.project)
        except api.Unreachable:
            return state.parse_ps(self.read(compose.ps_json(self.env)).stdout)
        return state.parse_engine(rows)

    def check_services(self, services: Sequence[str]) -> None:
        """An unknown service name is an error that lists the known ones."""
        if not services:
            return
        known = self.read(compose.config_services(self.env)).stdout.split()
        for name in services:
            if name not in known:
                raise diagnose.unknown_service(name, sorted(known))

    def print(self, text: str = "") -> None:
        print(text, file=self.out, flush=True)
