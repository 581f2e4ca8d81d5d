"""Shared fakes for the unit and adapter tiers: a Runner that records Commands
instead of running them, canned Compose output, and small Environment builders."""

from __future__ import annotations

import io
import pathlib
from collections.abc import Iterator, Sequence

from stackyard import config
from stackyard.config import Environment
from stackyard.core.command import Command
from stackyard.core.runner import Result, Runner
from stackyard.errors import CommandError

ROOT = pathlib.Path(__file__).resolve().parents[2]

SERVICES = "api\ndb\nredis\nworker\nlistener\nmigrate\n"

# `docker compose ps --all --format json` (JSON Lines, Compose >= 2.21).
PS_JSON_LINES = (
    "\n".join(
        [
            '{"Name":"stackyard-dev-api-1","Service":"api","State":"running","Health":"healthy","ExitCode":0,'
            '"Publishers":[{"URL":"127.0.0.1","TargetPort":8000,"PublishedPort":8000,"Protocol":"tcp"}]}',
            '{"Name":"stackyard-dev-db-1","Service":"db","State":"running","Health":"healthy","ExitCode":0,'
            '"Publishers":[{"URL":"127.0.0.1","TargetPort":5432,"PublishedPort":5432,"Protocol":"tcp"}]}',
            '{"Name":"stackyard-dev-migrate-1","Service":"migrate","State":"exited","Health":"","ExitCode":0,'
            '"Publishers":null}',
        ]
    )
    + "\n"
)

CONFIG_JSON = (
    '{"name":"stackyard-dev","services":{'
    '"api":{"ports":[{"mode":"ingress","host_ip":"127.0.0.1","target":8000,"published":"8000","protocol":"tcp"}]},'
    '"db":{"ports":[{"mode":"ingress","host_ip":"127.0.0.1","target":5432,"published":"5432","protocol":"tcp"}]},'
    '"redis":{},"worker":{},"listener":{},"migrate":{}}}'
)

# Checked in order; the first whose text occurs in the command line answers it.
DEFAULT_RESPONSES: dict[str, Result] = {
    " config --services": Result(0, SERVICES),
    " ps --all --format json": Result(0, PS_JSON_LINES),
    " config --format json": Result(0, CONFIG_JSON),
}


class FakeRunner(Runner):
    """Records every Command (with its mode) and answers from canned Results."""

    def __init__(self, responses: dict[str, Result] | None = None, log_lines: Sequence[str] = (), dry: bool = False):
        super().__init__(dry=dry, echo=False, out=io.StringIO())
        # The test's own answers first: they win over the defaults.
        self.responses = dict(responses or {})
        for text, result in DEFAULT_RESPONSES.items():
            self.responses.setdefault(text, result)
        self.log_lines = list(log_lines)
        self.commands: list[Command] = []
        self.modes: list[str] = []

    def answer(self, cmd: Command) -> Result:
        line = " ".join(cmd.argv)
        for text, result in self.responses.items():
            if text in line:
                return result
        return Result(0)

    def run(self, cmd: Command, mode="capture", check: bool = True, quiet: bool = False, **_) -> Result:
        self.commands.append(cmd)
        self.modes.append(mode)
        result = self.answer(cmd)
        if check and not result.ok:
            raise CommandError(cmd.argv, result.returncode, result.stderr, result.stdout)
        return result

    def lines(self, cmd: Command, keep=None) -> Iterator[str]:
        self.commands.append(cmd)
        self.modes.append("lines")
        for line in self.log_lines:
            if keep is None or keep(line):
                yield line

    def compose_commands(self) -> list[Command]:
        """The `docker compose` calls only (not git, not plain docker)."""
        return [c for c in self.commands if c.argv[:2] == ("docker", "compose")]

    def subcommands(self) -> list[tuple[str, ...]]:
        """Each recorded argv from its compose subcommand on (project, files and env files cut)."""
        return [after_base(c.argv) for c in self.commands]


def after_base(argv: Sequence[str]) -> tuple[str, ...]:
    """argv without `docker compose` and its global options (--project-name, --file, ...)."""
    global_opts = {"--project-name", "--file", "--env-file", "--profile", "--ansi"}
    rest = list(argv[2:])
    while rest and rest[0] in global_opts:
        rest = rest[2:]
    return tuple(rest)


def real_project() -> config.Project:
    return config.load(ROOT)


def tmp_env(tmp_path: pathlib.Path, name: str = "dev", **changes) -> Environment:
    """An Environment whose files all live under tmp_path (nothing from the repo)."""
    fields = dict(
        name=name,
        files=(tmp_path / "compose" / "compose.yaml", tmp_path / "compose" / f"compose.{name}.yaml"),
        env_files=(),
        project=f"demo-{name}",
    )
    fields.update(changes)
    return Environment(**fields)
