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


def endpoint() -> Command:
    """The engine the docker CLI talks to (DOCKER_HOST, else the current context's):
    `unix:///var/run/docker.sock`, `ssh://deploy@host`, `tcp://...`."""
    return Command(("docker", "context", "inspect", "--format", "{{.Endpoints.docker.Host}}"))


def network_connect(network: str, container: str, aliases: tuple[str, ...] = ()) -> Command:
    """Attach the container to the network, reachable there by `aliases` too (the
    engine's DNS answers an alias with every container that has it on that network)."""
    return Command(("docker", "network", "connect", *(f"--alias={a}" for a in aliases), network, container))


def network_disconnect(network: str, container: str) -> Command:
    """Detach the container from the network: its name and aliases leave that network's DNS."""
    return Command(("docker", "network", "disconnect", network, container))
