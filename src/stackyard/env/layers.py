"""Env layering: which files, in which order, and where each value came from.

The files and their precedence are stated once, in config.layer_files; the
process environment sits above every file, as Compose applies it."""

from __future__ import annotations

import os
import pathlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from stackyard.config import Layer, layer_files
from stackyard.env import file as envfile

PROCESS = "process environment"


@dataclass
class Setting:
    key: str
    value: str | None  # effective value, as Compose interpolates it; None: unset
    source: str  # "env/prod.env:3" or "process environment" or "-"
    layer: str  # "env/prod.env", PROCESS or ""
    overridden: list[tuple[str, str | None]] = field(default_factory=list)  # (where, value), lowest first


def read(layers: Sequence[Layer]) -> list[tuple[Layer, list[envfile.Entry]]]:
    return [(layer, envfile.parse(layer.path, layer.label)) for layer in layers if layer.path.is_file()]


def resolve(
    parsed: Sequence[tuple[Layer, Sequence[envfile.Entry]]],
    environ: Mapping[str, str],
    keys: Sequence[str] = (),
) -> dict[str, Setting]:
    """Effective value and provenance of every key in the files, plus `keys`
    (the schema's), the way Compose builds its interpolation environment: files
    in order, each value interpolated with what is known so far (process
    environment included), then the process environment on top."""
    values: dict[str, str] = {}
    settings: dict[str, Setting] = {}
    bare: set[str] = set()
    for layer, entries in parsed:
        for e in entries:
            if e.value is None:  # bare KEY: Compose takes it from the process, if there
                bare.add(e.key)
                continue
            lookup = {**values, **environ}
            value = e.value if e.quote == "'" else envfile.interpolate(e.value, lookup)
            where = f"{layer.label}:{e.line}"
            prev = settings.get(e.key)
            if prev is not None:
                prev.overridden.append((prev.source, prev.value))
                settings[e.key] = Setting(e.key, value, where, layer.label, prev.overridden)
            else:
                settings[e.key] = Setting(e.key, value, where, layer.label)
            values[e.key] = value
    for key in sorted(set(keys) | set(settings) | bare):
        if key in environ:
            prev = settings.get(key)
            overridden = (prev.overridden + [(prev.source, prev.value)]) if prev else []
            settings[key] = Setting(key, environ[key], PROCESS, PROCESS, overridden)
        elif key not in settings:
            settings[key] = Setting(key, None, "-", "")
    return dict(sorted(settings.items()))


def effective(
    project_root: pathlib.Path,
    env_dir: pathlib.Path,
    env_name: str,
    schema_keys: Sequence[str],
    environ: Mapping[str, str] | None = None,
    project_dir: pathlib.Path | None = None,
) -> dict[str, Setting]:
    """resolve() over the environment's layers (`project_dir`: Compose's, for its `.env`)."""
    layers = layer_files(env_dir, env_name, project_root, project_dir)
    return resolve(read(layers), os.environ if environ is None else environ, schema_keys)
