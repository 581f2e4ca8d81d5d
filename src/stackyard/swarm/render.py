"""The stack file of an environment on Swarm, rendered from its compose config.

Render, don't fork: the input is what `docker compose config --format json` says
of the environment (profiles applied, variables interpolated, images tagged
with the release), and the output is a file `docker stack deploy -c` takes,
the docker CLI's compose format 3.13. Each change is made for a reason, and
said in `Stack.notes`:

- keys Swarm refuses or ignores are dropped or rewritten (swarm/keys.py:
  build, depends_on, restart, profiles, tmpfs, shm_size, host_ip, ...);
- the migration service becomes a `replicated-job`, retried a bounded number
  of times (Swarm has no start order: its database may still be starting), so
  a failed migration fails the deploy instead of looping;
- every other service updates one task at a time, the new task started first
  and watched for a window (its health check's) before the old one stops, and
  rolls back by itself on a failure; stop-first where two tasks cannot run at
  once: a named volume (two databases on one volume corrupt it) or a port
  published in host mode (a node binds it once);
- secrets and configs become external Swarm objects named by the hash of their
  value (`<project>_<name>_<sha256[:12]>`): Swarm's are immutable, so a new
  value is a new object, created by the caller before the deploy;
- stateful services (a named volume; the proxy, the database) are pinned to
  nodes labelled `dev.stackyard.<service>=true`: Swarm does not move volumes;
- ports are published in host mode and services resolved by DNS round robin
  (`endpoint_mode="dnsrr"`): the ingress routing mesh and VIPs need IPVS,
  which not every kernel has; networks are overlay, attachable.

Pure: no I/O, no docker. The output holds names of secrets, never a value
(render refuses a file that would: a value copied into an environment, say)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from stackyard.config import Roles
from stackyard.errors import ConfigError
from stackyard.swarm import keys

#: The compose file format of the docker CLI's stack loader the output is written for.
VERSION = "3.13"
#: Swarm's longest secret or config name.
MAX_NAME = 64
#: How long Swarm watches an updated task for a failure when nothing better is known.
MONITOR = 30.0
#: Docker's defaults for a healthcheck's unstated timings (interval, retries, start_period).
HEALTH_DEFAULTS = (30.0, 3, 0.0)
LABEL = "dev.stackyard"
DURATION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
SIZE = re.compile(r"^(\d+(?:\.\d+)?)\s*([bkmgt]?)b?$", re.IGNORECASE)
SIZE_UNITS = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
MIN_SEARCHED = 8


@dataclass(frozen=True)
class Stack:
    """A stack file rendered from an environment's compose config, and what the
    caller makes before deploying it."""

    #: The stack file (JSON-serialisable): what `docker stack deploy -c` takes.
    document: dict[str, Any]
    #: Each secret's name in the file -> its Swarm name, `<project>_<name>_<sha256[:12] of its value>`.
    secrets: dict[str, str]
    #: The same for configs.
    configs: dict[str, str]
    #: The migration job's service name (the migrate role), or None.
    job: str | None
    #: The node labels stateful services are pinned by, each to be "true" on the node that keeps
    #: that service's volumes (`dev.stackyard.<service>`).
    node_labels: tuple[str, ...]
    #: One line per change made to the compose config: what, and why.
    notes: tuple[str, ...]
    #: With a registry: each image the project builds -> its name in the registry, which
    #: the file runs (the caller tags and pushes it before deploying).
    pushes: dict[str, str] = dataclasses.field(default_factory=dict)


@dataclass
class _Context:
    project: str
    roles: Roles
    endpoint_mode: str
    job: str | None
    one_shots: frozenset[str]
    notes: list[str]
    pushes: dict[str, str] = dataclasses.field(default_factory=dict)

    def note(self, line: str) -> None:
        self.notes.append(line)


def render(
    config: Mapping[str, Any],
    *,
    project: str,
    roles: Roles,
    secret_values: Mapping[str, bytes],
    config_values: Mapping[str, bytes],
    endpoint_mode: str = "dnsrr",
    registry: str | None = None,
) -> Stack:
    """The stack file of `config` (`docker compose config --format json` of the
    environment) for the stack `project`. `secret_values` and `config_values` hold the
    value of each compose secret and config, to name them by hash: none is written out.
    With a `registry`, the services run the images the project builds by their names
    there (`in_registry`)."""
    services: dict[str, dict] = dict(config.get("services") or {})
    job = roles.migrate if roles.migrate in services else None
    ctx = _Context(project, roles, endpoint_mode, job, _one_shots(services, job), [])
    if registry:
        built = {str(svc.get("image") or f"{project}-{name}") for name, svc in services.items() if svc.get("build")}
        ctx.pushes = {image: in_registry(image, registry) for image in built}
    _top_level(config, ctx)
    document: dict[str, Any] = {"version": VERSION, "services": {}}
    pins: list[str] = []
    for name, svc in sorted(services.items()):
        document["services"][name], pinned = _service(name, svc, ctx)
        if pinned:
            pins.append(pinned)
    for section, convert in (("networks", _network), ("volumes", _volume)):
        found = {n: convert(n, spec or {}, ctx) for n, spec in sorted((config.get(section) or {}).items())}
        if found:
            document[section] = found
    secrets = _objects("secrets", config, secret_values, ctx, document)
    configs = _objects("configs", config, config_values, ctx, document)
    _refuse_secret_values(document, secret_values)
    pushes = dict(sorted(ctx.pushes.items()))
    return Stack(document, secrets, configs, job, tuple(sorted(pins)), tuple(ctx.notes), pushes)


def in_registry(image: str, registry: str) -> str:
    """The name of a built image in `registry`: its repository path (without a registry
    host of its own) and tag after the registry's: `shop-api:v1` in `r.example.com/team`
    is `r.example.com/team/shop-api:v1`."""
    first, _, rest = image.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        image = rest  # it names a registry host of its own: the path is what is kept
    return f"{registry}/{image}"


def to_yaml(stack: Stack) -> str:
    """The stack file as YAML (`inv config --env <swarm env>`). Secrets are in it by name
    only, so there is nothing to mask."""
    return yaml.dump(stack.document, Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=120)


def to_json(stack: Stack) -> str:
    """The stack file as JSON (which `docker stack` reads as YAML)."""
    return json.dumps(stack.document, indent=2) + "\n"


class _Dumper(yaml.SafeDumper):
    """Multi-line strings (a script in an entrypoint) as literal blocks, as written."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|" if "\n" in value else None)


_Dumper.add_representer(str, _str)


# ---- the top level ---------------------------------------------------------------


def _top_level(config: Mapping[str, Any], ctx: _Context) -> None:
    """Notes for what the top level loses: the project's name, extension fields, keys a
    stack file has not."""
    if "name" in config:
        ctx.note(f"name dropped (a stack is named by `docker stack deploy`: {ctx.project})")
    extensions = sorted(k for k in config if k.startswith("x-"))
    if extensions:
        ctx.note(
            f"{', '.join(extensions)} dropped (extension fields: Compose has applied them, "
            "and some hold rendered values)"
        )
    known = {"name", "services", "networks", "volumes", "secrets", "configs"}
    for key in sorted(k for k in config if k not in known and not k.startswith("x-")):
        ctx.note(f"{key} dropped (not in the stack file format)")


def _one_shots(services: Mapping[str, Mapping], job: str | None) -> frozenset[str]:
    """The migration, and each service others wait on to complete that never restarts:
    each runs as a job."""
    waited = {
        dep
        for svc in services.values()
        for dep, how in _depends_on(svc).items()
        if (how or {}).get("condition") == "service_completed_successfully"
    }
    found = {n for n in waited if n in services and str(services[n].get("restart", "no")) == "no"}
    return frozenset(found | ({job} if job else set()))


def _depends_on(svc: Mapping) -> dict[str, Any]:
    deps = svc.get("depends_on") or {}
    return {d: {} for d in deps} if isinstance(deps, list) else dict(deps)


# ---- a service -------------------------------------------------------------------

# Keys each handled by a step of _service (the rest: kept, or dropped by the table).
REWRITTEN = frozenset(
    {
        "deploy",
        "ports",
        "volumes",
        "tmpfs",
        "shm_size",
        "networks",
        "restart",
        "mem_limit",
        "cpus",
        "pids_limit",
        "mem_reservation",
        "scale",
        "healthcheck",
        "stop_grace_period",
        "secrets",
        "configs",
        "image",
    }
)


def _service(name: str, svc: Mapping[str, Any], ctx: _Context) -> tuple[dict[str, Any], str | None]:
    """The service as a stack file has it, and the node label it is pinned by (None: not pinned)."""
    out: dict[str, Any] = {"image": _image(name, svc, ctx)}
    for key, value in svc.items():
        if value is None or key in REWRITTEN:
            continue  # null: Compose's unset command or entrypoint
        if key.startswith("x-"):
            ctx.note(f"{name}: {key} dropped (an extension field)")
        elif key in keys.KEPT:
            out[key] = value
        else:
            ctx.note(f"{name}: {_dropped(keys.lookup(key))}")
    if "healthcheck" in svc:
        out["healthcheck"] = _healthcheck(name, svc["healthcheck"])
    if svc.get("stop_grace_period"):
        out["stop_grace_period"] = _format_duration(_duration(svc["stop_grace_period"], name, "stop_grace_period"))
    for kind in ("secrets", "configs"):
        if svc.get(kind):
            out[kind] = [_reference(ref) for ref in svc[kind]]
    if svc.get("ports"):
        out["ports"] = _ports(name, svc, ctx)
    volumes = _volumes(name, svc, ctx)
    if volumes:
        out["volumes"] = volumes
    if svc.get("networks"):
        out["networks"] = _service_networks(name, svc["networks"], ctx)
    out["deploy"], pinned = _deploy(name, svc, out, ctx)
    return out, pinned


def _dropped(key: keys.Key) -> str:
    """The note for a key the table names: what stackyard does with it, or what is lost."""
    if key.rewritten:
        return f"{key.path}: {key.reason}; {key.instead}"
    return f"{key.path} dropped, lost on Swarm ({key.reason}): {key.instead}"


def _image(name: str, svc: Mapping[str, Any], ctx: _Context) -> str:
    image = _built_or_named(name, svc, ctx)
    if image in ctx.pushes:  # an image the project builds, whichever service builds it
        ctx.note(f"{name}: image {ctx.pushes[image]} (pushed to the registry: every node pulls it)")
        return ctx.pushes[image]
    return image


def _built_or_named(name: str, svc: Mapping[str, Any], ctx: _Context) -> str:
    if svc.get("image"):
        return str(svc["image"])
    if svc.get("build"):
        # The name Compose gives the image it builds for a service that names none.
        ctx.note(f"{name}: image {ctx.project}-{name} (the one Compose builds for it)")
        return f"{ctx.project}-{name}"
    raise ConfigError(f"service {name} has neither an image nor a build", "give it `image:`")


def _healthcheck(name: str, health: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(health)
    for key in ("interval", "timeout", "start_period", "start_interval"):
        if out.get(key) is not None:
            out[key] = _format_duration(_duration(out[key], name, f"healthcheck.{key}"))
    return out


def _reference(ref: Any) -> Any:
    """A secret's or config's reference; its mode as the number the loader takes (Compose
    writes it as an octal string)."""
    if not isinstance(ref, Mapping):
        return ref
    out = {k: v for k, v in ref.items() if v is not None}
    if isinstance(out.get("mode"), str):
        out["mode"] = int(out["mode"], 8)
    return out


def _ports(name: str, svc: Mapping[str, Any], ctx: _Context) -> list[dict[str, Any]]:
    """Long syntax, published as a number; in host mode where tasks are resolved by DNS
    round robin (Swarm refuses ingress ports then, and the routing mesh needs IPVS)."""
    host_mode = _endpoint_mode(svc, ctx) == "dnsrr"
    out = []
    for port in svc["ports"]:
        entry: dict[str, Any] = {"target": int(port["target"]), "protocol": port.get("protocol") or "tcp"}
        published = port.get("published")
        if published not in (None, ""):
            try:
                entry["published"] = int(published)
            except ValueError:
                raise ConfigError(
                    f"service {name}: published port {published!r} is not one port number",
                    "publish one port per entry",
                ) from None
        entry["mode"] = "host" if host_mode else port.get("mode") or "ingress"
        where = f"port {entry.get('published', '(any)')}:{entry['target']}"
        if port.get("host_ip") not in (*keys.ANY_ADDRESS, None):
            ctx.note(f"{name}: {where}: host_ip {port['host_ip']} dropped (Swarm binds every address of the node)")
        for key in ("name", "app_protocol"):
            if port.get(key):
                ctx.note(f"{name}: {where}: {_dropped(keys.lookup(f'ports.{key}'))}")
        out.append(entry)
    if host_mode and any(p.get("mode", "ingress") != "host" for p in svc["ports"]):
        ctx.note(
            f"{name}: ports published in host mode, on the node that runs the task "
            "(DNS round robin takes no ingress port; the routing mesh needs IPVS)"
        )
    return out


def _volumes(name: str, svc: Mapping[str, Any], ctx: _Context) -> list[dict[str, Any]]:
    """The mounts, each with what the loader takes; `tmpfs:` and `shm_size` as tmpfs
    mounts (the loader takes `tmpfs:` and passes it on to nothing)."""
    out = [_mount(name, v, ctx) for v in svc.get("volumes") or []]
    tmpfs = svc.get("tmpfs") or []
    for entry in [tmpfs] if isinstance(tmpfs, str) else tmpfs:
        out.append(_tmpfs(name, entry, ctx))
    if svc.get("shm_size"):
        size = _size(svc["shm_size"], name, "shm_size")
        out.append({"type": "tmpfs", "target": "/dev/shm", "tmpfs": {"size": size}})
        ctx.note(f"{name}: shm_size → a tmpfs of {size} bytes on /dev/shm (Swarm sets no size for /dev/shm)")
    return out


def _mount(name: str, volume: Mapping[str, Any], ctx: _Context) -> dict[str, Any]:
    out = {k: volume[k] for k in ("type", "source", "target", "read_only", "consistency") if volume.get(k)}
    kind = volume.get("type")
    if kind == "volume":
        options = {k: v for k, v in (volume.get("volume") or {}).items() if k in ("nocopy", "subpath") and v}
        if options:
            out["volume"] = options
    elif kind == "bind":
        bind = volume.get("bind") or {}
        if bind.get("propagation"):
            out["bind"] = {"propagation": bind["propagation"]}
        for key in ("create_host_path", "selinux"):
            if bind.get(key):
                ctx.note(f"{name}: {volume.get('source')}: {_dropped(keys.lookup(f'volumes.bind.{key}'))}")
    elif kind == "tmpfs":
        tmpfs = volume.get("tmpfs") or {}
        if tmpfs.get("size"):
            out["tmpfs"] = {"size": _size(tmpfs["size"], name, "tmpfs.size")}
        if str(tmpfs.get("mode") or keys.TMPFS_MODE).lstrip("0") != keys.TMPFS_MODE:
            ctx.note(f"{name}: {volume.get('target')}: {_dropped(keys.lookup('volumes.tmpfs.mode'))}")
    elif kind in volume:
        out[kind] = volume[kind]  # image, npipe, cluster: their options as given
    return out


def _tmpfs(name: str, entry: str, ctx: _Context) -> dict[str, Any]:
    """`/tmp:size=64m,mode=1777` as a tmpfs mount; options but the size and mode 1777 are
    dropped, and said."""
    target, _, options = entry.partition(":")
    out: dict[str, Any] = {"type": "tmpfs", "target": target}
    lost = []
    for option in filter(None, options.split(",")):
        key, _, value = option.partition("=")
        if key == "size":
            out["tmpfs"] = {"size": _size(value, name, "tmpfs")}
        elif not (key == "mode" and value.lstrip("0") == keys.TMPFS_MODE):
            lost.append(option)
    size = f" of {out['tmpfs']['size']} bytes" if "tmpfs" in out else ""
    ctx.note(f"{name}: tmpfs {target} → a tmpfs mount{size} (the stack loader passes `tmpfs:` on to nothing)")
    if lost:
        key = dataclasses.replace(keys.KEYS["tmpfs.options"], path=f"tmpfs {target}: {','.join(lost)}")
        ctx.note(f"{name}: {_dropped(key)}")
    return out


def _service_networks(name: str, networks: Any, ctx: _Context) -> Any:
    if isinstance(networks, list):
        return networks
    out = {}
    for network, spec in networks.items():
        if not spec:
            out[network] = None
            continue
        out[network] = {k: v for k, v in spec.items() if k in keys.NETWORK_KEYS and v is not None} or None
        for key in sorted(k for k in spec if k not in keys.NETWORK_KEYS):
            lost = dataclasses.replace(keys.KEYS["networks.options"], path=f"networks.{network}.{key}")
            ctx.note(f"{name}: {_dropped(lost)}")
    return out


# ---- deploy: mode, restarts, updates, placement, resources -------------------------------


def _deploy(
    name: str, svc: Mapping[str, Any], rendered: Mapping[str, Any], ctx: _Context
) -> tuple[dict[str, Any], str | None]:
    stated = dict(svc.get("deploy") or {})
    out: dict[str, Any] = {}
    for key, value in stated.items():
        if key in keys.DEPLOY_KEYS:
            out[key] = value
        elif value is not None:
            ctx.note(f"{name}: {_dropped(keys.lookup(f'deploy.{key}'))}")
    resources = _resources(name, svc, stated.get("resources") or {}, ctx)
    out.pop("resources", None)
    if resources:
        out["resources"] = resources
    if svc.get("scale") is not None and "replicas" not in stated:
        out["replicas"] = int(svc["scale"])
        ctx.note(f"{name}: scale → deploy.replicas")
    for key in ("update_config", "rollback_config", "restart_policy"):
        if out.get(key):
            out[key] = _durations(out[key], name, f"deploy.{key}", ("delay", "monitor", "window"))
    if name in ctx.one_shots:
        _job(name, out, ctx)
    else:
        out["restart_policy"] = _restart_policy(name, svc, out.get("restart_policy"), ctx)
        _updates(name, svc, rendered, out, ctx)
    out["endpoint_mode"] = _endpoint_mode(svc, ctx)
    pinned = _pin(name, svc, out, ctx)
    placement = {k: v for k, v in (out.get("placement") or {}).items() if v}
    out.pop("placement", None)
    if placement:
        out["placement"] = placement
    return out, pinned


def _resources(name: str, svc: Mapping[str, Any], stated: Mapping[str, Any], ctx: _Context) -> dict[str, Any]:
    """deploy.resources as the loader takes it (cpus and memory as strings), with the
    service-level limits Compose keeps beside it moved in."""
    limits = {k: v for k, v in (stated.get("limits") or {}).items() if v is not None}
    reservations = {k: v for k, v in (stated.get("reservations") or {}).items() if v is not None}
    for key, (where, field) in {
        "mem_limit": (limits, "memory"),
        "cpus": (limits, "cpus"),
        "pids_limit": (limits, "pids"),
        "mem_reservation": (reservations, "memory"),
    }.items():
        if svc.get(key) is not None:
            where.setdefault(field, svc[key])
            ctx.note(f"{name}: {key} → deploy.resources.{'limits' if where is limits else 'reservations'}.{field}")
    if reservations.pop("devices", None):
        ctx.note(f"{name}: {_dropped(keys.lookup('deploy.resources.reservations.devices'))}")
    out = {}
    for section, values in (("limits", limits), ("reservations", reservations)):
        if not values:
            continue
        out[section] = dict(values)
        for key in ("cpus", "memory"):
            if key in values:
                out[section][key] = _number_text(values[key])
    return out


def _number_text(value: Any) -> str:
    """1 -> "1", 0.5 -> "0.5", 1.0 -> "1", "512m" -> "512m"."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


#: A job's attempts, JOB_DELAY apart: Swarm has no start order, so a migration may start
#: before its database answers; one that still fails after them fails the deploy.
JOB_ATTEMPTS = 12
JOB_DELAY = "5s"


def _job(name: str, deploy: dict[str, Any], ctx: _Context) -> None:
    """A one-shot runs as a replicated job, once per deploy of a changed spec, retried a
    bounded number of times (its dependencies may still be starting), never looping."""
    deploy["mode"] = "replicated-job"
    deploy["restart_policy"] = {"condition": "on-failure", "delay": JOB_DELAY, "max_attempts": JOB_ATTEMPTS}
    for key in ("replicas", "update_config", "rollback_config"):
        if deploy.pop(key, None) is not None:
            ctx.note(f"{name}: deploy.{key} dropped (a job runs once)")
    why = (
        "a failed migration fails the deploy instead of looping"
        if name == ctx.job
        else "a one-shot others wait for; it must not run again"
    )
    ctx.note(f"{name}: deploy.mode replicated-job, {JOB_ATTEMPTS} attempts {JOB_DELAY} apart at most ({why})")


def _restart_policy(name: str, svc: Mapping[str, Any], stated: Any, ctx: _Context) -> dict[str, Any]:
    """deploy.restart_policy as stated; else from `restart:` as the docker CLI maps it;
    else `any`: a task that exits or turns unhealthy is replaced."""
    if stated:
        return stated
    restart = str(svc.get("restart") or "")
    if restart in ("", "always", "unless-stopped"):
        policy: dict[str, Any] = {"condition": "any"}
    elif restart == "no":
        policy = {"condition": "none"}
    elif restart.startswith("on-failure"):
        policy = {"condition": "on-failure"}
        _, _, attempts = restart.partition(":")
        if attempts:
            policy["max_attempts"] = int(attempts)
    else:
        raise ConfigError(
            f"service {name}: unknown restart policy {restart!r}", "no, always, unless-stopped, on-failure"
        )
    source = f"restart {restart}" if restart else "no restart policy"
    ctx.note(
        f"{name}: {source} → deploy.restart_policy {policy['condition']} "
        "(Swarm restarts by it; a task that turns unhealthy is replaced)"
    )
    return policy


def _updates(name: str, svc: Mapping[str, Any], rendered: Mapping[str, Any], deploy: dict[str, Any], ctx: _Context):
    """One task at a time, rolled back on a failure; start-first unless two tasks of it
    cannot run at once. What the compose file states wins, key by key."""
    stop_first = _stop_first(rendered)
    order = "stop-first" if stop_first else "start-first"
    monitor = _format_duration(_monitor(svc.get("healthcheck")))
    update = {"parallelism": 1, "order": order, "failure_action": "rollback", "monitor": monitor}
    rollback = {"parallelism": 1, "order": order, "failure_action": "pause", "monitor": monitor}
    stated = [k for k in ("update_config", "rollback_config") if deploy.get(k)]
    deploy["update_config"] = {**update, **(deploy.get("update_config") or {})}
    deploy["rollback_config"] = {**rollback, **(deploy.get("rollback_config") or {})}
    why = stop_first or "the new task runs beside the old one until it is healthy"
    kept = f"; {' and '.join(stated)} as stated" if stated else ""
    ctx.note(
        f"{name}: updates {order}, one task at a time, monitored {monitor}, rolled back on a failure ({why}{kept})"
    )


def _stop_first(rendered: Mapping[str, Any]) -> str:
    """Why two tasks of the service cannot run at once ("" when they can)."""
    named = [v["source"] for v in rendered.get("volumes") or [] if v.get("type") == "volume" and v.get("source")]
    if named:
        return f"volume {', '.join(named)}: two tasks writing one volume at once corrupt it (a database's files)"
    host = [str(p.get("published", p["target"])) for p in rendered.get("ports") or [] if p.get("mode") == "host"]
    if host:
        return f"port {', '.join(host)} in host mode: a node binds it once"
    return ""


def _monitor(health: Mapping[str, Any] | None) -> float:
    """How long Swarm watches an updated task: its health check's start period plus
    the failures it takes to call it unhealthy; MONITOR without a health check."""
    if not health or not health.get("test") or health.get("disable") or health.get("test") == ["NONE"]:
        return MONITOR
    interval, retries, start = HEALTH_DEFAULTS
    if health.get("interval"):
        interval = _duration(health["interval"], "", "healthcheck.interval")
    if health.get("retries") is not None:
        retries = int(health["retries"])
    if health.get("start_period"):
        start = _duration(health["start_period"], "", "healthcheck.start_period")
    return start + interval * retries


def _endpoint_mode(svc: Mapping[str, Any], ctx: _Context) -> str:
    return str((svc.get("deploy") or {}).get("endpoint_mode") or ctx.endpoint_mode)


def _pin(name: str, svc: Mapping[str, Any], deploy: dict[str, Any], ctx: _Context) -> str | None:
    """Pin a stateful service to the nodes labelled for it: Swarm does not move volumes."""
    named = sorted({v["source"] for v in svc.get("volumes") or [] if v.get("type") == "volume" and v.get("source")})
    roles = ctx.roles
    if named:
        why = f"it keeps volume {', '.join(named)}"
    elif roles.proxy and roles.proxy.service == name:
        why = "the proxy: its ports and certificates stay on one node"
    elif roles.database and roles.database.service == name:
        why = "the database"
    else:
        return None
    label = f"{LABEL}.{name}"
    constraint = f"node.labels.{label} == true"
    placement = dict(deploy.get("placement") or {})
    placement["constraints"] = [*(placement.get("constraints") or []), constraint]
    placement["constraints"] = list(dict.fromkeys(placement["constraints"]))
    deploy["placement"] = placement
    ctx.note(f"{name}: pinned to the node labelled {label}=true ({why}: Swarm does not move volumes)")
    return label


def _durations(section: Mapping[str, Any], name: str, where: str, fields: tuple[str, ...]) -> dict[str, Any]:
    out = dict(section)
    for key in fields:
        if out.get(key) is not None:
            out[key] = _format_duration(_duration(out[key], name, f"{where}.{key}"))
    return out


# ---- networks, volumes, secrets, configs ---------------------------------------------


def _network(name: str, spec: Mapping[str, Any], ctx: _Context) -> dict[str, Any]:
    """An overlay network (it spans the nodes; bridge is one host's), attachable (a one-off
    container, a backup or a shell, can join it), named as Compose names it."""
    if spec.get("external"):
        return {"external": True, "name": spec.get("name") or name}
    out: dict[str, Any] = {"name": spec["name"]} if spec.get("name") else {}
    driver = spec.get("driver") or "bridge"
    if driver == "bridge":
        driver = "overlay"
        ctx.note(f"network {name}: driver overlay, attachable (a stack's networks span its nodes)")
    out["driver"] = driver
    for key in ("driver_opts", "labels", "internal"):
        if spec.get(key):
            out[key] = spec[key]
    ipam = spec.get("ipam") or {}
    if ipam.get("driver") or ipam.get("config"):
        out["ipam"] = {k: v for k, v in ipam.items() if k in ("driver", "config") and v}
        if ipam.get("config"):
            out["ipam"]["config"] = [{"subnet": c["subnet"]} for c in ipam["config"] if c.get("subnet")]
    out["attachable"] = True
    known = {"name", "driver", "driver_opts", "labels", "internal", "ipam", "attachable", "external"}
    for key in sorted(k for k in spec if k not in known):
        ctx.note(f"network {name}: {key} dropped (not in the stack file format)")
    return out


def _volume(name: str, spec: Mapping[str, Any], ctx: _Context) -> dict[str, Any]:
    """A named volume as Compose names it, on each node's local driver unless stated."""
    if spec.get("external"):
        return {"external": True, "name": spec.get("name") or name}
    out = {k: spec[k] for k in ("name", "driver", "driver_opts", "labels") if spec.get(k)}
    for key in sorted(k for k in spec if k not in ("name", "driver", "driver_opts", "labels", "external")):
        ctx.note(f"volume {name}: {key} dropped (not in the stack file format)")
    return out


def _objects(
    kind: str, config: Mapping[str, Any], values: Mapping[str, bytes], ctx: _Context, document: dict[str, Any]
) -> dict[str, str]:
    """Each secret (config) as an external Swarm object named by its value's hash; the
    names, for the caller to create what the swarm lacks."""
    made: dict[str, str] = {}
    found = {}
    singular = kind[:-1]
    for name, spec in sorted((config.get(kind) or {}).items()):
        spec = spec or {}
        if spec.get("external"):
            found[name] = {"external": True, "name": spec.get("name") or name}
            continue
        if name not in values:
            source = spec.get("environment") or spec.get("file") or "its source"
            raise ConfigError(
                f"{singular} {name} has no value to render the stack with (from {source})",
                f"set {source} in the environment's env layers"
                if spec.get("environment")
                else f"make {source} readable",
            )
        digest = hashlib.sha256(values[name]).hexdigest()[:12]
        swarm_name = f"{ctx.project}_{name}_{digest}"
        if len(swarm_name) > MAX_NAME:
            raise ConfigError(
                f"{singular} {name}: its Swarm name {swarm_name} is longer than {MAX_NAME} characters",
                "shorten the project's or the secret's name",
            )
        made[name] = swarm_name
        found[name] = {"external": True, "name": swarm_name}
    if found:
        document[kind] = found
    if made:
        ctx.note(
            f"{kind}: {', '.join(made)} → external Swarm {kind} named by the hash of their value "
            f"(Swarm's are immutable: a new value is a new {singular}, made before the deploy)"
        )
    return made


def _refuse_secret_values(document: Mapping[str, Any], values: Mapping[str, bytes]) -> None:
    """No secret's value may be in the stack file (it would be in every service spec, which
    `docker service inspect` shows): refuse it, naming where, never the value. As Compose
    wrote it too (`$` as `$$`); a value shorter than MIN_SEARCHED is not searched for: it
    would be found by chance."""
    for name, value in values.items():
        text = value.decode(errors="replace")
        if len(text) < MIN_SEARCHED:
            continue
        forms = {text, text.replace("$", "$$")}
        for where, leaf in _leaves(document, ""):
            if any(form in leaf for form in forms):
                raise ConfigError(
                    f"the stack file would hold the value of secret {name} (at {where})",
                    f"read it from /run/secrets/{name} in the container instead",
                )


def _leaves(node: Any, where: str) -> Iterator[tuple[str, str]]:
    if isinstance(node, Mapping):
        for k, v in node.items():
            yield from _leaves(v, f"{where}.{k}" if where else str(k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _leaves(v, f"{where}[{i}]")
    elif isinstance(node, str):
        yield where, node


# ---- durations and sizes -------------------------------------------------------------


def _duration(value: Any, name: str, key: str) -> float:
    """Seconds of a Go duration ("1m30s", "500ms") as Compose writes them."""
    text = str(value).strip()
    if text == "0":
        return 0.0
    parts = DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ConfigError(f"service {name}: {key} {value!r} is not a duration", 'e.g. "30s", "1m30s", "500ms"')
    return sum(float(n) * UNITS[u] for n, u in parts)


def _format_duration(seconds: float) -> str:
    """What the loader takes: whole seconds as "90s", the rest in milliseconds."""
    if float(seconds).is_integer():
        return f"{int(seconds)}s"
    return f"{round(seconds * 1000)}ms"


def _size(value: Any, name: str, key: str) -> int:
    """Bytes of a size: 268435456, "64m", "1g" (units of 1024, as Docker's)."""
    if isinstance(value, int):
        return value
    found = SIZE.match(str(value).strip())
    if not found:
        raise ConfigError(f"service {name}: {key} {value!r} is not a size", 'e.g. "64m", "1g", 268435456')
    return int(float(found.group(1)) * SIZE_UNITS[found.group(2).lower()])
