"""commands/stack.py: the argv of `docker stack` calls that need no swarm."""

from __future__ import annotations

import pathlib

from stackyard.commands import stack


def test_config_validates_a_file_or_stdin():
    assert stack.config(pathlib.Path("/tmp/x/shop.stack.json")).argv == (
        "docker", "stack", "config", "--compose-file", "/tmp/x/shop.stack.json"
    )  # fmt: skip
    assert stack.config("-").argv == ("docker", "stack", "config", "--compose-file", "-")
