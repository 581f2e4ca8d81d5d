"""Pure builders for the reverse proxy's calls: Caddy, reloaded in place to move
traffic from one container to another (the deploy's switch)."""

from __future__ import annotations

from stackyard.commands import compose
from stackyard.config import Environment
from stackyard.core.command import Command

CADDY_RELOAD = ("caddy", "reload", "--config", "/etc/caddy/Caddyfile", "--adapter", "caddyfile")


def caddy_reload(env: Environment, service: str, upstream: str) -> Command:
    """Reload Caddy in `service` with its Caddyfile's {$UPSTREAM} set to `upstream`
    (host:port): a graceful reload, requests in flight finish where they are."""
    return compose.exec_(env, service, CADDY_RELOAD, tty=False, environment={"UPSTREAM": upstream})
