"""The sockets listening on a host, as its kernel lists them (/proc/net/tcp,
tcp6, udp, udp6: readable by any user, no tool needed) and as `ss -p` names
their processes; and when two bindings of a port collide. Pure parsers: the
text comes from this machine's /proc or from the host over ssh."""

from __future__ import annotations

import dataclasses
import ipaddress
import re
import socket
from collections.abc import Sequence
from dataclasses import dataclass

from stackyard.engine.state import ANY_ADDRESS


@dataclass(frozen=True)
class Listener:
    """A socket listening on the host (TCP) or bound (UDP); process when known."""

    proto: str
    ip: str
    port: int
    process: str = ""


def _hex_ip(text: str) -> str:
    raw = bytes.fromhex(text)
    if len(raw) == 4:
        return socket.inet_ntop(socket.AF_INET, raw[::-1])
    # IPv6: four 32-bit words, each in the host's (little-endian) byte order.
    return socket.inet_ntop(socket.AF_INET6, b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4)))


def parse_proc_net(table_name: str, text: str) -> list[Listener]:
    """Listeners of one /proc/net table (tcp, tcp6, udp, udp6): TCP in LISTEN, UDP bound."""
    proto = "udp" if "udp" in table_name else "tcp"
    wanted = "07" if proto == "udp" else "0A"  # TCP_CLOSE is an unconnected UDP socket; 0A is LISTEN
    out = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 4 or ":" not in parts[1] or parts[3] != wanted:
            continue
        address, _, port = parts[1].rpartition(":")
        try:
            out.append(Listener(proto, _hex_ip(address), int(port, 16)))
        except ValueError:
            continue
    return out


def parse_grep(text: str) -> dict[str, str]:
    """`grep -H '' FILE...` output -> {file name: its text}."""
    out: dict[str, list[str]] = {}
    for line in text.splitlines():
        name, sep, rest = line.partition(":")
        if sep:
            out.setdefault(name.rsplit("/", 1)[-1], []).append(rest)
    return {k: "\n".join(v) for k, v in out.items()}


def parse_ss(text: str) -> list[Listener]:
    """`ss -H -l -n -p -t -u` lines -> listeners with their process ("nginx pid 812")."""
    out = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 5 or parts[0] not in ("tcp", "udp"):
            continue
        address, _, port = parts[4].rpartition(":")
        if not port.isdigit():
            continue
        procs = re.findall(r'\("([^"]+)",pid=(\d+)', line)
        who = ", ".join(f"{name} pid {pid}" for name, pid in procs)
        out.append(Listener(parts[0], address.strip("[]").split("%")[0], int(port), who))
    return out


def with_processes(found: Sequence[Listener], named: Sequence[Listener]) -> list[Listener]:
    """The kernel's listeners, each with the process another source names for it."""
    return [
        dataclasses.replace(one, process=next((n.process for n in named if same(one, n) and n.process), ""))
        for one in found
    ]


def same(a: Listener, b: Listener) -> bool:
    return a.proto == b.proto and a.port == b.port and overlap(a.ip, b.ip)


def overlap(a: str, b: str) -> bool:
    """Two bindings of one port collide when either is on every address, or both on the same."""
    if a in (*ANY_ADDRESS, "*") or b in (*ANY_ADDRESS, "*"):
        return True
    try:
        return ipaddress.ip_address(a) == ipaddress.ip_address(b)
    except ValueError:
        return a == b
