"""Host ports: is one free, and (on Linux) which process holds it."""

from __future__ import annotations

import errno
import os
import socket


def is_free(port: int, host: str = "") -> bool:
    """True when a listening socket could be bound at host:port right now."""
    host = host or "0.0.0.0"
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        # As servers bind: connections lingering in TIME_WAIT do not make a port
        # taken; a socket listening on it does (Linux).
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return False
            if exc.errno == errno.EACCES:  # a privileged port: the engine binds it as root
                return True
            raise
    return True


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on at `host` right now, chosen by the OS: for
    throwaway stacks and tests (another process may take it before it is used)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def holder(port: int, proc_root: str = "/proc") -> str | None:
    """'pid 1234 (python3)' for the process listening on TCP `port`, when /proc tells."""
    inodes = set()
    for table in ("net/tcp", "net/tcp6"):
        try:
            with open(os.path.join(proc_root, table)) as f:
                next(f)
                for line in f:
                    parts = line.split()
                    local, st, inode = parts[1], parts[3], parts[9]
                    if st == "0A" and int(local.rsplit(":", 1)[1], 16) == port:  # 0A = LISTEN
                        inodes.add(inode)
        except (OSError, StopIteration, IndexError, ValueError):
            continue
    if not inodes:
        return None
    targets = {f"socket:[{i}]" for i in inodes}
    for pid in filter(str.isdigit, os.listdir(proc_root)):
        fd_dir = os.path.join(proc_root, pid, "fd")
        try:
            for fd in os.listdir(fd_dir):
                if os.readlink(os.path.join(fd_dir, fd)) in targets:
                    with open(os.path.join(proc_root, pid, "comm")) as f:
                        return f"pid {pid} ({f.read().strip()})"
        except OSError:
            continue
    return None
