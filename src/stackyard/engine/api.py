"""The Engine API client (the docker SDK), and what we ask of it: a project's
containers, a container's state and last log lines, images by repository, and
the never-started container that is the deploy lock.

One request answers what would otherwise cost a `docker` process per question
(`inv ps`, the deploy's health polling). Each function takes the client, so a
test can give a small fake one, and turns the SDK's errors into ours: a missing
object is None or False, an engine that does not answer is the one-line
`Unreachable`, any other refusal a StackyardError with the engine's reason."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING

from stackyard.commands import ssh
from stackyard.errors import StackyardError

if TYPE_CHECKING:
    import types

    from docker import DockerClient

# Compose's labels on the containers it makes.
PROJECT = "com.docker.compose.project"
SERVICE = "com.docker.compose.service"
ONEOFF = "com.docker.compose.oneoff"

#: Seconds an Engine API request may take (the SDK's own default, stated): a hung
#: engine fails a deploy's step instead of holding it, and its lock, for ever.
API_TIMEOUT = 60

#: The attribute of a client that holds the address it was made for (DOCKER_HOST, or "").
ADDRESS = "_stackyard_address"

FIX = "start it (e.g. `sudo systemctl start docker`) or point DOCKER_HOST at one; `inv doctor` checks it"


class Unreachable(StackyardError):
    """No engine answers where the docker CLI would look."""


def _sdk() -> types.ModuleType:
    """The docker package, imported on first use."""
    import docker.transport.sshconn  # noqa: PLC0415 - the SDK costs ~100 ms to import; binds `docker`

    sshconn = docker.transport.sshconn
    if not getattr(sshconn.SSHSocket.close, "_quiet", False):
        sshconn.SSHSocket.close = _quiet_close(sshconn.SSHSocket.close)
    return docker


def _quiet_close(close: Callable) -> Callable:
    """The SDK's close of an ssh:// connection, made safe once the ssh process is gone:
    it writes to the dead process's stdin, and the BrokenPipeError it raises is printed
    as a traceback at exit, after the one-line error that said the link had dropped
    (docker/docker-py#3218)."""

    def quiet(self: object) -> None:
        try:
            close(self)
        except (BrokenPipeError, ValueError):  # ValueError: a flush of a closed file
            with contextlib.suppress(OSError):
                self.proc.terminate()

    quiet._quiet = True  # type: ignore[attr-defined]
    return quiet


def client(environ: Mapping[str, str]) -> DockerClient:
    """A client for the engine the docker CLI would use with `environ` added to the
    process environment: DOCKER_HOST (`--host`, ssh:// through the ssh client), the
    DOCKER_TLS_* variables, else the current docker context."""
    env = {**os.environ, **environ}
    docker = _sdk()
    try:
        found = docker.from_env(environment=env, use_ssh_client=True, timeout=API_TIMEOUT)
    except docker.errors.DockerException as exc:
        where = env.get("DOCKER_HOST") or env.get("DOCKER_CONTEXT") or "the current docker context"
        raise Unreachable(f"Docker engine not reachable at {where}", FIX) from exc
    setattr(found, ADDRESS, env.get("DOCKER_HOST", ""))  # for the errors of its requests (_explained)
    return found


@contextlib.contextmanager
def _explained(client: DockerClient | None = None) -> Iterator[None]:
    errors = _sdk().errors
    try:
        yield
    except errors.APIError as exc:  # before OSError: the SDK's HTTP errors are OSErrors too
        raise StackyardError(f"the Docker engine refused: {exc.explanation or exc}") from exc
    except (errors.DockerException, OSError) as exc:
        raise unreachable(getattr(client, ADDRESS, ""), exc) from exc


def unreachable(address: str, exc: BaseException) -> Unreachable:
    """The error for an engine that stopped answering: for an ssh:// one, the link."""
    t = ssh.target(address)
    if t is None:
        return Unreachable(f"Docker engine not reachable ({exc.__class__.__name__})", FIX)
    return Unreachable(
        f"cannot reach {address}: the SSH link to it failed ({exc.__class__.__name__})",
        f"`{t.by_hand()} docker version` tests it; `inv host.check --host {address}` checks the rest",
    )


def containers(client: DockerClient, project: str, service: str | None = None, *, running: bool = False) -> list[dict]:
    """The /containers/json rows of a compose project (of one service), one-off
    `run` containers left out as `docker compose ps` does; stopped ones too unless `running`."""
    labels = [f"{PROJECT}={project}", f"{ONEOFF}=False"] + ([f"{SERVICE}={service}"] if service else [])
    with _explained(client):
        found = client.containers.list(all=not running, filters={"label": labels}, sparse=True)
    return [c.attrs for c in found]


def restarts(client: DockerClient, project: str) -> dict[str, int]:
    """Container name -> how often the engine restarted it (a crash loop shows here)."""
    with _explained(client):
        return {
            name(row): int(client.api.inspect_container(row["Id"]).get("RestartCount") or 0)
            for row in containers(client, project)
        }


def name(row: dict) -> str:
    """A /containers/json row's container name."""
    return (row.get("Names") or ["/"])[0].lstrip("/")


def state(client: DockerClient, container: str) -> tuple[str, str]:
    """(status, health) of a container: ("running", "healthy"), ("exited", "") when it
    has no health check, ("gone", "") when it does not exist."""
    with _explained(client):
        try:
            attrs = client.containers.get(container).attrs
        except _sdk().errors.NotFound:
            return ("gone", "")
    found = attrs.get("State") or {}
    return found.get("Status", ""), (found.get("Health") or {}).get("Status", "")


def image_of(client: DockerClient, container: str) -> str:
    """The image a container was created from, as named ("stackyard-app:abc1234-...")."""
    with _explained(client):
        return client.containers.get(container).attrs["Config"]["Image"]


def logs(client: DockerClient, container: str, tail: int) -> str:
    """The container's last `tail` log lines, stdout and stderr ("" when it is gone)."""
    with _explained(client):
        try:
            return client.containers.get(container).logs(tail=tail).decode(errors="replace")
        except _sdk().errors.NotFound:
            return ""


def labels(client: DockerClient, container: str) -> dict[str, str] | None:
    """The container's labels; None when it does not exist."""
    with _explained(client):
        try:
            return client.containers.get(container).attrs["Config"].get("Labels") or {}
        except _sdk().errors.NotFound:
            return None


def create(client: DockerClient, container: str, image: str, labels: Mapping[str, str]) -> bool:
    """Create (never start) a container of that name from an image the engine has;
    False when the name is taken."""
    with _explained(client):
        try:
            client.containers.create(image, ["true"], name=container, labels=dict(labels))
        except _sdk().errors.APIError as exc:
            if exc.status_code == 409:  # Conflict: the name is in use
                return False
            raise
    return True


def pull(client: DockerClient, image: str) -> None:
    with _explained(client):
        client.images.pull(image)


def remove(client: DockerClient, container: str) -> bool:
    """Remove a container (running or not) with its anonymous volumes (an image's
    VOLUME, e.g. the lock's database image: kept, one would pile up per deploy);
    named volumes are never touched. False when there was none."""
    with _explained(client):
        try:
            client.containers.get(container).remove(force=True, v=True)
        except _sdk().errors.NotFound:
            return False
    return True


def image_exists(client: DockerClient, image: str) -> bool:
    with _explained(client):
        try:
            client.images.get(image)
        except _sdk().errors.NotFound:
            return False
    return True


def tags(client: DockerClient, repository: str) -> list[str]:
    """The tags the engine has for an image repository ("stackyard-app" -> ["latest", ...])."""
    with _explained(client):
        rows = client.api.images(name=repository)  # images.list() would inspect each one
    found = [t.rsplit(":", 1) for row in rows for t in row.get("RepoTags") or []]
    return sorted({tag for repo, tag in found if repo == repository})


def remove_image(client: DockerClient, image: str) -> bool:
    """Untag (and delete, when it was the last tag) an image; False when the engine
    keeps it (a container still uses it) or has none."""
    with _explained(client):
        try:
            client.images.remove(image)
        except _sdk().errors.APIError:
            return False
    return True


# Compose's label on the named volumes it makes: the volume's name in the compose file.
VOLUME = "com.docker.compose.volume"


def volumes(client: DockerClient, project: str) -> dict[str, str]:
    """The named volumes Compose made for a project: {name in the compose file: name on the engine}."""
    with _explained(client):
        found = client.volumes.list(filters={"label": [f"{PROJECT}={project}"]})  # one request, no inspect each
    return {(v.attrs.get("Labels") or {}).get(VOLUME, ""): v.name for v in found}


def volume_exists(client: DockerClient, volume: str) -> bool:
    """Whether the engine has a volume of that name (an external one, made outside Compose)."""
    with _explained(client):
        try:
            client.volumes.get(volume)
        except _sdk().errors.NotFound:
            return False
    return True


def info(client: DockerClient) -> dict:
    """The engine's /info: its clock (SystemTime), storage driver, data directory,
    OS and architecture, CPUs and memory."""
    with _explained(client):
        return client.info()


def disk_usage(client: DockerClient) -> dict:
    """The engine's /system/df: every image, volume (with its size) and build cache
    record. It measures the volumes: seconds on a host with much data."""
    with _explained(client):
        return client.df()


def running(client: DockerClient) -> list[dict]:
    """The /containers/json rows of every running container, any project's (their
    published ports: who holds a host port)."""
    with _explained(client):
        return [c.attrs for c in client.containers.list(sparse=True)]


#: Bytes an image's `docker save` stream is read in (the SDK's default): one progress step.
SAVE_CHUNK = 2 * 1024 * 1024


def inspect_image(client: DockerClient, ref: str) -> dict | None:
    """The image a name:tag or an ID names, as /images/{name}/json shows it (Id, Size, RepoTags);
    None when the engine has none."""
    with _explained(client):
        try:
            return client.images.get(ref).attrs
        except _sdk().errors.NotFound:  # ImageNotFound is one
            return None


def save(client: DockerClient, ref: str) -> Iterator[bytes]:
    """The image as `docker save` writes it (a tar with its name), chunk by chunk as the
    engine sends it: nothing is held whole, nothing written to a file."""
    with _explained(client):
        yield from client.api.get_image(ref, chunk_size=SAVE_CHUNK)


def load(client: DockerClient, chunks: Iterator[bytes]) -> list[str]:
    """`docker load` of a tar streamed from `chunks` as they come (one request, its body
    sent chunked); what the engine said ("Loaded image: ..."). A refusal it reports in
    the stream, not in the status (a broken tar), is a StackyardError too."""
    said = []
    with _explained(client):
        for line in client.api.load_image(chunks):
            if line.get("error"):
                raise StackyardError(f"the Docker engine refused the image: {line['error']}")
            said.append(str(line.get("stream", "")).strip())
    return [line for line in said if line]


def tag_image(client: DockerClient, image: str, ref: str) -> None:
    """Give the image `image` (an ID) the name `ref` (repository:tag) too."""
    repository, tag = ref.rsplit(":", 1)
    with _explained(client):
        client.api.tag(image, repository, tag)


def push(client: DockerClient, image: str, ref: str) -> None:
    """Name the image `image` `ref` too and push `ref` to its registry, with the login
    of the docker CLI's config (`docker login`). A refusal names the registry's reason."""
    repository, tag = _sdk().utils.parse_repository_tag(ref)
    host = repository.split("/", 1)[0]
    with _explained(client):
        client.api.tag(image, repository, tag or "latest")
        for line in client.api.push(repository, tag or "latest", stream=True, decode=True):
            if line.get("error"):
                raise StackyardError(
                    f"the registry {host} refused {ref}: {line['error'].strip()}",
                    f"check the address, and log in with `docker login {host}` if it needs one",
                )


def networks_of(client: DockerClient, container: str) -> list[str]:
    """The names of the networks the container is attached to ([] when it does not exist)."""
    with _explained(client):
        try:
            attrs = client.containers.get(container).attrs
        except _sdk().errors.NotFound:
            return []
    return sorted((attrs.get("NetworkSettings") or {}).get("Networks") or {})
