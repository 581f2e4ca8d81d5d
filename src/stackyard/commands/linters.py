"""Pure builders for the external linters' calls; each asks for the output format
that lint/tools.py parses."""

from __future__ import annotations

import pathlib
from collections.abc import Sequence

from stackyard.core.command import Command

# Each linter runs in the project root, on paths relative to it: its findings name files as the user sees them.


def hadolint(root: pathlib.Path, files: Sequence[str]) -> Command:
    return Command(("hadolint", "--format", "json", *files), cwd=str(root))


def ruff_check(root: pathlib.Path) -> Command:
    return Command(("ruff", "check", "--output-format", "concise", "--quiet", "."), cwd=str(root))


def ruff_format(root: pathlib.Path) -> Command:
    return Command(("ruff", "format", "--check", "--output-format", "concise", "--quiet", "."), cwd=str(root))


def shellcheck(root: pathlib.Path, files: Sequence[str]) -> Command:
    return Command(("shellcheck", "--format", "gcc", *files), cwd=str(root))


def yamllint(root: pathlib.Path, files: Sequence[str]) -> Command:
    return Command(("yamllint", "--format", "parsable", *files), cwd=str(root))
