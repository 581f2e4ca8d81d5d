"""Reading Compose's JSON: `ps --format json` (JSON Lines since Compose 2.21,
a JSON array before) and `config --format json`."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass

from stackyard.errors import StackyardError

# Container ports that are HTTP(S) by convention: shown as URLs in tables.
HTTP_PORTS = {80, 3000, 5000, 5555, 8000, 8080, 8888, 9000}
HTTPS_PORTS = {443, 8443}
# How Compose and the engine write "every address of the host".
ANY_ADDRESS = ("", "0.0.0.0", "::")
# Compose's label listing a container's depends_on: "migrate:service_completed_successfully:false,db:...".
DEPENDS_ON = "com.docker.compose.depends_on"
_WAITS_FOR = re.compile(r"([\w.-]+):service_completed_successfully")


@dataclass(frozen=True)
class Port:
    service: str
    host_ip: str
    published: int
    target: int
    protocol: str = "tcp"

    @property
    def all_interfaces(self) -> bool:
        """Published on every address of the host (reachable from other machines)."""
        return self.host_ip in ANY_ADDRESS

    def url(self) -> str:
        """Where to reach it from this machine: a clickable URL (an all-interfaces
        binding is reached at 127.0.0.1)."""
        host = "127.0.0.1" if self.all_interfaces else self.host_ip
        if ":" in host:
            host = f"[{host}]"
        if self.target in HTTPS_PORTS:
            return f"https://{host}:{self.published}"
        if self.target in HTTP_PORTS:
            return f"http://{host}:{self.published}"
        return f"{host}:{self.published}/{self.protocol}"

    def shown(self) -> str:
        """The URL as a status table shows it: an all-interfaces binding says so."""
        return self.url() + (" (all interfaces)" if self.all_interfaces else "")


@dataclass(frozen=True)
class Container:
    name: str
    service: str
    state: str  # running, exited, restarting, created, ...
    health: str  # healthy, unhealthy, starting, or "" when there is no check
    exit_code: int
    ports: tuple[Port, ...]
    #: Services this container waits for to complete (depends_on: service_completed_successfully):
    #: one-shots such as migrations, which exit 0 when done.
    waits_for: tuple[str, ...] = ()

    @property
    def failed(self) -> bool:
        return (
            self.health == "unhealthy"
            or self.state in ("restarting", "dead")
            or (self.state == "exited" and self.exit_code != 0)
        )


def parse_ps(text: str) -> list[Container]:
    text = text.strip()
    if not text:
        return []
    try:
        rows = json.loads(text) if text.startswith("[") else [json.loads(ln) for ln in text.splitlines() if ln]
    except json.JSONDecodeError as exc:
        raise StackyardError(f"could not read `docker compose ps` JSON: {exc}") from exc
    out = []
    for r in rows:
        ports = tuple(
            Port(
                r.get("Service", ""),
                p.get("URL", ""),
                int(p["PublishedPort"]),
                int(p.get("TargetPort", 0)),
                p.get("Protocol", "tcp"),
            )
            for p in r.get("Publishers") or []
            if p.get("PublishedPort")
        )
        # Compose lists IPv4 and IPv6 bindings of one port separately.
        ports = _unique(ports)
        out.append(
            Container(
                name=r.get("Name", ""),
                service=r.get("Service", ""),
                state=r.get("State", ""),
                health=r.get("Health", "") or "",
                exit_code=int(r.get("ExitCode", 0) or 0),
                ports=ports,
                # `ps` gives the labels as one "k=v,k=v" string; the depends_on value has commas too.
                waits_for=waits_for(r.get("Labels") or ""),
            )
        )
    return sorted(out, key=lambda c: (c.service, c.name))


def waits_for(labels: str) -> tuple[str, ...]:
    """The services named with `service_completed_successfully` in Compose's depends_on label."""
    return tuple(_WAITS_FOR.findall(labels))


def _unique(ports: tuple[Port, ...]) -> tuple[Port, ...]:
    """One Port per binding: "0.0.0.0" and "::" (any address) count as one."""
    seen: dict[tuple, Port] = {}
    for p in ports:
        host = "" if p.all_interfaces else p.host_ip
        seen.setdefault((host, p.published, p.target, p.protocol), p)
    return tuple(seen.values())


def parse_config(text: str) -> dict:
    try:
        return json.loads(text) if text.strip() else {"services": {}}
    except json.JSONDecodeError as exc:
        raise StackyardError(f"could not read `docker compose config` JSON: {exc}") from exc


def published_ports(config: dict) -> list[Port]:
    """Host ports a rendered config publishes (ranges and unpublished ports skipped)."""
    out = []
    for name, svc in sorted(config.get("services", {}).items()):
        for p in svc.get("ports", []) or []:
            published = str(p.get("published") or "")
            if published.isdigit():
                out.append(
                    Port(
                        name,
                        p.get("host_ip", "") or "",
                        int(published),
                        int(p.get("target", 0)),
                        p.get("protocol", "tcp"),
                    )
                )
    return out


def services(config: dict) -> list[str]:
    return sorted(config.get("services", {}))


def scaled_to_zero(config: Mapping) -> set[str]:
    """Services the environment keeps in its config but runs no container of
    (`deploy.replicas: 0` or `scale: 0`: e.g. programs an all-in-one container runs)."""
    return {
        name
        for name, svc in (config.get("services") or {}).items()
        if (svc.get("deploy") or {}).get("replicas") == 0 or svc.get("scale") == 0
    }


def one_shot_services(config: dict) -> set[str]:
    """Services another one waits for to complete (`service_completed_successfully`):
    they run once and exit 0 (migrations); every other service is meant to keep running."""
    return {
        name
        for svc in config.get("services", {}).values()
        for name, cond in (svc.get("depends_on") or {}).items()
        if (cond or {}).get("condition") == "service_completed_successfully"
    }


def builders(config: dict, service: str) -> list[str]:
    """The services whose build makes `service`'s image: itself when it has a `build:`,
    else those that build the same `image:` (Compose builds a shared image once)."""
    services = config.get("services", {})
    svc = services.get(service, {})
    if svc.get("build"):
        return [service]
    image = svc.get("image")
    return [
        name for name, other in sorted(services.items()) if image and other.get("build") and other.get("image") == image
    ]


_HEALTH = {"(healthy)": "healthy", "(unhealthy)": "unhealthy", "(health: starting)": "starting"}


def parse_engine(rows: list[dict]) -> list[Container]:
    """Containers from the Engine API's /containers/json, in parse_ps's shape."""

    out = []
    for r in rows:
        labels = r.get("Labels") or {}
        status = r.get("Status", "")
        health = next((v for k, v in _HEALTH.items() if k in status), "")
        m = re.match(r"Exited \((\d+)\)", status)
        service = labels.get("com.docker.compose.service", "")
        ports = tuple(
            dict.fromkeys(
                Port(service, p.get("IP", ""), int(p["PublicPort"]), int(p.get("PrivatePort", 0)), p.get("Type", "tcp"))
                for p in r.get("Ports") or []
                if p.get("PublicPort") and ":" not in p.get("IP", "")  # IPv6 twin of an IPv4 binding
            )
        )
        out.append(
            Container(
                name=(r.get("Names") or ["/"])[0].lstrip("/"),
                service=service,
                state=r.get("State", ""),
                health=health,
                exit_code=int(m.group(1)) if m else 0,
                ports=ports,
                waits_for=waits_for(labels.get(DEPENDS_ON, "")),
            )
        )
    return sorted(out, key=lambda c: (c.service, c.name))


def raw_ports(raw_config: dict) -> list[tuple[str, str, str, str]]:
    """(service, host address, published, target) of every port entry of a
    config read before interpolation, as written: "127.0.0.1:${API_PORT:-8000}:8000"
    gives ("api", "127.0.0.1", "${API_PORT:-8000}", "8000")."""

    out = []
    for name, svc in (raw_config.get("services") or {}).items():
        for p in svc.get("ports") or []:
            if isinstance(p, dict):
                out.append((name, str(p.get("host_ip") or ""), str(p.get("published") or ""), str(p.get("target", ""))))
                continue
            parts = re.split(r":(?![^{]*})", str(p))  # colons inside ${...} do not split
            parts = [""] * (3 - len(parts)) + parts[-3:]
            out.append((name, parts[0], parts[1], parts[2].split("/")[0]))
    return out


def variable_of(text: str) -> str | None:
    """The variable a value is taken from: "${API_PORT:-8000}" -> "API_PORT"."""

    m = re.match(r"\$\{?(\w+)", text)
    return m.group(1) if m else None
