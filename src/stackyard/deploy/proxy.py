"""The deploy's switch, one adapter per kind of proxy: each says which calls move
the traffic to a container (`switch`), as data; actions.Switch runs them. Every
switch also pins: the proxy must come back on that container (one that passed the
health gate) when it restarts, never on the web service's alias, which covers every
container of the service, a new one from the moment it is created.

    caddy    write <container>:<port> to /config/stackyard-upstream (the pin), then reload
             with UPSTREAM=<container>:<port> (the Caddyfile reads {$UPSTREAM:<default>}):
             a graceful reload, requests in flight finish where they are
    nginx    write conf.d/upstream.conf (`upstream <web> { server <container>:<port>; }`),
             then `nginx -t && nginx -s reload`: a graceful reload
    traefik  write the file provider's dynamic config (service <web> on the container);
             Traefik watches the file and moves the traffic itself

What a proxy container must provide, so that the pin outlives it:

    caddy    /config writable by its user and on a volume (the official image declares
             one: it survives a restart, and Compose carries it over a recreate; a named
             volume also survives `down`), `sh`, and a start that reads the pin back into
             UPSTREAM before `caddy run`: the reference image's entrypoint
             (docker/caddy/pinned-upstream.sh) does, and falls back to the Caddyfile's
             default when the pinned container is gone. Without it a restart comes back
             on the default. (`caddy run --resume` would come back on the last config too,
             but it ignores the Caddyfile whenever an autosave exists: an edit, or a
             changed variable, would be silently dropped.)
    nginx    the file survives a restart (it is in the container's own filesystem), not
             a recreate (the image's file, and its upstream, come back): to survive one
             too, give the file a directory of its own, on a volume, included from the
             http block (a volume over conf.d would freeze the image's other files).
             nginx refuses to start when a server of an upstream does not resolve.
    traefik  the same: the file survives a restart; on a recreate, only if its directory
             is a volume or a bind-mounted directory (not a bind-mounted file: the new
             file is renamed over it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from stackyard.commands import proxy as proxycmds
from stackyard.config import Environment, Proxy
from stackyard.core.command import Command

CADDY_PIN_FILE = "/config/stackyard-upstream"
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
    pin: str = CADDY_PIN_FILE  # where the upstream is kept for the next start

    def switch(self, env: Environment, to: str, port: int) -> tuple[Call, ...]:
        upstream = f"{to}:{port}"
        # The pin first: a pin that cannot be written fails the switch before the traffic
        # moves; a reload that fails leaves a pin the step's undo writes back.
        return (
            Call(proxycmds.write_file(env, self.service, self.pin), proxycmds.caddy_pin(upstream)),
            Call(proxycmds.caddy_reload(env, self.service, upstream, self.caddyfile)),
        )


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
