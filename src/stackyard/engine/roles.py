"""Which service plays which part, from the rendered compose config (`compose
config --format json`): detect() guesses each role and says why; resolve()
lays what [tool.stackyard.roles] states over the guess. Both are pure.

    web       the service behind the proxy (a healthcheck and an HTTP port)
    proxy     a service whose image (or healthcheck, command) names caddy, nginx or traefik
    database  a service whose image is PostgreSQL's (postgres, pgvector, postgis), MySQL's, ...
    migrate   a one-shot service others wait for (service_completed_successfully)
    workers   long-running services that use the database or a cache and publish no port
    images    the services with a `build:`
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any

from stackyard.config import PROXY_KINDS, Database, Proxy, Roles, Web
from stackyard.engine import state
from stackyard.errors import ConfigError

DATABASE_IMAGES = (
    ("postgres", ("postgres", "pgvector", "postgis", "timescale")),
    ("mariadb", ("mariadb",)),
    ("mysql", ("mysql",)),
    ("mongodb", ("mongo",)),
)
CACHE_IMAGES = ("redis", "valkey", "memcached", "keydb", "dragonfly")
# The URL a healthcheck fetches: its port and path are the web role's.
HEALTH_URL = re.compile(r"https?://(?:127\.0\.0\.1|localhost|0\.0\.0\.0)(?::(\d+))?(/[^\s'\"]*)?")


def detect(config: Mapping[str, Any]) -> tuple[Roles, dict[str, str]]:
    """The roles the compose config suggests, and the reason for each (role -> why)."""
    services: dict[str, dict] = dict(config.get("services") or {})
    why: dict[str, str] = {}

    database = _database(services, why)
    caches = sorted(n for n, svc in services.items() if _image_has(svc, CACHE_IMAGES))
    proxy = _proxy(services, why)
    stores = {database.service} if database else set()
    stores |= set(caches)
    web = _web(services, proxy, stores, why)
    migrate = _migrate(services, why)
    taken = {r for r in (web and web.service, proxy and proxy.service, migrate) if r} | stores
    workers = tuple(
        name
        for name, svc in sorted(services.items())
        if name not in taken
        and not svc.get("ports")
        and str(svc.get("restart", "")) != "no"
        and set(_depends_on(svc)) & stores
    )
    if workers:
        why["workers"] = f"{', '.join(workers)}: long-running, publish no port, depend on {', '.join(sorted(stores))}"
    images = tuple(name for name, svc in sorted(services.items()) if svc.get("build"))
    if images:
        why["images"] = f"{', '.join(images)}: have a build section"
    return Roles(web, proxy, database, migrate, workers, images), why


def resolve(stated: Mapping[str, Any], config: Mapping[str, Any]) -> Roles:
    """The roles of one environment: what [tool.stackyard.roles] states, the rest detected.
    A stated service the config does not have is an error that lists the services
    (except for the proxy, which one environment may run and another not). The web
    role's health path is only ever the stated one (None: the environment's): the
    path a healthcheck fetches may be a liveness probe, not the public health page."""
    detected, _ = detect(config)
    services = sorted((config.get("services") or {}).keys())

    def known(name: str, where: str) -> str:
        if name not in services:
            raise ConfigError(
                f"pyproject.toml: [tool.stackyard.roles] {where} names {name!r}, "
                "which is not a service of this environment's compose config",
                f"services: {', '.join(services) or 'none'}",
            )
        return name

    web = dataclasses.replace(detected.web, health_path=None) if detected.web else None
    if "web" in stated:
        table = stated["web"]
        service = known(table["service"], "web.service") if "service" in table else (web and web.service)
        port = table.get("port") or (web.port if web and web.service == service else None)
        if not service or not port:
            raise ConfigError(
                "pyproject.toml: [tool.stackyard.roles.web] needs a service and a port (none detected)",
                'e.g. web = {service = "app", port = 8000}',
            )
        web = Web(service, port, table.get("health_path"))
    proxy = detected.proxy
    if "proxy" in stated:
        table = stated["proxy"]
        service = table.get("service") or (proxy and proxy.service)
        kind = table.get("kind") or (proxy.kind if proxy and proxy.service == service else "")
        if service and service not in services:
            proxy = None  # this environment runs no proxy (a dev stack, say)
        elif service and kind:
            proxy = Proxy(service, kind, table.get("config"), table.get("upstream"))
        elif service:
            raise ConfigError(
                f"pyproject.toml: [tool.stackyard.roles.proxy] the kind of proxy {service!r} is not detected",
                f"add kind = one of {', '.join(PROXY_KINDS)}",
            )
    database = detected.database
    if "database" in stated:
        table = stated["database"]
        service = known(table["service"], "database.service") if "service" in table else None
        service = service or (database and database.service)
        kind = table.get("kind") or (database.kind if database and database.service == service else "")
        if not service or not kind:
            raise ConfigError(
                "pyproject.toml: [tool.stackyard.roles.database] needs a service and a kind (none detected)",
                'e.g. database = {service = "pg", kind = "postgres"}',
            )
        database = Database(service, kind)
    migrate = known(stated["migrate"], "migrate") if "migrate" in stated else detected.migrate
    # A worker scaled to 0 here runs no container to recreate (an all-in-one container runs it).
    idle = state.scaled_to_zero(config)
    workers = tuple(known(w, "workers") for w in stated.get("workers", detected.workers) if w not in idle)
    images = tuple(known(i, "images") for i in stated.get("images", detected.images))
    return Roles(web, proxy, database, migrate, workers, images)


def _image(svc: Mapping[str, Any]) -> str:
    """The image's repository, lower case, without registry or tag."""
    return str(svc.get("image", "")).lower().rsplit("/", 1)[-1].split(":", 1)[0]


def _image_has(svc: Mapping[str, Any], words: tuple[str, ...]) -> bool:
    return any(w in _image(svc) for w in words)


def _depends_on(svc: Mapping[str, Any]) -> dict[str, dict]:
    deps = svc.get("depends_on") or {}
    return {d: {} for d in deps} if isinstance(deps, list) else dict(deps)


def _words(value: Any) -> str:
    return " ".join(value) if isinstance(value, list) else str(value or "")


def _database(services: dict[str, dict], why: dict[str, str]) -> Database | None:
    for name, svc in sorted(services.items()):
        for kind, words in DATABASE_IMAGES:
            if _image_has(svc, words):
                why["database"] = f"{name}: image {svc.get('image')} is {kind}'s"
                return Database(name, kind)
    return None


def _proxy(services: dict[str, dict], why: dict[str, str]) -> Proxy | None:
    # The image first: it is the surest sign; then what the container runs (a proxy built from a distribution image).
    for look, where in ((_image, "image"), (_runs, "healthcheck or command")):
        for name, svc in sorted(services.items()):
            for kind in PROXY_KINDS:
                if kind in look(svc):
                    why["proxy"] = f"{name}: its {where} names {kind}"
                    return Proxy(name, kind)
    return None


def _runs(svc: Mapping[str, Any]) -> str:
    health = (svc.get("healthcheck") or {}).get("test")
    return " ".join((_words(health), _words(svc.get("command")), _words(svc.get("entrypoint")))).lower()


def _web(services: dict[str, dict], proxy: Proxy | None, stores: set[str], why: dict[str, str]) -> Web | None:
    others = {n: s for n, s in services.items() if n not in stores and (not proxy or n != proxy.service)}
    if proxy:
        behind = [n for n in sorted(_depends_on(services[proxy.service])) if n in others]
        candidates, because = behind, f"the proxy {proxy.service} depends on it"
    else:
        candidates, because = sorted(others), "no proxy runs in front of it"
    for name in candidates:
        svc = others[name]
        port, path = _http(svc)
        if (svc.get("healthcheck") or {}).get("test") and port:
            why["web"] = f"{name}: {because}, with a healthcheck and HTTP port {port}" + (
                f" (health path {path}, from its healthcheck)" if path else ""
            )
            return Web(name, port, path)
    return None


def _http(svc: Mapping[str, Any]) -> tuple[int | None, str | None]:
    """The HTTP port (a published port's target, an exposed one, or the healthcheck URL's)
    and the health path the healthcheck fetches, if it fetches one."""
    found = HEALTH_URL.search(_words((svc.get("healthcheck") or {}).get("test")))
    path = found.group(2) if found else None
    for port in svc.get("ports") or []:
        if isinstance(port, dict) and port.get("target"):
            return int(port["target"]), path
    for port in svc.get("expose") or []:
        return int(str(port).split("/", 1)[0]), path
    return (int(found.group(1)) if found and found.group(1) else None), path


def _migrate(services: dict[str, dict], why: dict[str, str]) -> str | None:
    waited = {
        dep: name
        for name, svc in sorted(services.items())
        for dep, how in _depends_on(svc).items()
        if how.get("condition") == "service_completed_successfully"
    }
    for name in sorted(waited):
        if name in services and str(services[name].get("restart", "no")) == "no":
            why["migrate"] = f"{name}: a one-shot (restart: no) that {waited[name]} waits to complete"
            return name
    return None
