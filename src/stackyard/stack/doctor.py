"""`inv doctor`: is this machine ready to run the environment? Each failing
line says how to fix it."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from stackyard.commands import compose, docker
from stackyard.core import table
from stackyard.engine import diagnose, ports, state
from stackyard.errors import StackyardError, last_line
from stackyard.session import Session
from stackyard.stack import watch

MIN_DISK_GIB = 5.0


@dataclass(frozen=True)
class Check:
    name: str
    status: str  # ok, warn, fail
    detail: str
    fix: str = ""


def check_engine(version_json: str | None, error: str = "") -> Check:
    if version_json is None:
        return Check(
            "engine",
            "fail",
            error or "not reachable",
            "start Docker (e.g. `sudo systemctl start docker`) or set DOCKER_HOST",
        )
    info = json.loads(version_json)
    server = info.get("Server") or {}
    return Check("engine", "ok", f"Docker {server.get('Version', '?')} (API {server.get('ApiVersion', '?')})")


def check_compose(version_text: str | None) -> Check:
    if version_text is None:
        return Check("compose", "fail", "docker compose (v2) not found", "install the docker-compose-plugin package")
    v = diagnose.parse_version(version_text)
    want = ".".join(map(str, diagnose.MIN_COMPOSE))
    have = ".".join(map(str, v))
    if v < diagnose.MIN_COMPOSE:
        return Check("compose", "fail", f"Compose {have} is older than {want}", "upgrade docker-compose-plugin")
    return Check("compose", "ok", f"Compose {have}")


def check_watch(version_text: str, actions: Iterable[str] = ()) -> Check:
    """Can `inv dev --watch` run here: Compose's watch, with the actions its rules use."""
    v = diagnose.parse_version(version_text)
    have = ".".join(map(str, v))
    every = ".".join(map(str, watch.EVERY_ACTION_SINCE[:2]))
    fix = f"upgrade docker-compose-plugin to {every} or newer"
    if v < watch.WATCH_SINCE:
        return Check("watch", "warn", f"Compose {have} has no watch: `inv dev --watch` cannot run", fix)
    missing = watch.lacking(v, actions)
    if missing:
        return Check(
            "watch", "warn", f"Compose {have} lacks the watch action(s) {', '.join(missing)} the rules use", fix
        )
    if v < watch.EVERY_ACTION_SINCE:
        unknown = ", ".join(watch.lacking(v, watch.ACTION_SINCE))
        return Check("watch", "warn", f"Compose {have} watches, without the action(s) {unknown}", fix)
    return Check("watch", "ok", f"Compose {have}: every watch action (`inv dev --watch`)")


def check_buildkit(version_json: str | None, environ: dict[str, str]) -> Check:
    if environ.get("DOCKER_BUILDKIT") == "0":
        return Check(
            "buildkit", "fail", "DOCKER_BUILDKIT=0 turns BuildKit off (cache mounts need it)", "unset DOCKER_BUILDKIT"
        )
    if version_json is None:
        return Check("buildkit", "warn", "unknown (engine not reachable)")
    server = json.loads(version_json).get("Server") or {}
    major = diagnose.parse_version(server.get("Version", "0.0.0"))[0]
    if major and major < 23:
        return Check(
            "buildkit",
            "warn",
            f"engine {server.get('Version')} predates BuildKit by default",
            "upgrade Docker to 23 or newer",
        )
    return Check("buildkit", "ok", "BuildKit (Compose builds with it)")


def check_ports(
    published: Sequence[state.Port],
    ours: set[int],
    is_free: Callable[[int, str], bool],
    holder: Callable[[int], str | None],
) -> list[Check]:
    out = []
    for p in published:
        label = f"port {p.published}"
        where = f"{p.host_ip or '0.0.0.0'}:{p.published} for {p.service}"
        if p.published in ours:
            out.append(Check(label, "ok", f"{where}: in use by this stack"))
        elif is_free(p.published, p.host_ip):
            out.append(Check(label, "ok", f"{where}: free"))
        else:
            who = holder(p.published)
            out.append(
                Check(
                    label,
                    "fail",
                    f"{where}: taken" + (f" by {who}" if who else ""),
                    "stop what holds it, or publish another port (see .env.example)",
                )
            )
    return out


def check_disk(free_bytes: int | None, path: str) -> Check:
    if free_bytes is None:
        return Check("disk", "warn", f"cannot read free space of {path} (remote engine?)")
    gib = free_bytes / 2**30
    if gib < MIN_DISK_GIB:
        return Check(
            "disk",
            "fail" if gib < 1 else "warn",
            f"{gib:.1f} GiB free on {path}",
            "free space: `docker system prune` removes unused images and build cache",
        )
    return Check("disk", "ok", f"{gib:.0f} GiB free on {path}")


def gather(s: Session) -> list[Check]:
    if shutil.which("docker") is None:
        return [Check("docker", "fail", "docker CLI not on PATH", "install Docker")]
    res = s.read(docker.version_json(), check=False)
    version_json = res.stdout if res.ok and '"Server":{' in res.stdout.replace(" ", "") else None
    checks = [check_engine(version_json, last_line(res.stderr))]
    res = s.read(compose.version(), check=False)
    compose_version = res.stdout if res.ok else None
    checks.append(check_compose(compose_version))
    checks.append(check_buildkit(version_json, dict(os.environ)))
    if version_json is None or checks[1].status == "fail":
        return checks
    try:
        cfg = s.config()
        ours = {p.published for c in s.containers() for p in c.ports}
        if s.env.orchestrator == "compose" and not s.env.protected:  # where `inv dev --watch` runs
            watched = watch.watching(s.project, s.env)
            rules = watch.rules(cfg if watched == s.env else s.for_env(watched).config())
            checks.append(check_watch(compose_version or "", (r.action for r in rules)))
    except diagnose.MissingVariable as exc:  # e.g. prod before `inv env.init --env prod`
        named = diagnose.MissingVariable(exc.variable, s.env.name)
        return checks + [Check("variables", "fail", named.message, named.hint or "")]
    except StackyardError as exc:
        return checks + [Check("compose files", "fail", exc.message, exc.hint or "")]
    checks += check_ports(state.published_ports(cfg), ours, ports.is_free, ports.holder)
    res = s.read(docker.root_dir(), check=False)
    root = res.stdout.strip() if res.ok else ""
    free = shutil.disk_usage(root).free if root and os.path.isdir(root) else None
    checks.append(check_disk(free, root or "the engine's data directory"))
    return checks


def run(s: Session) -> None:
    checks = gather(s)
    rows = [
        [c.status.upper(), c.name, c.detail + (f"  -> {c.fix}" if c.fix and c.status != "ok" else "")] for c in checks
    ]
    s.print(table.render(["", "CHECK", "DETAIL"], rows))
    failed = [c for c in checks if c.status == "fail"]
    if failed:
        raise StackyardError(
            f"{len(failed)} check(s) failed: {', '.join(c.name for c in failed)}", "see the fixes above"
        )
