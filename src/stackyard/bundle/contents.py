"""What goes into a bundle, decided from the rendered compose config alone (no
engine, no file): the config as the bundle holds it, the images it runs, and the
two refusals: a config that takes files from this checkout (its host has none),
and a config that holds a secret's value (a bundle never holds one)."""

from __future__ import annotations

import json
import pathlib
from collections.abc import Mapping
from dataclasses import dataclass

from stackyard.errors import StackyardError


@dataclass(frozen=True)
class Ref:
    """An image the environment runs."""

    ref: str
    built: bool  # a service builds it (tagged with the release); else it is pulled
    services: tuple[str, ...]


def for_bundle(config: Mapping) -> dict:
    """The rendered config as a bundle holds it: no `build:` (its host builds nothing),
    no top-level `x-` extension (they carry nothing Compose runs, and an interpolated
    one may hold a secret: the reference stack's x-required-secrets)."""
    out = {key: value for key, value in config.items() if not key.startswith("x-")}
    out["services"] = {
        name: {k: v for k, v in service.items() if k != "build"}
        for name, service in (config.get("services") or {}).items()
    }
    return out


def images(config: Mapping, release: str) -> list[Ref]:
    """The images the rendered config runs (one per reference), those its services
    build first. A built one must carry the release's tag: the bundle pins it."""
    services: dict[str, list[str]] = {}
    built: set[str] = set()
    for name, service in sorted((config.get("services") or {}).items()):
        ref = service.get("image")
        if "build" in service:
            if not ref or not ref.endswith(f":{release}"):
                raise StackyardError(
                    f"service {name} builds image {ref or '(unnamed)'}, which does not carry the release's tag",
                    "name it with the tag a release sets: `image: NAME:${APP_TAG:-latest}`",
                )
            built.add(ref)
        if not ref:
            raise StackyardError(f"service {name} names no image", "give it `image:` (or `build:` and `image:`)")
        services.setdefault(ref, []).append(name)
    refs = [Ref(ref, ref in built, tuple(names)) for ref, names in services.items()]
    return sorted(refs, key=lambda r: (not r.built, r.ref))


def host_files(config: Mapping, root: pathlib.Path) -> list[str]:
    """What the config takes from this machine: bind mounts of the checkout's files
    (an absolute path elsewhere, /var/run/docker.sock, is the host's own), and
    configs and secrets made from a file."""
    found = []
    for name, service in sorted((config.get("services") or {}).items()):
        for mount in service.get("volumes") or []:
            source = mount.get("source") or ""
            if mount.get("type") == "bind" and pathlib.Path(source).is_relative_to(root):
                found.append(f"service {name} mounts {pathlib.Path(source).relative_to(root)}")
    for kind in ("configs", "secrets"):
        for name, spec in sorted((config.get(kind) or {}).items()):
            if spec.get("file"):
                found.append(f"{kind[:-1]} {name} is the file {spec['file']}")
    return found


def refuse_host_files(config: Mapping, root: pathlib.Path, env: str) -> None:
    found = host_files(config, root)
    if found:
        raise StackyardError(
            f"the {env} config takes files from this machine, which a bundle's host does not have: {'; '.join(found)}",
            "bake them into the image (COPY), or make them Compose configs with inline `content:`",
        )


def text(config: Mapping) -> str:
    """The config as the bundle's compose.json holds it."""
    return json.dumps(config, indent=2) + "\n"


def _holds(text: str, value: str) -> bool:
    return value in text or json.dumps(value)[1:-1] in text  # as it is, or as JSON escapes it


def leaked(text: str, secrets: Mapping[str, str]) -> dict[str, str]:
    """{name: value} of the secrets ({value: name}) whose value occurs in `text`."""
    return {name: value for value, name in sorted(secrets.items(), key=lambda kv: kv[1]) if _holds(text, value)}


def refuse_secrets(config: Mapping, secrets: Mapping[str, str], env: str) -> None:
    """No secret's value in the config the bundle holds; the error names the variable
    and the service that holds it, never the value."""
    found = leaked(text(config), secrets)
    if not found:
        return
    holders = []
    for name, value in found.items():
        where = [s for s, body in sorted((config.get("services") or {}).items()) if _holds(text(body), value)]
        holders.append(f"{name} (service {where[0]})" if where else name)
    raise StackyardError(
        f"the rendered {env} config holds the value of the secret {', '.join(holders)}: no bundle written",
        "give a secret to services as a Compose secret (top-level `secrets:` with `environment: VAR`), "
        "never in `environment:`, a label or a command",
    )
