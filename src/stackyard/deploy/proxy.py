"""The deploy's switch, one adapter per kind of proxy: each says which calls move
the traffic to a container (`switch`), as data; actions.Switch runs them.

    caddy    reload with UPSTREAM=<container>:<port> (the Caddyfile reads {$UPSTREAM})
    nginx    write conf.d/upstream.conf (`upstream <web> { server <container>:<port>; }`),
             then `nginx -t && nginx -s reload`: a graceful reload
    traefik  write the file provider's dynamic config (service <web> on the container);
             Traefik watches the file and moves the traffic itself
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from stackyard.commands import proxy as proxycmds
from stackyard.config import Environment, Proxy
from stackyard.core.command import Command

NGINX_UPSTREAM_FILE = "/etc/nginx/conf.d/upstream.conf"
TRAEFIK_DYNAMIC_FILE = "/etc/traefik/dynamic/stackyard.yml"


@dataclass(frozen=True)
class Call:
    """One command of a switch, with what it reads on stdin (a file's new content)."""

    cmd: Command
    stdin: str | None = None


class Adapter(Protocol):
    def switch(self, env: Environment, to: str, port: int) -> tuple[Call, ...]:
        """The calls that send the traffic to container `to` on `port`, in order."""
        ...


@dataclass(frozen=True)
class Caddy:
    service: str
    caddyfile: str = proxycmds.CADDYFILE

    def switch(self, env: Environment, to: str, port: int) -> tuple[Call, ...]:
        return (Call(proxycmds.caddy_reload(env, self.service, f"{to}:{port}", self.caddyfile)),)


@dataclass(frozen=True)
class Nginx:
    service: str
    upstream: str  # the upstream block's name
    path: str = NGINX_UPSTREAM_FILE

    def switch(self, env: Environment, to: str, port: int) -> tuple[Call, ...]:
        return (
            Call(
                proxycmds.write_file(env, self.service, self.path),
                proxycmds.nginx_upstream(self.upstream, f"{to}:{port}"),
            ),
            Call(proxycmds.nginx_reload(env, self.service)),
        )


@dataclass(frozen=True)
class Traefik:
    service: str
    upstream: str  # the Traefik service's name, which the routers use
    path: str = TRAEFIK_DYNAMIC_FILE

    def switch(self, env: Environment, to: str, port: int) -> tuple[Call, ...]:
        return (
            Call(
                proxycmds.write_file(env, self.service, self.path),
                proxycmds.traefik_service(self.upstream, f"{to}:{port}"),
            ),
        )


def adapter(proxy: Proxy, web_service: str) -> Adapter:
    """The adapter for the proxy role; the upstream's name defaults to the web service's."""
    upstream = proxy.upstream or web_service
    if proxy.kind == "caddy":
        return Caddy(proxy.service, proxy.config or proxycmds.CADDYFILE)
    if proxy.kind == "nginx":
        return Nginx(proxy.service, upstream, proxy.config or NGINX_UPSTREAM_FILE)
    return Traefik(proxy.service, upstream, proxy.config or TRAEFIK_DYNAMIC_FILE)
