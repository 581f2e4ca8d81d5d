"""Pure builders for the `docker swarm`, `docker node` and `docker stack` calls of
an environment whose orchestrator is Swarm (swarm/run.py runs them)."""

from __future__ import annotations

import pathlib
from collections.abc import Mapping, Sequence

from stackyard.core.command import Command


def init(advertise_addr: str | None = None) -> Command:
    """Make this engine a single-node swarm, its manager."""
    return Command(("docker", "swarm", "init", *(["--advertise-addr", advertise_addr] if advertise_addr else [])))


def join_token(role: str = "worker") -> Command:
    """The token a node joins with (printed alone: --quiet)."""
    return Command(("docker", "swarm", "join-token", "--quiet", role))


def label_node(node: str, labels: Mapping[str, str]) -> Command:
    """Add labels to a node (placement constraints select nodes by them)."""
    return Command(("docker", "node", "update", *(f"--label-add={k}={v}" for k, v in labels.items()), node))


def deploy(project: str, stack_file: pathlib.Path, *, prune: bool = True, registry: bool = False) -> Command:
    """Create or update the stack from the rendered file. With `prune`, services the file
    no longer names are removed; without, the stack's others run on as they are (a
    deploy on Swarm goes one part of the release at a time: the migration job, the web
    service, the rest). No registry is asked for the images' digests (--resolve-image
    never: release tags are not reused); with a `registry`, this machine's login to it
    goes to the nodes, which pull from it (--with-registry-auth). Detached: the
    convergence is watched through the Engine API, service by service."""
    return Command(
        (
            "docker",
            "stack",
            "deploy",
            "--compose-file",
            str(stack_file),
            *(["--prune"] if prune else []),
            *(["--with-registry-auth"] if registry else []),
            "--resolve-image",
            "never",
            "--detach=true",
            project,
        )
    )


def remove(project: str) -> Command:
    """Remove the stack's services, networks, secrets and configs; its volumes stay."""
    return Command(("docker", "stack", "rm", project))


def service_logs(service: str, *, follow: bool = False, tail: int | None = None, since: str | None = None) -> Command:
    """A service's logs, every task's, each line prefixed with the task."""
    return Command(
        (
            "docker",
            "service",
            "logs",
            "--timestamps",
            *(["--follow"] if follow else []),
            *(["--tail", str(tail)] if tail is not None else []),
            *(["--since", since] if since else []),
            service,
        )
    )


def exec_(container: str, command: Sequence[str], *, tty: bool) -> Command:
    """`command` in a task's container on this node (the caller finds it): stdin attached
    as `docker compose exec` has it, a TTY only when asked."""
    return Command(("docker", "exec", "--interactive", *(["--tty"] if tty else []), container, *command))


def rollback_service(service: str) -> Command:
    """Put the service back to the spec it had before its last update (Swarm keeps it),
    with its rollback_config; detached: the rollback is watched through the Engine API."""
    return Command(("docker", "service", "rollback", "--detach", service))


def remove_services(services: Sequence[str]) -> Command:
    """Remove services of a stack (their tasks stop; volumes stay)."""
    return Command(("docker", "service", "rm", *services))


def last_logs(target: str, tail: int) -> Command:
    """The last `tail` lines a task (by its ID) or a service logged, as they were written
    (--raw: no task prefix), not followed. A task's own: the service's (the Engine API's
    /services/{id}/logs) may never end when `tail` exceeds what an old task logged."""
    return Command(("docker", "service", "logs", "--raw", "--tail", str(tail), target))
