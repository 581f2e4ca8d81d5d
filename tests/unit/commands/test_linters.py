"""commands.linters: the exact argv of each external linter."""

from __future__ import annotations

import pathlib

from stackyard.commands import linters
from stackyard.core.command import Command

ROOT = pathlib.Path("/src/shop")


def test_hadolint_argv():
    cmd = linters.hadolint(ROOT, ["docker/Dockerfile", "docker/caddy/Dockerfile"])
    assert cmd == Command(
        ("hadolint", "--format", "json", "docker/Dockerfile", "docker/caddy/Dockerfile"), cwd="/src/shop"
    )


def test_ruff_check_argv():
    assert linters.ruff_check(ROOT).argv == ("ruff", "check", "--output-format", "concise", "--quiet", ".")


def test_ruff_format_argv():
    assert linters.ruff_format(ROOT).argv == ("ruff", "format", "--check", "--output-format", "concise", "--quiet", ".")


def test_shellcheck_argv():
    cmd = linters.shellcheck(ROOT, ["run.sh", "bin/deploy"])
    assert cmd.argv == ("shellcheck", "--format", "gcc", "run.sh", "bin/deploy")


def test_yamllint_argv():
    cmd = linters.yamllint(ROOT, ["compose/compose.yaml", ".yamllint.yaml"])
    assert cmd.argv == ("yamllint", "--format", "parsable", "compose/compose.yaml", ".yamllint.yaml")


def test_tools_run_in_the_project_root_with_no_env_of_their_own():
    """Paths are relative to the root: the findings name files as the user sees them."""
    for cmd in (
        linters.hadolint(ROOT, ["D"]),
        linters.ruff_check(ROOT),
        linters.ruff_format(ROOT),
        linters.shellcheck(ROOT, ["a.sh"]),
        linters.yamllint(ROOT, ["a.yaml"]),
    ):
        assert (dict(cmd.env), cmd.cwd) == ({}, "/src/shop")
