"""ports: is a host port free, and which process holds it (Linux /proc)."""

from __future__ import annotations

import os
import socket

import pytest

from stackyard.engine import ports

HAS_PROC_NET = os.path.exists("/proc/net/tcp")


def listening() -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    s.listen()
    return s


def test_is_free_false_while_listening_true_after_close():
    s = listening()
    port = s.getsockname()[1]
    try:
        assert ports.is_free(port, "127.0.0.1") is False
        assert ports.is_free(port) is False  # any address overlaps 127.0.0.1
    finally:
        s.close()
    assert ports.is_free(port, "127.0.0.1") is True


def test_free_port_is_free_and_binds_on_loopback():
    port = ports.free_port()
    assert 1024 <= port <= 65535
    assert ports.is_free(port, "127.0.0.1")
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))  # usable as given


@pytest.mark.skipif(not HAS_PROC_NET, reason="needs Linux /proc/net/tcp")
def test_holder_finds_this_process():
    s = listening()
    port = s.getsockname()[1]
    try:
        with open("/proc/self/comm") as f:
            comm = f.read().strip()
        assert ports.holder(port) == f"pid {os.getpid()} ({comm})"
    finally:
        s.close()
    assert ports.holder(port) is None


def test_holder_reads_a_proc_tree(tmp_path):
    # A fake /proc: port 5432 (0x1538) listens (0A) with inode 4711, held by pid 321.
    (tmp_path / "net").mkdir()
    header = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
    (tmp_path / "net" / "tcp").write_text(
        header
        + "   0: 0100007F:1538 00000000:0000 0A 00000000:00000000 00:00000000 00000000   999        0 4711 1\n"
        + "   1: 0100007F:1F40 0100007F:9C40 01 00000000:00000000 00:00000000 00000000   999        0 4712 1\n"
    )
    (tmp_path / "net" / "tcp6").write_text(header)
    (tmp_path / "321" / "fd").mkdir(parents=True)
    (tmp_path / "321" / "comm").write_text("postgres\n")
    os.symlink("socket:[4711]", tmp_path / "321" / "fd" / "7")
    (tmp_path / "99" / "fd").mkdir(parents=True)
    (tmp_path / "99" / "comm").write_text("curl\n")
    os.symlink("/dev/null", tmp_path / "99" / "fd" / "0")
    os.symlink("socket:[4712]", tmp_path / "99" / "fd" / "3")  # a client's socket on 8000, not listening
    (tmp_path / "self").mkdir()  # not a pid: ignored

    assert ports.holder(5432, proc_root=str(tmp_path)) == "pid 321 (postgres)"
    assert ports.holder(8000, proc_root=str(tmp_path)) is None  # 0x1F40 is connected, not listening


def test_holder_without_proc(tmp_path):
    assert ports.holder(5432, proc_root=str(tmp_path / "nothing")) is None
