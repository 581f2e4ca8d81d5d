"""Reading Compose's JSON: `ps --format json` (JSON Lines since Compose 2.21,
a JSON array before) and `config --format json`."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from stackyard.errors import StackyardError

# Container ports that are HTTP(S) by convention: shown as URLs in tables.
HTTP_PORTS = {80, 3000, 5000, 5555, 8000, 8080, 8888, 9000}
HTTPS_PORTS = {443, 8443}


@dataclass(frozen=True)
class Port:
    service: str
    host_ip: str
    published: int
    target: int
    protocol: str = "tcp"

    def url(self) -> str:
        host = self.host_ip if self.host_ip not in ("", "0.0.0.0", "::") else "127.0.0.1"
        if ":" in host:
            host = f"[{host}]"
        if self.target in HTTPS_PORTS:
            return f"https://{host}:{self.published}"
        if self.target in HTTP_PORTS:
            return f"http://{host}:{self.published}"
        return f"{host}:{self.published}/{self.protocol}"


@dataclass(frozen=True)
class Container:
    name: str
    service: str
    state: str  # running, exited, restarting, created, ...
    health: str  # healthy, unhealthy, starting, or "" when there is no check
    exit_code: int
    ports: tuple[Port, ...]

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
            )
        )
    return sorted(out, key=lambda c: (c.service, c.name))


def _unique(ports: tuple[Port, ...]) -> tuple[Port, ...]:
    """One Port per binding: "0.0.0.0" and "::" (any address) count as one."""
    seen: dict[tuple, Port] = {}
    for p in ports:
        host = "" if p.host_ip in ("", "0.0.0.0", "::") else p.host_ip
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
