"""`inv host.check`: is the engine an environment deploys to ready for it?
Engine and Compose versions against what the environment's config needs, the
host's OS and architecture, storage driver, disk, the ports the environment
publishes, clock skew and, for an ssh:// host, connection sharing. This module
reads the facts (from the engine, over ssh, from the rendered config);
host_checks.py judges them. The target is the session's engine: `--host`, the
environment's host, DOCKER_HOST or the current docker context."""

from __future__ import annotations

import json
import os
import platform
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass

from stackyard.commands import compose, docker, ssh
from stackyard.engine import api, diagnose, listeners, ports, reach, state
from stackyard.errors import StackyardError, last_line
from stackyard.lint import run as lint_run
from stackyard.session import Session
from stackyard.stack import host_checks as hc

# A host that answers ssh at all answers these well within it.
SSH_TIMEOUT = 30
CONNECT_TIMEOUT = 60
PROC_TABLES = ("tcp", "tcp6", "udp", "udp6")
# ssh's own exit code when it could not connect or log in (else: the remote command's).
SSH_FAILED = 255


@dataclass(frozen=True)
class Report:
    endpoint: str
    rows: list[hc.Row]


def gather(s: Session, clock: Callable[[], float] = time.monotonic, now: Callable[[], float] = time.time) -> Report:
    """Every check's row; an engine that does not answer is one error naming the host and the fix."""
    endpoint = s.read(docker.endpoint(), check=False).stdout.strip()
    target = ssh.target(endpoint)
    local = endpoint.startswith(("unix://", "npipe://"))

    start = clock()
    res = s.read(docker.version_json(), check=False, timeout=CONNECT_TIMEOUT)
    took = clock() - start
    server = _server(res.stdout)
    if not res.ok or not server:
        raise reach.explain(endpoint, res.stderr or res.stdout)
    client = s.engine()
    sent = now()
    info = api.info(client)
    received = now()

    stand_ins = lint_run.placeholder_secrets(s.project)  # ports and features need no secret
    cfg = state.parse_config(s.read(compose.config_json(s.env, extra_env=stand_ins)).stdout)
    raw = state.parse_config(s.read(compose.config_json_raw(s.env, extra_env=stand_ins)).stdout)
    wanted = hc.needs(cfg)
    here = s.read(compose.version(), check=False)

    rows = [
        hc.check_reach(endpoint, took),
        hc.check_engine(server, wanted),
        hc.check_platform(server, info, platform.machine(), hc.built_platforms(cfg)),
        hc.check_storage(info),
        hc.check_compose(here.stdout if here.ok else None, wanted),
    ]
    if target:
        res = s.read(ssh.compose_version(target), check=False, timeout=SSH_TIMEOUT)
        failed = last_line(res.stderr) if res.returncode == SSH_FAILED else ""
        rows.append(hc.check_host_compose(res.stdout.strip() if res.ok else None, failed))
    rows.append(_disk(s, target, local, info.get("DockerRootDir", "")))
    rows.append(hc.check_space(api.disk_usage(client), hc.repositories(cfg), s.env.project))
    published = state.published_ports(cfg)
    held, why = _listeners(s, target, local, {p.published for p in published})
    rows += hc.check_ports(published, s.env.project, api.running(client), held, diagnose.port_variables(raw), why)
    rows.append(hc.check_clock(info.get("SystemTime", ""), sent, received))
    if target:
        rows.append(_ssh(s, target, clock))
    return Report(endpoint, rows)


def _server(version_json: str) -> dict:
    try:
        return json.loads(version_json or "{}").get("Server") or {}
    except (json.JSONDecodeError, AttributeError):
        return {}


def _disk(s: Session, target: ssh.Target | None, local: bool, root: str) -> hc.Row:
    """Free space where the engine keeps its data: `df` over ssh, or here when it is here."""
    if target:
        res = s.read(ssh.free_space(target, root), check=False, timeout=SSH_TIMEOUT)
        space = hc.parse_df(res.stdout) if res.ok else None
        return hc.check_disk(root, space, last_line(res.stderr) or "df printed nothing")
    if local and os.path.isdir(root):
        usage = shutil.disk_usage(root)
        return hc.check_disk(root, (usage.free, usage.total))
    return hc.check_disk(root, None, "the engine is neither on this machine nor reached over ssh")


def _listeners(
    s: Session, target: ssh.Target | None, local: bool, wanted: set[int]
) -> tuple[list[listeners.Listener] | None, str]:
    """The host's listening sockets (processes named where the host tells), or
    None and why not."""
    if target:
        res = s.read(ssh.listening(target), check=False, timeout=SSH_TIMEOUT)
        tables = listeners.parse_grep(res.stdout)
        if not tables:
            return None, last_line(res.stderr) or "the host's /proc/net is unreadable"
        found = [one for name, text in tables.items() for one in listeners.parse_proc_net(name, text)]
        owners = s.read(ssh.socket_owners(target), check=False, timeout=SSH_TIMEOUT)
        return listeners.with_processes(found, listeners.parse_ss(owners.stdout) if owners.ok else []), ""
    tables = local_tables() if local else {}
    if not tables:
        return None, "the engine is neither on this machine (with a /proc) nor reached over ssh"
    found = [one for name, text in tables.items() for one in listeners.parse_proc_net(name, text)]
    taken = {one.port for one in found if one.proto == "tcp"} & wanted
    named = [listeners.Listener("tcp", "", port, ports.holder(port) or "") for port in sorted(taken)]
    return listeners.with_processes(found, named), ""


def local_tables(proc_net: str = "/proc/net") -> dict[str, str]:
    """This machine's socket tables, by name ({} where there is no /proc: macOS)."""
    tables = {}
    for name in PROC_TABLES:
        try:
            with open(os.path.join(proc_net, name)) as f:
                tables[name] = f.read()
        except OSError:
            continue
    return tables


def _ssh(s: Session, target: ssh.Target, clock: Callable[[], float]) -> hc.Row:
    """Connection sharing as ssh sees it for this host, and a call timed with and without it."""
    options = hc.parse_ssh_options(s.read(ssh.options(target), check=False).stdout)
    timed = []
    for shared in (False, True):
        start = clock()
        res = s.read(ssh.true(target, shared=shared), check=False, timeout=SSH_TIMEOUT)
        timed.append((clock() - start, res))
    (alone, own), (together, _) = timed
    return hc.check_ssh(options, target.host, alone if own.ok else None, together, last_line(own.stderr))


def run(s: Session, clock: Callable[[], float] = time.monotonic, now: Callable[[], float] = time.time) -> None:
    """Print the table and a count per verdict; any fail is an error (exit 1)."""
    report = gather(s, clock, now)
    s.print(hc.render(report.rows))
    count = {v: sum(r.verdict == v for r in report.rows) for v in ("ok", "warn", "fail", "info")}
    s.print(f"\n{report.endpoint}: " + ", ".join(f"{n} {v}" for v, n in count.items()))
    bad = hc.failed(report.rows)
    if bad:
        raise StackyardError(
            f"{len(bad)} check(s) failed on {report.endpoint}: {', '.join(r.check for r in bad)}",
            "see WHAT TO DO above",
        )
