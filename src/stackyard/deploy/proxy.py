"""The deploy's switch, one adapter per kind of proxy: which calls keep a new web
container out of the proxy's reach until it passed the health gate
(`before_start`), move the traffic to a container (`switch`), and back to the old
one (`switch_back`), as data; actions.StartBeside and actions.Switch run them.

    caddy    by the network: Caddy never reloads in a deploy (a reload drops
             connections at its listeners' handover: caddyserver/caddy#5623, #5725).
             Its Caddyfile proxies to the web service's name, looked up every second
             (`dynamic a`), and Docker's DNS answers that name with the containers on
             the network the proxy shares with the web service. A new container is
             created, taken off that network, started; once healthy, the switch
             attaches it under the service's name: both serve a moment, then the old one
             is retired (stopped: it finishes what it serves, and leaves the DNS). The
             switch back stops the new one the same way. Only containers that passed the
             health gate are ever on that network: a Caddy restart comes back on them.
    nginx    write conf.d/upstream.conf (`upstream <web> { server <container>:<port>; }`),
             then `nginx -t && nginx -s reload`: a graceful reload, its listeners kept
    traefik  write the file provider's dynamic config (service <web> on the container);
             Traefik watches the file and moves the traffic itself

nginx and Traefik come back on the file after a restart (it is in the container's
own filesystem), not after a recreate (the image's file comes back): to survive one
too, give the file a directory of its own on a volume (nginx: included from the http
block; a volume over conf.d would freeze the image's other files). nginx refuses to
start while a server of an upstream does not resolve.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from stackyard.commands import docker as dockercmds
from stackyard.commands import proxy as proxycmds
from stackyard.config import Environment, Proxy
from stackyard.core.command import Command
from stackyard.errors import StackyardError

NGINX_UPSTREAM_FILE = "/etc/nginx/conf.d/upstream.conf"
TRAEFIK_DYNAMIC_FILE = "/etc/traefik/dynamic/stackyard.yml"
#: Seconds after Caddy's network changed before it is taken as knowing it: the reference
#: Caddyfile looks the name up every second (`refresh 1s`), and a lookup may be running.
CADDY_SETTLE = 2.0
#: Seconds a container the traffic leaves has to finish its requests in a switch back.
CADDY_DRAIN = 10


@dataclass(frozen=True)
class Attached:
    """A condition on a call: run it only while `container` is (or is not) on `network`."""

    container: str
    network: str
    attached: bool


@dataclass(frozen=True)
class Call:
    """One command of a switch, with what it reads on stdin (a file's new content), and
    the state it needs (None: always run)."""

    cmd: Command
    stdin: str | None = None
    when: Attached | None = None


class Adapter(Protocol):
    #: Seconds to wait after a switch's calls ran, until the proxy acts on them.
    settle: float
    #: Why the switch loses no request, as the plan says it.
    how: str

    def before_start(self, container: str) -> tuple[Call, ...]:
        """The calls between the creation of new web container `container` and its start."""
        ...

    def switch(self, env: Environment, to: str, port: int) -> tuple[Call, ...]:
        """The calls that send the traffic to container `to` on `port`, in order."""
        ...

    def switch_back(self, env: Environment, to: str, port: int, away: str) -> tuple[Call, ...]:
        """The calls that send the traffic back to `to`, away from the new container `away`."""
        ...


@dataclass(frozen=True)
class Caddy:
    service: str
    network: str  # the network the proxy shares with the web service (its engine-side name)
    alias: str  # the name the Caddyfile looks up: the web service's
    settle: float = CADDY_SETTLE
    drain: int = CADDY_DRAIN

    @property
    def how(self) -> str:
        return (
            f"no reload: the container joins {self.network} as {self.alias}, which {self.service} looks up every "
            "second; the old one serves on until it is retired"
        )

    def before_start(self, container: str) -> tuple[Call, ...]:
        return (Call(dockercmds.network_disconnect(self.network, container)),)

    def switch(self, env: Environment, to: str, port: int) -> tuple[Call, ...]:
        connect = dockercmds.network_connect(self.network, to, (self.alias,))
        return (Call(connect, when=Attached(to, self.network, False)),)

    def switch_back(self, env: Environment, to: str, port: int, away: str) -> tuple[Call, ...]:
        # Stopped, not detached: it finishes the requests it serves, and leaves the DNS as it stops
        # (a detach would reset them). Caddy retries a refused dial on the other address.
        return (*self.switch(env, to, port), Call(dockercmds.stop(away, self.drain)))


class _FileSwitch:
    """A proxy switched by a file it reads (nginx, Traefik): nothing to do before a
    new container starts, and switching back is switching to the old one."""

    def before_start(self, container: str) -> tuple[Call, ...]:
        return ()

    def switch_back(self, env: Environment, to: str, port: int, away: str) -> tuple[Call, ...]:
        return self.switch(env, to, port)  # type: ignore[attr-defined] - each subclass has its switch


@dataclass(frozen=True)
class Nginx(_FileSwitch):
    service: str
    upstream: str  # the upstream block's name
    path: str = NGINX_UPSTREAM_FILE
    settle: float = 0.0
    how: str = "a graceful reload: requests in flight finish on the old one"

    def switch(self, env: Environment, to: str, port: int) -> tuple[Call, ...]:
        return (
            Call(
                proxycmds.write_file(env, self.service, self.path),
                proxycmds.nginx_upstream(self.upstream, f"{to}:{port}"),
            ),
            Call(proxycmds.nginx_reload(env, self.service)),
        )


@dataclass(frozen=True)
class Traefik(_FileSwitch):
    service: str
    upstream: str  # the Traefik service's name, which the routers use
    path: str = TRAEFIK_DYNAMIC_FILE
    settle: float = 0.0
    how: str = "Traefik reloads the watched file: requests in flight finish on the old one"

    def switch(self, env: Environment, to: str, port: int) -> tuple[Call, ...]:
        return (
            Call(
                proxycmds.write_file(env, self.service, self.path),
                proxycmds.traefik_service(self.upstream, f"{to}:{port}"),
            ),
        )


def adapter(proxy: Proxy, web_service: str, networks: Mapping[str, Sequence[str]] | None = None) -> Adapter:
    """The adapter for the proxy role; the upstream's name defaults to the web service's.
    `networks`: each service's networks (service_networks), which Caddy's needs."""
    upstream = proxy.upstream or web_service
    if proxy.kind == "caddy":
        return Caddy(proxy.service, shared_network(networks or {}, proxy.service, web_service), web_service)
    if proxy.kind == "nginx":
        return Nginx(proxy.service, upstream, proxy.config or NGINX_UPSTREAM_FILE)
    return Traefik(proxy.service, upstream, proxy.config or TRAEFIK_DYNAMIC_FILE)


def service_networks(config: Mapping) -> dict[str, tuple[str, ...]]:
    """Each service's networks, by their engine-side names, from `compose config`'s JSON."""
    declared = config.get("networks") or {}
    return {
        service: tuple(sorted((declared.get(key) or {}).get("name") or key for key in (spec.get("networks") or {})))
        for service, spec in (config.get("services") or {}).items()
    }


def shared_network(networks: Mapping[str, Sequence[str]], proxy: str, web: str) -> str:
    """The one network `proxy` and `web` share, which the Caddy switch attaches the new
    web container to; `web` must have another one (its dependencies are there)."""
    ours = set(networks.get(web) or ())
    shared = sorted(ours & set(networks.get(proxy) or ()))
    why = f"the caddy switch attaches a new {web} container to the network {web} shares with {proxy}, once healthy"
    if not shared:
        raise StackyardError(
            f"{proxy} and {web} share no network: {why}",
            "put both on one network in the compose files (`networks:` of each service), e.g. an `edge` network",
        )
    if len(shared) > 1:
        raise StackyardError(
            f"{proxy} and {web} share {len(shared)} networks ({', '.join(shared)}): {why}, and it would reach "
            "the new one through the others before",
            f"keep one network between {proxy} and {web} in the compose files",
        )
    if ours == set(shared):
        raise StackyardError(
            f"{web}'s only network is {shared[0]}, the one it shares with {proxy}: {why}, and until then the "
            "new container would have no network (its database, its cache unreachable)",
            f"put {web} on a second network for its dependencies in the compose files, e.g. a `backend` network",
        )
    return shared[0]
