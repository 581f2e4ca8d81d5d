"""The deploy lock, held on the target engine itself: a container that is
created (never started) with a fixed name, so that a second `docker create`
fails at once, whichever machine it comes from. Its labels say who holds it."""

from __future__ import annotations

import json

from stackyard.core.command import Command

PREFIX = "dev.stackyard.lock."


def name(project: str) -> str:
    return f"{project}-deploy-lock"


def take(project: str, image: str, who: str, when: str, version: str) -> Command:
    labels = {"who": who, "when": when, "version": version}
    argv = ["docker", "create", "--name", name(project)]
    for k, v in labels.items():
        argv += ["--label", f"{PREFIX}{k}={v}"]
    return Command((*argv, image, "true"))


def inspect(project: str) -> Command:
    return Command(("docker", "inspect", "--format", "{{json .Config.Labels}}", name(project)))


def release(project: str) -> Command:
    return Command(("docker", "rm", "--force", name(project)))


def holder(inspect_output: str) -> str:
    """'who since when (deploying version)' from the lock's labels."""
    try:
        labels = json.loads(inspect_output or "{}") or {}
    except ValueError:
        return "unknown"
    get = lambda k: labels.get(PREFIX + k, "?")  # noqa: E731
    return f"{get('who')} since {get('when')} (deploying {get('version')})"
