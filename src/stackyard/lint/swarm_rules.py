"""Rules for an environment whose orchestrator is Swarm, over its rendered compose
config (`config --format json`): the keys a stack file cannot carry as Compose
wrote them, each with the reason and what to do (the table: swarm/keys.py).

    SY015  error    a key whose effect is lost on Swarm (privileged, security_opt,
                    devices, network_mode, a port bound to one address, tmpfs
                    options, ...): Swarm does not give what the service asks for
    SY016  warning  a key stackyard rewrites for the stack file (build, depends_on,
                    restart, tmpfs, shm_size, ...): nothing to do but know it; one
                    finding a key, naming every service that uses it

A compose rule no stack file can satisfy is left out for a swarm environment
(NOT_IN_SWARM)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from stackyard.swarm import keys
from stackyard.swarm.keys import KEYS, Key

RULES = {
    "SY015": "a key Swarm refuses or ignores, whose effect is lost on Swarm",
    "SY016": "a key Swarm refuses or ignores, which stackyard rewrites for the stack file",
}
#: Compose rules (lint/compose_rules.py) a stack file cannot satisfy, and why.
NOT_IN_SWARM = {
    "SY004": "a stack file sets no security option, no-new-privileges included (security_opt is SY015's)",
}


def uses(svc: Mapping[str, Any]) -> list[Key]:
    """Each key of a service that Swarm refuses or ignores, in the order of the service's keys."""
    out: list[Key] = []
    for key, value in svc.items():
        if value is None or key.startswith("x-") or key in keys.KEPT:
            continue
        if key == "ports":
            out += _ports(value)
        elif key == "volumes":
            out += _volumes(value)
        elif key == "networks":
            out += _networks(value)
        elif key == "deploy":
            out += _deploy(value)
        elif key == "tmpfs":
            out += [KEYS["tmpfs"], *_tmpfs_options([value] if isinstance(value, str) else value)]
        else:
            out.append(keys.lookup(key))
    return out


def _ports(ports: list) -> list[Key]:
    out = []
    for port in ports:
        ip = port.get("host_ip")
        if ip not in (*keys.ANY_ADDRESS, None):
            # Bound to one address by Compose, to every one by Swarm: the port is more exposed.
            out.append(dataclasses.replace(KEYS["ports.host_ip"], path=f"ports.host_ip {ip}", rewritten=False))
        out += [keys.lookup(f"ports.{k}") for k in ("name", "app_protocol") if port.get(k)]
    return out


def _volumes(volumes: list) -> list[Key]:
    out = []
    for volume in volumes:
        bind = volume.get("bind") or {}
        out += [KEYS[f"volumes.bind.{k}"] for k in ("create_host_path", "selinux") if bind.get(k)]
        mode = (volume.get("tmpfs") or {}).get("mode")
        if mode is not None and str(mode).lstrip("0") != keys.TMPFS_MODE:
            out.append(KEYS["volumes.tmpfs.mode"])
    return out


def _tmpfs_options(entries: list[str]) -> list[Key]:
    out = []
    for entry in entries:
        target, _, options = entry.partition(":")
        lost = [
            o
            for o in filter(None, options.split(","))
            if not o.startswith("size=") and o.removeprefix("mode=").lstrip("0") != keys.TMPFS_MODE
        ]
        if lost:
            out.append(dataclasses.replace(KEYS["tmpfs.options"], path=f"tmpfs {target}: {','.join(lost)}"))
    return out


def _networks(networks: Any) -> list[Key]:
    if not isinstance(networks, Mapping):
        return []
    return [
        dataclasses.replace(KEYS["networks.options"], path=f"networks.{name}.{key}")
        for name, spec in networks.items()
        for key in spec or {}
        if key not in keys.NETWORK_KEYS
    ]


def _deploy(deploy: Mapping[str, Any]) -> list[Key]:
    out = [keys.lookup(f"deploy.{k}") for k, v in deploy.items() if k not in keys.DEPLOY_KEYS and v is not None]
    if ((deploy.get("resources") or {}).get("reservations") or {}).get("devices"):
        out.append(KEYS["deploy.resources.reservations.devices"])
    return out


def check(config: Mapping[str, Any]) -> dict[str, list[tuple[str, str]]]:
    """SY015 per service: the keys whose effect Swarm does not give, each with why and what to do."""
    out = {}
    for name, svc in sorted((config.get("services") or {}).items()):
        found = [("SY015", key.says()) for key in uses(svc) if not key.rewritten]
        if found:
            out[name] = list(dict.fromkeys(found))
    return out


def rewritten(config: Mapping[str, Any]) -> dict[str, list[tuple[str, str]]]:
    """SY016: each key stackyard rewrites for the stack file, once, at the first service
    (by name) that uses it, naming them all."""
    by_key: dict[str, tuple[Key, list[str]]] = {}
    for name, svc in sorted((config.get("services") or {}).items()):
        for key in uses(svc):
            if key.rewritten:
                services = by_key.setdefault(key.path, (key, []))[1]
                if name not in services:
                    services.append(name)
    out: dict[str, list[tuple[str, str]]] = {}
    for key, services in by_key.values():
        also = f" (also in {', '.join(services[1:])})" if len(services) > 1 else ""
        out.setdefault(services[0], []).append(("SY016", key.says() + also))
    return out
