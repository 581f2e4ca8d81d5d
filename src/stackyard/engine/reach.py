"""Why an engine does not answer, in one line with the fix: the docker CLI's
error when it could not reach an engine, read for what went wrong on the way
(for an ssh:// host: the network, sshd, the key, the host key, the remote
engine, the remote user's rights)."""

from __future__ import annotations

import re

from stackyard.commands import ssh
from stackyard.engine import api
from stackyard.errors import StackyardError, last_line

_NET = re.compile(r"(Connection timed out|timed out|No route to host|Network is unreachable)", re.I)


def explain(endpoint: str, text: str) -> StackyardError:
    """The error for `docker version` failing against `endpoint` with output `text`."""
    t = ssh.target(endpoint)
    said = text.split("stderr=", 1)[1] if "stderr=" in text else text  # ssh's own words, when docker quotes them
    if "permission denied while trying to connect to the docker" in text.lower():
        who = t.user if t and t.user else "this user"
        where = t.host if t else "this machine"
        return StackyardError(
            f"{who} on {where} may not use the Docker engine (its socket refused)",
            f"add {who} to the docker group there (`sudo usermod -aG docker {who}`), then log in again",
        )
    if t is None:
        return api.Unreachable(f"Docker engine not reachable at {endpoint or 'the current docker context'}", api.FIX)
    if "Permission denied (publickey" in said or "Too many authentication failures" in said:
        return StackyardError(
            f"ssh refused the key for {t}",
            f"add your public key to ~{t.user or 'USER'}/.ssh/authorized_keys on {t.host}, or name the right "
            f"key with IdentityFile in ~/.ssh/config; `{t.by_hand()} true` tests it",
        )
    if "Host key verification failed" in said or "REMOTE HOST IDENTIFICATION HAS CHANGED" in said:
        return StackyardError(
            f"ssh does not trust the host key of {t.host}",
            f"connect once with `{t.by_hand()}` to check and accept it (or add it to ~/.ssh/known_hosts)",
        )
    if "Connection refused" in said:
        return StackyardError(
            f"cannot reach {endpoint}: nothing answers ssh on {t.host} port {t.port or 22} (connection refused)",
            "check the host and port in --host (or the environment's `host`), and that sshd runs there",
        )
    if "kex_exchange_identification" in said or "Connection reset by peer" in said or "Connection closed by" in said:
        return StackyardError(
            f"cannot reach {endpoint}: the connection to {t.host} port {t.port or 22} closed before ssh could log in",
            f"is sshd running there? (a forwarded port answers even when it is not); `{t.by_hand()} true` tests it",
        )
    if "Could not resolve hostname" in said:
        return StackyardError(f"cannot reach {endpoint}: host name {t.host} not found", "check the name in --host")
    if m := _NET.search(said):
        return StackyardError(
            f"cannot reach {endpoint}: {m.group(1).lower()}",
            f"check the address, the network and any firewall on the way to {t.host} port {t.port or 22}",
        )
    if "Cannot connect to the Docker daemon" in text or "Is the docker daemon running" in text:
        return StackyardError(
            f"the Docker engine on {t.host} is not running (ssh works, the engine does not answer)",
            f"start it there: `{t.by_hand()} sudo systemctl start docker`",
        )
    if re.search(r"docker: (command )?not found", said):
        return StackyardError(
            f"no docker on {t.host} (ssh works)", "install Docker Engine there: https://docs.docker.com/engine/install/"
        )
    return api.Unreachable(
        f"Docker engine not reachable at {endpoint}: {last_line(said) or 'no reason given'}",
        f"`{t.by_hand()} docker version` shows what the host says",
    )
