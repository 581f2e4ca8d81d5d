"""Pure builders for the plain `docker` calls a deploy makes (containers and
images by id or name, outside Compose's project view)."""

from __future__ import annotations

from stackyard.core.command import Command


def stop(container: str, grace: int) -> Command:
    return Command(("docker", "stop", "--time", str(grace), container))


def remove(container: str, force: bool = False) -> Command:
    return Command(("docker", "rm", *(["--force"] if force else []), container))


def version_json() -> Command:
    """Client and server versions as JSON (no "Server" key when the engine is down)."""
    return Command(("docker", "version", "--format", "{{json .}}"))


def root_dir() -> Command:
    """Where the engine keeps images and volumes (for the disk check)."""
    return Command(("docker", "info", "--format", "{{.DockerRootDir}}"))
