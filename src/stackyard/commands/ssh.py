"""Pure builders for the `ssh` calls that read a remote Docker host beyond what
its engine tells (free disk, listening sockets, its own Compose, the client's
connection sharing). The host comes as Docker names it, `ssh://user@host:port`;
the user's ~/.ssh/config applies, as it does to docker's own ssh calls."""

from __future__ import annotations

import shlex
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass

from stackyard.core.command import Command

# The tables of listening sockets, readable by any user: no `ss` or `netstat` needed.
PROC_NET = ("/proc/net/tcp", "/proc/net/tcp6", "/proc/net/udp", "/proc/net/udp6")


@dataclass(frozen=True)
class Target:
    """Where `ssh` goes: user and port unset when the URL does not give them."""

    host: str
    user: str = ""
    port: int | None = None

    def __str__(self) -> str:
        return f"{self.user + '@' if self.user else ''}{self.host}" + (f":{self.port}" if self.port else "")

    def by_hand(self) -> str:
        """How a person reaches the host by hand: `ssh -p 2222 deploy@host`."""
        return (
            "ssh "
            + (f"-p {self.port} " if self.port else "")
            + (f"{self.user}@{self.host}" if self.user else self.host)
        )

    def login(self) -> list[str]:
        """The options docker's ssh transport passes too: `-l user`, `-p port`."""
        return [*(["-l", self.user] if self.user else []), *(["-p", str(self.port)] if self.port else [])]


def target(url: str) -> Target | None:
    """The ssh target of a DOCKER_HOST value; None when it is no ssh:// URL."""
    parts = urllib.parse.urlsplit(url or "")
    if parts.scheme != "ssh" or not parts.hostname:
        return None
    return Target(parts.hostname, parts.username or "", parts.port)


def remote(t: Target, argv: Sequence[str], *, shared: bool = True) -> Command:
    """Run argv on the host. BatchMode: a check never waits at a password prompt.
    `shared=False` opens a connection of its own even when ~/.ssh/config shares one
    (ControlMaster): what every call costs without it."""
    own = [] if shared else ["-o", "ControlMaster=no", "-o", "ControlPath=none"]
    # ssh joins its remote words with spaces for the remote shell: quote them once here.
    return Command(("ssh", "-o", "BatchMode=yes", *own, *t.login(), "--", t.host, shlex.join(argv)))


def options(t: Target) -> Command:
    """The options ssh would use for this host, after ~/.ssh/config (`ssh -G`): connects nowhere."""
    return Command(("ssh", "-G", *t.login(), "--", t.host))


def free_space(t: Target, path: str) -> Command:
    """`df` in POSIX format, 1024-byte blocks, of the filesystem holding path."""
    return remote(t, ["df", "-P", "-k", path])


def compose_version(t: Target) -> Command:
    """The host's own Compose plugin, if any (`--short`: the bare version)."""
    return remote(t, ["docker", "compose", "version", "--short"])


def listening(t: Target) -> Command:
    """The host's socket tables (the kernel's view: every listener, whoever owns it),
    each line after its file's name (`grep -H`: one call, four tables told apart)."""
    return remote(t, ["grep", "-H", "", *PROC_NET])


def socket_owners(t: Target) -> Command:
    """Listening TCP and UDP sockets with their processes (`ss -p` names only the
    user's own processes unless run as root)."""
    return remote(t, ["ss", "-H", "-l", "-n", "-p", "-t", "-u"])


def true(t: Target, *, shared: bool = True) -> Command:
    """A call that does nothing but connect: its time is the connection's cost."""
    return remote(t, ["true"], shared=shared)
