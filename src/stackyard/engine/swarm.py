"""What the Engine API says about a swarm (the docker SDK): whether this engine
manages one, a stack's services and their tasks, the secrets and configs it has;
and the two things created through it, secrets and configs, whose values must
never be on a command line."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from stackyard.engine import api

if TYPE_CHECKING:
    from docker import DockerClient

#: The label `docker stack deploy` puts on everything of a stack.
NAMESPACE = "com.docker.stack.namespace"


def manager(client: DockerClient) -> tuple[str, bool]:
    """(this node's swarm state: "inactive", "active", "pending"..., whether it is a manager)."""
    found = api.info(client).get("Swarm") or {}
    return str(found.get("LocalNodeState") or "inactive"), bool(found.get("ControlAvailable"))


def node_id(client: DockerClient) -> str:
    """This engine's node in its swarm ("" outside one)."""
    return str((api.info(client).get("Swarm") or {}).get("NodeID") or "")


def address(client: DockerClient) -> str:
    """The address this node advertises to the others of its swarm ("" outside one)."""
    return str((api.info(client).get("Swarm") or {}).get("NodeAddr") or "")


def services(client: DockerClient, project: str) -> list[dict]:
    """The stack's services, as /services shows them (Spec, UpdateStatus...), by name."""
    with api._explained(client):
        found = client.api.services(filters={"label": f"{NAMESPACE}={project}"}, status=True)
    return sorted(found, key=lambda s: s["Spec"]["Name"])


def tasks(client: DockerClient, service_id: str) -> list[dict]:
    """The service's tasks, newest first."""
    with api._explained(client):
        found = client.api.tasks(filters={"service": service_id})
    return sorted(found, key=lambda t: t.get("CreatedAt", ""), reverse=True)


def secrets(client: DockerClient) -> set[str]:
    with api._explained(client):
        return {s.name for s in client.secrets.list()}


def create_secret(client: DockerClient, name: str, data: bytes, labels: Mapping[str, str]) -> None:
    """Create a secret from its value: in the request's body, never on a command line."""
    with api._explained(client):
        client.secrets.create(name=name, data=data, labels=dict(labels))


def configs(client: DockerClient) -> set[str]:
    with api._explained(client):
        return {c.name for c in client.configs.list()}


def create_config(client: DockerClient, name: str, data: bytes, labels: Mapping[str, str]) -> None:
    with api._explained(client):
        client.configs.create(name=name, data=data, labels=dict(labels))


def service_logs(client: DockerClient, service_id: str, tail: int) -> str:
    """The last lines of every task of the service (a failed one's included)."""
    with api._explained(client):
        chunks = client.api.service_logs(service_id, stdout=True, stderr=True, tail=tail, timestamps=False)
        return b"".join(chunks).decode(errors="replace")


def running_tasks(client: DockerClient, project: str, service: str) -> list[dict]:
    """The running tasks of the stack service `<project>_<service>`, on any node ([] when
    it is not deployed)."""
    full = f"{project}_{service}"
    found = [svc for svc in services(client, project) if svc["Spec"]["Name"] == full]
    return [t for svc in found for t in tasks(client, svc["ID"]) if t.get("Status", {}).get("State") == "running"]


#: The label the engine puts on a task's container: its service's full name (`<stack>_<service>`).
SERVICE_NAME = "com.docker.swarm.service.name"


def task_containers(client: DockerClient, project: str, service: str) -> list[dict]:
    """The running containers of the stack service's tasks on this engine's node (the
    /containers/json rows), newest first."""
    with api._explained(client):
        found = client.api.containers(filters={"label": f"{SERVICE_NAME}={project}_{service}", "status": "running"})
    return sorted(found, key=lambda c: c.get("Created", 0), reverse=True)


def node_names(client: DockerClient) -> dict[str, str]:
    """Each node of the swarm: its id -> its hostname, as `docker node ls` shows it (a manager's answer)."""
    with api._explained(client):
        return {n.id: (n.attrs.get("Description") or {}).get("Hostname") or n.id for n in client.nodes.list()}


def node_name(client: DockerClient) -> str:
    """This engine's node, by the name the swarm knows it by."""
    return str(api.info(client).get("Name") or "this node")
