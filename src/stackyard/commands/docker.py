"""Pure builders for the plain `docker` calls a deploy makes (containers and
images by id or name, outside Compose's project view)."""

from __future__ import annotations

from stackyard.core.command import Command

STATE = "{{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{end}}"


def image_of(container: str) -> Command:
    return Command(("docker", "inspect", "--format", "{{.Config.Image}}", container))


def state_of(container: str) -> Command:
    """Prints "running healthy", "running starting", "exited ", ..."""
    return Command(("docker", "inspect", "--format", STATE, container))


def logs(container: str, tail: int) -> Command:
    return Command(("docker", "logs", "--tail", str(tail), container))


def stop(container: str, grace: int) -> Command:
    return Command(("docker", "stop", "--time", str(grace), container))


def remove(container: str, force: bool = False) -> Command:
    return Command(("docker", "rm", *(["--force"] if force else []), container))


def image_exists(image: str) -> Command:
    return Command(("docker", "image", "inspect", image))


def image_tags(repository: str) -> Command:
    return Command(("docker", "image", "ls", repository, "--format", "{{.Tag}}"))


def remove_image(image: str) -> Command:
    return Command(("docker", "image", "rm", image))


def server_version() -> Command:
    return Command(("docker", "version", "--format", "{{.Server.Version}}"))


def version_json() -> Command:
    """Client and server versions as JSON (no "Server" key when the engine is down)."""
    return Command(("docker", "version", "--format", "{{json .}}"))


def root_dir() -> Command:
    """Where the engine keeps images and volumes (for the disk check)."""
    return Command(("docker", "info", "--format", "{{.DockerRootDir}}"))
