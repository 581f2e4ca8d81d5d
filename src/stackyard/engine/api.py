"""A fast, read-only path to the local engine's container list.

`inv ps` must cost about what `docker compose ps` costs, and Python plus Invoke
already take most of that. So when the engine is a local unix socket (the
default context), the list comes straight from the Engine API (one HTTP GET,
filtered by Compose's own project label) instead of a second process. Anything
else (DOCKER_HOST=ssh://..., tcp, another docker context) returns None and the
caller asks Compose."""

from __future__ import annotations

import http.client
import json
import os
import pathlib
import socket
import urllib.parse

DEFAULT_SOCKET = "/var/run/docker.sock"


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float):
        super().__init__("localhost", timeout=timeout)
        self.path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.path)


def local_socket(environ: dict[str, str] | None = None) -> str | None:
    """The engine's unix socket when the docker CLI would use a local one, else None."""
    env = os.environ if environ is None else environ
    if env.get("DOCKER_CONTEXT", "default") != "default":
        return None
    host = env.get("DOCKER_HOST", "")
    if host:
        return host[len("unix://") :] if host.startswith("unix://") else None
    cfg = pathlib.Path(env.get("DOCKER_CONFIG") or pathlib.Path.home() / ".docker") / "config.json"
    try:
        if json.loads(cfg.read_text()).get("currentContext", "default") not in ("", "default"):
            return None
    except (OSError, ValueError):
        pass
    return DEFAULT_SOCKET if os.path.exists(DEFAULT_SOCKET) else None


def project_containers(sock: str, project: str, timeout: float = 5.0) -> list[dict]:
    """GET /containers/json for one compose project (one-off `run` containers excluded, as in ps)."""
    filters = {"label": [f"com.docker.compose.project={project}", "com.docker.compose.oneoff=False"]}
    path = "/containers/json?all=1&filters=" + urllib.parse.quote(json.dumps(filters))
    conn = _UnixConnection(sock, timeout)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        body = resp.read()
    finally:
        conn.close()
    if resp.status != 200:
        raise OSError(f"engine answered {resp.status} to {path}")
    return json.loads(body)
