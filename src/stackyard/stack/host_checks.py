"""`inv host.check`'s verdicts: pure functions from facts already read (the
engine's /version and /info, `df`, the host's socket tables, the environment's
rendered config) to rows of check, found, verdict and what to do. Nothing here
reads anything: stack/host.py gathers, these judge.

Verdicts: ok, warn (works, but see the advice), fail (a deploy would break:
exit 1), info (a fact worth knowing; nothing to judge)."""

from __future__ import annotations

import dataclasses
import datetime
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from stackyard.core import table
from stackyard.engine import api, diagnose
from stackyard.engine import listeners as listeners_
from stackyard.engine.listeners import Listener
from stackyard.engine.state import Port

GiB = 2**30
MiB = 2**20
# Below these the disk is a risk: a release adds its images, a deploy its backup.
WARN_FREE = 5 * GiB
WARN_FREE_SHARE = 0.10
FAIL_FREE = 1 * GiB
# Clock skew: TLS certificates and release timestamps tolerate seconds; a minute is wrong.
WARN_SKEW = 2.0
FAIL_SKEW = 60.0
# The first request (ssh connection included) beyond this makes every step of a deploy slow.
SLOW_CONNECT = 3.0

HEADERS = ("CHECK", "FOUND", "VERDICT", "WHAT TO DO")


@dataclass(frozen=True)
class Row:
    check: str
    found: str
    verdict: str  # ok, warn, fail, info
    todo: str = ""


def render(rows: Sequence[Row]) -> str:
    return table.render(HEADERS, [(r.check, r.found, r.verdict.upper(), r.todo) for r in rows])


# -- what the environment needs of the engine and of Compose ---------------------------------


@dataclass(frozen=True)
class Need:
    """A minimum version and why: what of the environment's config needs it."""

    why: str
    api: tuple[int, int] = (0, 0)  # Engine API
    engine: str = ""  # the Engine release that brought that API
    compose: tuple[int, ...] = (0, 0, 0)


# stackyard's own calls (`ps --format json` lines, `up --wait`, `config --format json`);
# on the engine, BuildKit by default (builds on the host).
BASE = Need("stackyard", (1, 42), "23.0", diagnose.MIN_COMPOSE)
# Compose refuses start_interval on an older engine ("require Docker Engine v25 or later").
START_INTERVAL = Need("healthcheck start_interval", (1, 44), "25.0", (2, 24, 0))
# Mounting a volume's sub-directory: Moby 26 (API 1.45), Compose 2.26.0.
SUBPATH = Need("volume subpath", (1, 45), "26.0", (2, 26, 0))


def _some(names: Iterable[str]) -> str:
    names = sorted(set(names))
    return ", ".join(names[:3]) + (f" +{len(names) - 3}" if len(names) > 3 else "")


def needs(config: Mapping) -> list[Need]:
    """BASE, and each feature the rendered config uses that needs more, naming its services."""
    services = config.get("services") or {}
    interval = [n for n, s in services.items() if "start_interval" in (s.get("healthcheck") or {})]
    subpath = [
        n
        for n, s in services.items()
        for v in s.get("volumes") or []
        if isinstance(v, Mapping) and (v.get("volume") or {}).get("subpath")
    ]
    out = [BASE]
    if interval:
        out.append(dataclasses.replace(START_INTERVAL, why=f"{START_INTERVAL.why} ({_some(interval)})"))
    if subpath:
        out.append(dataclasses.replace(SUBPATH, why=f"{SUBPATH.why} ({_some(subpath)})"))
    return out


def _v(parts: Sequence[int]) -> str:
    return ".".join(map(str, parts))


def api_version(text: str) -> tuple[int, int]:
    m = re.match(r"\s*(\d+)\.(\d+)", text or "")
    return (int(m.group(1)), int(m.group(2))) if m else (0, 0)


# -- the engine ----------------------------------------------------------------------------


def check_reach(endpoint: str, seconds: float) -> Row:
    found = f"{endpoint} answered in {seconds:.2f} s"
    if seconds > SLOW_CONNECT:
        return Row(
            "engine reachable",
            found,
            "warn",
            "a slow link: every docker call of a deploy pays part of this (see the ssh row)",
        )
    return Row("engine reachable", found, "ok")


def check_engine(server: Mapping, wanted: Sequence[Need]) -> Row:
    have = api_version(server.get("ApiVersion", ""))
    need = max(reversed(wanted), key=lambda n: n.api)  # a tie names the feature, not BASE
    found = (
        f"Docker {server.get('Version', '?')} (API {server.get('ApiVersion', '?')}); "
        f"needs {need.engine}+ (API {_v(need.api)}) for {need.why}"
    )
    if have < need.api:
        return Row(
            "engine version",
            found,
            "fail",
            f"upgrade Docker Engine on the host to {need.engine} or newer (https://docs.docker.com/engine/install/)",
        )
    return Row("engine version", found, "ok")


ARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64", "armv7l": "arm", "armhf": "arm"}


def arch(name: str) -> str:
    """Docker's name for an architecture (uname's x86_64 is amd64, aarch64 is arm64)."""
    return ARCH.get((name or "").lower(), (name or "?").lower())


def built_platforms(config: Mapping) -> dict[str, str]:
    """Services whose image is built here -> the architecture it is built for
    ("" when the builder's own: no `platform:`)."""
    out = {}
    for name, svc in (config.get("services") or {}).items():
        if "build" in svc:
            platform = svc.get("platform") or ""
            out[name] = arch(platform.split("/")[1]) if platform.count("/") >= 1 else ""
    return out


def check_platform(server: Mapping, info: Mapping, here: str, built: Mapping[str, str]) -> Row:
    os_name, host = server.get("Os", "?"), arch(server.get("Arch") or info.get("Architecture", ""))
    found = (
        f"{os_name}/{host}, {info.get('OperatingSystem', '?')}, {info.get('NCPU', '?')} CPUs, "
        f"{info.get('MemTotal', 0) / GiB:.1f} GiB RAM"
    )
    if os_name != "linux":
        return Row("OS/arch", found, "fail", "the environment's images are Linux images: use a Linux host")
    foreign = sorted(name for name, a in built.items() if (a or arch(here)) != host)
    if foreign:
        return Row(
            "OS/arch",
            f"{found}; images built here are linux/{arch(here)}",
            "warn",
            f"images built on this machine will not run there ({_some(foreign)}): build them on the host, "
            f"or set `platform: linux/{host}` on those services (an emulated build: slow)",
        )
    return Row("OS/arch", found, "ok")


# Drivers that keep a full copy per layer, or that Docker removed: slow and disk-hungry.
OLD_DRIVERS = {"vfs", "devicemapper", "aufs", "overlay"}


def check_storage(info: Mapping) -> Row:
    driver = info.get("Driver", "?")
    found = f"{driver} on {info.get('DockerRootDir', '?')}"
    if driver in OLD_DRIVERS:
        return Row(
            "storage driver",
            found,
            "warn",
            "use overlay2: put the engine's data directory on ext4 or xfs (a copy per layer otherwise)",
        )
    return Row("storage driver", found, "ok")


# -- Compose ------------------------------------------------------------------------------------


def check_compose(version_text: str | None, wanted: Sequence[Need]) -> Row:
    """Compose on this machine: it reads the files and drives the host's engine."""
    need = max(reversed(wanted), key=lambda n: n.compose)
    if version_text is None:
        return Row(
            "compose (here)",
            "docker compose (v2) not found on this machine",
            "fail",
            "install the docker-compose-plugin here (Compose runs here and drives the host's engine)",
        )
    have = diagnose.parse_version(version_text)
    found = f"Compose {_v(have)}; needs {_v(need.compose)}+ for {need.why}"
    if have < need.compose:
        return Row("compose (here)", found, "fail", f"upgrade the docker-compose-plugin here to {_v(need.compose)}+")
    return Row("compose (here)", found, "ok")


def check_host_compose(version_text: str | None, ssh_error: str = "") -> Row:
    """Compose on the host: stackyard never runs it there."""
    if ssh_error:
        return Row("compose (host)", f"unknown: ssh failed ({ssh_error})", "info")
    if version_text is None:
        return Row("compose (host)", "not installed: not needed (Compose runs here)", "info")
    return Row("compose (host)", f"Compose {_v(diagnose.parse_version(version_text))}: not used by stackyard", "info")


# -- disk ----------------------------------------------------------------------------------


def parse_df(text: str) -> tuple[int, int] | None:
    """(free, total) bytes from `df -P -k` output; None when it has no data line."""
    lines = [ln.split() for ln in text.splitlines()[1:] if ln.strip()]
    if not lines or len(lines[-1]) < 6 or not lines[-1][1].isdigit():
        return None
    fields = lines[-1]
    return int(fields[3]) * 1024, int(fields[1]) * 1024


def size(n: float) -> str:
    return f"{n / GiB:.1f} GiB" if n >= GiB else f"{n / MiB:.0f} MiB"


PRUNE = "free space: `docker system prune` removes stopped containers, unused networks, dangling images and build cache"


def check_disk(root: str, space: tuple[int, int] | None, why_unknown: str = "") -> Row:
    if space is None:
        return Row(
            "disk",
            f"free space of {root} unknown ({why_unknown})",
            "warn",
            f"look on the host: `df -h {root}`",
        )
    free, total = space
    share = free / total if total else 0.0
    found = f"{size(free)} free of {size(total)} ({share:.0%}) on {root}"
    if free < FAIL_FREE:
        return Row("disk", found, "fail", PRUNE)
    if free < WARN_FREE or share < WARN_FREE_SHARE:
        return Row("disk", found, "warn", PRUNE)
    return Row("disk", found, "ok")


def repositories(config: Mapping) -> set[str]:
    """The image repositories the environment runs ("stackyard-app" of "stackyard-app:latest")."""
    out = set()
    for svc in (config.get("services") or {}).values():
        image = (svc.get("image") or "").split("@", 1)[0]
        name, _, tag = image.rpartition(":")
        out.add(name if name and "/" not in tag else image)
    return out - {""}


def check_space(usage: Mapping, repos: set[str], project: str) -> Row:
    """What the environment already takes on the host (its images, every tag; its
    volumes), and the engine's build cache: where a full disk goes."""
    images = [
        i for i in usage.get("Images") or [] if any(t.rpartition(":")[0] in repos for t in i.get("RepoTags") or [])
    ]
    # Layers shared between its images (one base) counted once: an estimate, as `docker system df` gives.
    shared = max((i.get("SharedSize", 0) or 0 for i in images), default=0)
    image_bytes = sum(max(i.get("Size", 0) - (i.get("SharedSize", 0) or 0), 0) for i in images) + max(shared, 0)
    volumes = [v for v in usage.get("Volumes") or [] if (v.get("Labels") or {}).get(api.PROJECT) == project]
    volume_bytes = sum(max((v.get("UsageData") or {}).get("Size", 0), 0) for v in volumes)
    cache = sum(c.get("Size", 0) for c in usage.get("BuildCache") or [] if not c.get("InUse"))
    return Row(
        "space used",
        f"{project}: {len(images)} images ~{size(image_bytes)}, {len(volumes)} volumes {size(volume_bytes)}; "
        f"build cache not in use: {size(cache)}",
        "info",
    )


# -- ports ---------------------------------------------------------------------------------


def check_ports(
    published: Sequence[Port],
    project: str,
    containers: Sequence[Mapping],
    listeners: Sequence[Listener] | None,
    port_vars: Mapping[tuple[str, int], str],
    unknown_why: str = "",
) -> list[Row]:
    """Each port the environment publishes: free on the host, or held by this
    project's own container (ok); held by another container or a process (fail)."""
    rows = []
    for p in published:
        where = f"{p.host_ip or '0.0.0.0'}:{p.published}"
        check = f"port {p.published}/{p.protocol}"
        var = port_vars.get((p.service, p.target))
        other_port = f"set {var} to a free port" if var else "publish it on another port"
        holders = [
            (api.name(c), (c.get("Labels") or {}).get(api.PROJECT, ""))
            for c in containers
            for q in c.get("Ports") or []
            if q.get("PublicPort") == p.published
            and q.get("Type", "tcp") == p.protocol
            and listeners_.overlap(q.get("IP", ""), p.host_ip)
        ]
        others = sorted({(n, proj) for n, proj in holders if proj != project})
        if others:
            name, proj = others[0]
            rows.append(
                Row(
                    check,
                    f"{where} for {p.service}: taken by container {name}"
                    + (f" (project {proj})" if proj else " (no compose project)"),
                    "fail",
                    f"stop that container (`docker stop {name}` on the host), or {other_port}",
                )
            )
        elif holders:
            rows.append(Row(check, f"{where} for {p.service}: held by this project's {holders[0][0]}", "ok"))
        elif listeners is None:
            rows.append(
                Row(
                    check,
                    f"{where} for {p.service}: no container holds it; host processes unknown ({unknown_why})",
                    "warn",
                    f"look on the host: `ss -ltnp 'sport = :{p.published}'`",
                )
            )
        else:
            taken = [s for s in listeners if listeners_.same(s, Listener(p.protocol, p.host_ip, p.published))]
            if taken:
                who = next((s.process for s in taken if s.process), "")
                rows.append(
                    Row(
                        check,
                        f"{where} for {p.service}: taken by a process on the host"
                        + (f" ({who})" if who else f" (listening on {taken[0].ip or '*'}; not named: see ss)"),
                        "fail",
                        f"stop it (`sudo ss -ltnp 'sport = :{p.published}'` on the host names it), or {other_port}",
                    )
                )
            else:
                rows.append(Row(check, f"{where} for {p.service}: free", "ok"))
    return rows


# -- clock, ssh -----------------------------------------------------------------------------


def check_clock(system_time: str, sent: float, received: float) -> Row:
    """The engine's clock against ours, at the middle of the request: the skew is
    known within half the round trip, and judged by its smallest possible value."""
    m = re.match(r"(.*?T[\d:]+)(\.\d+)?(Z|[+-][\d:]+)$", system_time or "")
    if not m:
        return Row("clock", f"the engine's time is unreadable ({system_time!r})", "warn")
    fraction = (m.group(2) or "")[:7]  # Python reads microseconds; the engine sends nanoseconds
    zone = "+00:00" if m.group(3) == "Z" else m.group(3)
    remote = datetime.datetime.fromisoformat(m.group(1) + fraction + zone).timestamp()
    skew = remote - (sent + received) / 2
    margin = (received - sent) / 2
    least = max(abs(skew) - margin, 0.0)
    shown = round(skew, 2) + 0.0  # no "-0.00"
    found = f"host clock {shown:+.2f} s from this machine's (± {margin:.2f} s: half the round trip)"
    todo = (
        "sync the clocks (`timedatectl set-ntp true`, or chrony) on whichever is off: "
        "TLS certificates and release times depend on them"
    )
    if least > FAIL_SKEW:
        return Row("clock skew", found, "fail", todo)
    if least > WARN_SKEW:
        return Row("clock skew", found, "warn", todo)
    return Row("clock skew", found, "ok")


def parse_ssh_options(text: str) -> dict[str, str]:
    """`ssh -G` output ("key value" lines) -> {key: value}."""
    return {k: v for k, _, v in (ln.strip().partition(" ") for ln in text.splitlines()) if k}


def check_ssh(options: Mapping[str, str], host: str, alone: float | None, shared: float, refused: str = "") -> Row:
    """Whether docker's many short ssh calls share one connection (ControlMaster),
    with a call's time measured both ways; `alone` None: a new connection failed
    (`refused` says why) while the shared one still works."""
    # `ssh -G` says "false" for `ControlMaster no` ("true" for yes).
    on = options.get("controlmaster", "false") not in ("false", "no") and options.get("controlpath", "none") != "none"
    if alone is None:
        return Row(
            "ssh",
            f"a new connection fails ({refused or 'no reason given'}); only the shared one works",
            "warn",
            "every docker call fails once the shared connection ends: is sshd running on the host?",
        )
    if on:
        persist = options.get("controlpersist", "no")
        return Row(
            "ssh",
            f"shared connection (ControlMaster {options['controlmaster']}, ControlPersist {persist}): "
            f"a call {shared:.2f} s, {alone:.2f} s with a new connection",
            "info",
            "" if persist != "no" else "add `ControlPersist 60` so that the shared connection outlives one call",
        )
    return Row(
        "ssh",
        f"no shared connection: each docker call opens one ({alone:.2f} s measured)",
        "info",
        f"in ~/.ssh/config: `Host {host}` with `ControlMaster auto`, `ControlPath ~/.ssh/cm-%C`, `ControlPersist 60`",
    )


def failed(rows: Sequence[Row]) -> list[Row]:
    return [r for r in rows if r.verdict == "fail"]
