"""engine/listeners.py: the kernel's socket tables and `ss -p`, as a host prints them."""

from __future__ import annotations

import pytest

from stackyard.engine import listeners
from stackyard.engine.listeners import Listener

PROC_TCP = (
    "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
    "   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000 0 1 1\n"
    "   1: 00000000:0050 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0 0 2 1\n"
    "   2: 0100007F:9C40 0100007F:1F90 01 00000000:00000000 00:00000000 00000000  1000 0 3 1\n"
)
PROC_TCP6 = (
    "  sl  local_address                         remote_address                        st\n"
    "   0: 00000000000000000000000000000000:01BB 00000000000000000000000000000000:0000 0A 0\n"
    "   1: 00000000000000000000000001000000:1538 00000000000000000000000000000000:0000 0A 0\n"
)
PROC_UDP = "   sl  local_address rem_address   st\n   5: 00000000:0035 00000000:0000 07 0\n"


def test_parse_proc_net_keeps_listeners_with_their_address():
    assert listeners.parse_proc_net("tcp", PROC_TCP) == [
        Listener("tcp", "127.0.0.1", 8080),
        Listener("tcp", "0.0.0.0", 80),
    ]
    assert listeners.parse_proc_net("tcp6", PROC_TCP6) == [Listener("tcp", "::", 443), Listener("tcp", "::1", 5432)]
    assert listeners.parse_proc_net("udp", PROC_UDP) == [Listener("udp", "0.0.0.0", 53)]


def test_parse_grep_tells_the_tables_apart():
    text = "".join(f"/proc/net/tcp:{ln}\n" for ln in PROC_TCP.splitlines()) + "/proc/net/udp6:   sl  x\n"
    tables = listeners.parse_grep(text)
    assert sorted(tables) == ["tcp", "udp6"]
    assert listeners.parse_proc_net("tcp", tables["tcp"])[1] == Listener("tcp", "0.0.0.0", 80)


def test_parse_ss_names_processes():
    text = (
        'tcp   LISTEN 0      511          0.0.0.0:80        0.0.0.0:*    users:(("nginx",pid=812,fd=6),("nginx",pid=813,fd=6))\n'
        "tcp   LISTEN 0      4096            [::]:22           [::]:*\n"
        "udp   UNCONN 0      0      127.0.0.53%lo:53        0.0.0.0:*\n"
    )
    assert listeners.parse_ss(text) == [
        Listener("tcp", "0.0.0.0", 80, "nginx pid 812, nginx pid 813"),
        Listener("tcp", "::", 22),
        Listener("udp", "127.0.0.53", 53),
    ]


def test_with_processes_names_the_kernels_listeners():
    found = [Listener("tcp", "0.0.0.0", 80), Listener("tcp", "::", 22)]
    named = [Listener("tcp", "0.0.0.0", 80, "nginx pid 812")]
    assert listeners.with_processes(found, named) == [Listener("tcp", "0.0.0.0", 80, "nginx pid 812"), found[1]]


@pytest.mark.parametrize(
    ("a", "b", "collide"),
    [
        ("127.0.0.1", "127.0.0.1", True),
        ("0.0.0.0", "127.0.0.1", True),
        ("::", "10.0.0.5", True),
        ("*", "10.0.0.5", True),
        ("", "::1", True),
        ("127.0.0.1", "10.0.0.5", False),
        ("::1", "0:0:0:0:0:0:0:1", True),
    ],
)
def test_overlap(a, b, collide):
    assert listeners.overlap(a, b) == collide
