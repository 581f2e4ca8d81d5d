"""Rules over a merged, rendered compose config (`config --format json`).

The security rules (SY001-SY012 and SY014, `check`) hold for a protected
environment (staging, prod); SY013 (`unreachable`) is a mistake in any
environment. Each rule has an id, a message that says what to do, and a test
under tests/unit/lint/test_compose_rules.py. Exemptions are labels on the
service, stating the reason: dev.stackyard.read-only-exempt,
dev.stackyard.root-exempt, dev.stackyard.docker-socket,
dev.stackyard.host-path-exempt; dev.stackyard.proxy marks the one service that
may publish ports to the world."""

from __future__ import annotations

import pathlib
import re
from collections.abc import Mapping

HOST_FILES_FIX = (
    "bake it into the image, or use `configs:` with `content:` (not in a read-only service: Compose "
    "cannot copy into one) (or label dev.stackyard.host-path-exempt with the reason)"
)
RULES = {
    "SY001": "runs as root: set `user:` to a non-root uid (or label dev.stackyard.root-exempt with the reason)",
    "SY002": "root filesystem is writable: set `read_only: true` with tmpfs where needed "
    "(or label dev.stackyard.read-only-exempt with the reason)",
    "SY003": "capabilities not dropped: set `cap_drop: [ALL]` (add back only what is needed)",
    "SY004": "privilege escalation allowed: add `no-new-privileges:true` to security_opt",
    "SY005": "no memory limit: set deploy.resources.limits.memory",
    "SY006": "no pids limit: set deploy.resources.limits.pids",
    "SY007": "privileged container: remove `privileged: true`",
    "SY008": "host network: remove `network_mode: host`",
    "SY009": "Docker socket mounted: only read-only, and with label dev.stackyard.docker-socket stating why",
    "SY010": "publishes a port to the world: only the proxy (label dev.stackyard.proxy) may; bind others to 127.0.0.1",
    "SY011": "long-running service without a healthcheck",
    "SY012": "image not taken from a variable: write ${X_IMAGE:-official/image:tag}",
    "SY013": "publishes ports but joins only internal networks, so Docker drops them without a word: "
    "attach it to a non-internal network too (as api joins `edge`)",
    "SY014": "mounts files from the host (a bind mount, or a `file:` config or secret), which a remote host "
    f"does not have: {HOST_FILES_FIX}",
}
SOCKET = "/var/run/docker.sock"
SOCKETS = {SOCKET, "/run/docker.sock"}
# What `cap_add` may give back after `cap_drop: [ALL]`: Docker's default set, the
# capabilities its container isolation is designed around. Anything beyond it
# is reported: each one is a known way out of the container or a power over the
# host (SYS_ADMIN is nearly root on the host, SYS_PTRACE reads other processes'
# memory, NET_ADMIN rewrites routes and firewalls and sniffs traffic,
# SYS_MODULE loads kernel code, DAC_READ_SEARCH opens host files by handle,
# SYS_RAWIO, SYS_TIME, BPF, ...), and a misspelt name is caught on the way.
DOCKER_DEFAULT_CAPS = frozenset(
    {
        "AUDIT_WRITE",
        "CHOWN",
        "DAC_OVERRIDE",
        "FOWNER",
        "FSETID",
        "KILL",
        "MKNOD",
        "NET_BIND_SERVICE",
        "NET_RAW",
        "SETFCAP",
        "SETGID",
        "SETPCAP",
        "SETUID",
        "SYS_CHROOT",
    }
)


def _labels(svc: Mapping) -> dict:
    labels = svc.get("labels") or {}
    if isinstance(labels, list):
        labels = dict(item.split("=", 1) if "=" in item else (item, "") for item in labels)
    return labels


def one_shots(services: Mapping[str, Mapping]) -> set[str]:
    """Services others wait on to complete (migrations): they need no healthcheck."""
    out = set()
    for svc in services.values():
        for dep, cond in (svc.get("depends_on") or {}).items():
            if (cond or {}).get("condition") == "service_completed_successfully":
                out.add(dep)
    return out


def check_service(
    name: str,
    svc: Mapping,
    one_shot: bool,
    raw_image: str | None,
    *,
    file_sources: Mapping[tuple[str, str], str] | None = None,
    root: pathlib.Path | None = None,
) -> list[tuple[str, str]]:
    """(rule, message) for one service of a protected environment's config;
    `file_sources` (see file_sources()) and `root` (the project's) for SY014."""
    out: list[str | tuple[str, str]] = []  # a rule, or a rule with a message naming what it found
    labels = _labels(svc)
    user = str(svc.get("user") or "")
    # uid 0 is root whatever the group: "0:1000" and "root:1000" too.
    if user.split(":")[0] in ("", "root", "0") and "dev.stackyard.root-exempt" not in labels:
        out.append("SY001")
    if not svc.get("read_only") and "dev.stackyard.read-only-exempt" not in labels:
        out.append("SY002")
    if "ALL" not in [c.upper() for c in svc.get("cap_drop") or []]:
        out.append("SY003")
    elif extra := dangerous_caps(svc):
        out.append(
            (
                "SY003",
                f"cap_add gives {', '.join(extra)}, beyond Docker's default capabilities: remove it "
                "(after cap_drop: [ALL], add back only defaults such as NET_BIND_SERVICE)",
            )
        )
    opts = {o.replace(" ", "").replace("=", ":") for o in svc.get("security_opt") or []}
    if not opts & {"no-new-privileges:true", "no-new-privileges"}:
        out.append("SY004")
    limits = ((svc.get("deploy") or {}).get("resources") or {}).get("limits") or {}
    if not (limits.get("memory") or svc.get("mem_limit")):
        out.append("SY005")
    if not (limits.get("pids") or svc.get("pids_limit")):
        out.append("SY006")
    if svc.get("privileged"):
        out.append("SY007")
    if svc.get("network_mode") == "host":
        out.append("SY008")
    for v in svc.get("volumes") or []:
        socket_mount = bool(SOCKETS & {v.get("source"), v.get("target")})
        if socket_mount and (not v.get("read_only") or "dev.stackyard.docker-socket" not in labels):
            out.append("SY009")
            break
    if "dev.stackyard.proxy" not in labels:
        for p in svc.get("ports") or []:
            # No `published` at all means a random host port on every interface.
            if (p.get("host_ip") or "0.0.0.0") not in ("127.0.0.1", "::1"):
                out.append("SY010")
                break
    health = svc.get("healthcheck") or {}
    if not one_shot and (not health.get("test") or health.get("disable")):
        out.append("SY011")
    if raw_image is not None and "${" not in raw_image:
        out.append("SY012")
    if (mounted := host_paths(svc, file_sources or {})) and "dev.stackyard.host-path-exempt" not in labels:
        out.append(("SY014", host_paths_message(mounted, root)))
    return [item if isinstance(item, tuple) else (item, RULES[item]) for item in out]


def file_sources(config: Mapping) -> dict[tuple[str, str], str]:
    """The configs and secrets read from a file, by ("configs"|"secrets", name): outside
    Swarm, Compose bind-mounts that file into the services that use them."""
    return {
        (kind, name): spec["file"]
        for kind in ("configs", "secrets")
        for name, spec in (config.get(kind) or {}).items()
        if (spec or {}).get("file")
    }


def host_paths(svc: Mapping, sources: Mapping[tuple[str, str], str]) -> list[str]:
    """SY014: the host paths a service mounts (its bind mounts, its `file:` configs and
    secrets), in order, once each. The Docker socket is SY009's."""
    out = [
        v.get("source") or "?"
        for v in svc.get("volumes") or []
        if v.get("type") == "bind" and not SOCKETS & {v.get("source"), v.get("target")}
    ]
    for kind in ("configs", "secrets"):
        for ref in svc.get(kind) or []:
            name = ref.get("source") if isinstance(ref, Mapping) else ref
            if (kind, name) in sources:
                out.append(sources[kind, name])
    return list(dict.fromkeys(out))


def host_paths_message(paths: list[str], root: pathlib.Path | None) -> str:
    """Each path said as what it is: a file of the checkout (Compose resolved a relative
    path there), which a remote host lacks; or a path on the engine's host, which no
    deploy puts there."""
    parts = []
    for path in paths:
        p = pathlib.PurePath(path)
        if root is not None and p.is_relative_to(root):
            parts.append(f"{p.relative_to(root)} from the checkout, which a remote host does not have")
        else:
            parts.append(f"the host path {path}, which no deploy puts on a host")
    return f"mounts {'; and '.join(parts)}: {HOST_FILES_FIX}"


def dangerous_caps(svc: Mapping) -> list[str]:
    """The capabilities `cap_add` gives that Docker does not grant by default ("ALL" included)."""
    added = [c.upper().removeprefix("CAP_") for c in svc.get("cap_add") or []]
    return sorted({c for c in added if c not in DOCKER_DEFAULT_CAPS})


def unreachable(config: Mapping) -> dict[str, list[tuple[str, str]]]:
    """SY013, in any environment: a service that publishes ports while every
    network it joins is internal. Docker drops such a binding without a word
    (the container is healthy, the port answers nothing)."""
    networks = config.get("networks") or {}
    out = {}
    for name, svc in sorted((config.get("services") or {}).items()):
        joined = list(svc.get("networks") or {})  # none (network_mode, or the default network): not ours to judge
        internal = [n for n in joined if (networks.get(n) or {}).get("internal")]
        if svc.get("ports") and joined and internal == joined:
            message = RULES["SY013"].replace("internal networks", f"internal networks ({', '.join(joined)})", 1)
            out[name] = [("SY013", message)]
    return out


def check(config: Mapping, raw: Mapping, root: pathlib.Path | None = None) -> dict[str, list[tuple[str, str]]]:
    """Findings per service; `raw` is the same config before interpolation (for SY012);
    `root`, the project's, tells a checkout's file from the host's own path (SY014)."""
    services = config.get("services") or {}
    raw_services = raw.get("services") or {}
    shots = one_shots(services)
    sources = file_sources(config)
    return {
        name: found
        for name, svc in sorted(services.items())
        if (
            found := check_service(
                name,
                svc,
                name in shots,
                (raw_services.get(name) or {}).get("image"),
                file_sources=sources,
                root=root,
            )
        )
    }


def locate(files, service: str) -> tuple[str, int]:
    """The file and line that define `service`, most specific file first."""

    pattern = re.compile(rf"^  {re.escape(service)}:\s*(#.*)?$")
    for f in reversed(list(files)):
        try:
            lines = f.read_text().splitlines()
        except OSError:
            continue
        section = None  # the top-level key we are under: only `services:` counts
        for i, line in enumerate(lines, 1):
            if line[:1] not in ("", " ", "#"):
                section = line.split(":", 1)[0].strip()
            elif section == "services" and pattern.match(line):
                return str(f), i
    return str(files[0]) if files else "?", 0
