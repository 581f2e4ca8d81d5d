"""The programs supervisord runs in the all-in-one image (docker/allinone), and
their states, read from supervisord's XML-RPC interface on its unix socket.

supervisord tells the programs it runs where it listens: SUPERVISOR_SERVER_URL
(unix:///tmp/supervisor.sock) is in their environment, and in no other process's.
Outside the all-in-one image it is unset, and there is nothing to report."""

from __future__ import annotations

import http.client
import socket
import xmlrpc.client
from collections.abc import Mapping

SERVER_URL = "SUPERVISOR_SERVER_URL"
RUNNING = "RUNNING"


#: supervisord's fault while it stops every program (its SIGTERM: `docker stop`, a deploy retiring the container).
SHUTDOWN_STATE = 6


class NoAnswer(Exception):
    """supervisord did not answer (gone, hung, or not speaking XML-RPC)."""


class Stopping(Exception):
    """supervisord is stopping every program: the container is on its way out, as asked."""


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float):
        super().__init__("localhost", timeout=timeout)
        self.path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self.path)
        except OSError:
            sock.close()
            raise
        self.sock = sock


class _UnixTransport(xmlrpc.client.Transport):
    """XML-RPC over HTTP on a unix socket (what supervisorctl speaks to supervisord)."""

    def __init__(self, path: str, timeout: float):
        super().__init__()
        self.path, self.timeout = path, timeout

    def make_connection(self, host):
        return _UnixConnection(self.path, self.timeout)


def states(server_url: str, timeout: float = 2.0) -> dict[str, str]:
    """Each program's state (RUNNING, STARTING, BACKOFF, STOPPED, EXITED, FATAL, ...),
    by name, as supervisord at `server_url` (unix://PATH) has them. Stopping while it
    stops them all; NoAnswer when it does not answer within `timeout` seconds, or not as
    supervisord."""
    if not server_url.startswith("unix://"):
        raise NoAnswer(f"{SERVER_URL}={server_url}: only a unix:// socket is supported")
    transport = _UnixTransport(server_url[len("unix://") :], timeout)
    try:
        with xmlrpc.client.ServerProxy("http://localhost/RPC2", transport=transport) as proxy:
            found = proxy.supervisor.getAllProcessInfo()
    except xmlrpc.client.Fault as exc:
        if exc.faultCode == SHUTDOWN_STATE:
            raise Stopping(f"supervisord at {server_url} is stopping every program") from exc
        raise NoAnswer(f"supervisord at {server_url} does not answer (Fault {exc.faultCode})") from exc
    except (OSError, http.client.HTTPException, xmlrpc.client.Error) as exc:
        raise NoAnswer(f"supervisord at {server_url} does not answer ({exc.__class__.__name__})") from exc
    return {info["name"]: info["statename"] for info in found}


def down(found: Mapping[str, str]) -> list[str]:
    """The programs that are not running, as `name (STATE)`, sorted."""
    return [f"{name} ({state})" for name, state in sorted(found.items()) if state != RUNNING]


def here(environ: Mapping[str, str]) -> dict[str, str] | None:
    """The states of the programs beside this process: None outside the all-in-one
    image; Stopping or NoAnswer as states() says."""
    url = environ.get(SERVER_URL)
    return states(url) if url else None
