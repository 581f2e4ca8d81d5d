"""Pure builders for the reverse proxy's calls in a deploy's switch: nginx and Traefik
given a file written inside the container (its content on stdin), which nginx then
tests and reloads. (Caddy's switch is the web container's network: commands/docker.py.)"""

from __future__ import annotations

from stackyard.commands import compose
from stackyard.config import Environment
from stackyard.core.command import Command

# Written beside, then renamed: the proxy never reads a half-written file.
WRITE = 'cat > "$1.new" && mv "$1.new" "$1"'
# -t first: a config nginx refuses is never loaded; -s reload is graceful (old workers finish their requests).
NGINX_RELOAD = "nginx -t -q && exec nginx -s reload"


def write_file(env: Environment, service: str, path: str) -> Command:
    """Replace the file `path` in the running `service` with what comes on stdin."""
    return compose.exec_(env, service, ("sh", "-c", WRITE, "sh", path), tty=False)


def nginx_reload(env: Environment, service: str) -> Command:
    """Test nginx's config in `service`, and reload it if it passes."""
    return compose.exec_(env, service, ("sh", "-c", NGINX_RELOAD), tty=False)


def nginx_upstream(name: str, upstream: str) -> str:
    """The upstream file nginx includes (conf.d/*.conf): `proxy_pass http://<name>;` sends there."""
    return f"upstream {name} {{\n    server {upstream};\n}}\n"


def traefik_service(name: str, upstream: str) -> str:
    """Traefik's dynamic configuration (file provider, watched): service `name` on `upstream`."""
    return (
        "http:\n"
        "  services:\n"
        f"    {name}:\n"
        "      loadBalancer:\n"
        "        servers:\n"
        f'          - url: "http://{upstream}"\n'
    )
