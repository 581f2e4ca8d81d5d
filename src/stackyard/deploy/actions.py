"""What the steps of a deploy plan do: one small frozen dataclass per kind of
action, bound to its inputs when the plan is made. `run(x)` does it, with what
the steps share (`Deploy`: the session, and what earlier steps found, such as
the new container's name); `check(x)` is what a dry run does in its place: the
read-only checks the real step would make (the preflight, the images of a
rollback, the lock being free), so that a dry run fails where the real one
would, having changed nothing; `commands()` are the commands it runs that
change something, as the plan shows them (a name known only while it runs shows
as NEW). Reads (the Engine API, git, `compose config`) are not shown."""

from __future__ import annotations

import abc
import dataclasses
import os
import pathlib
import socket
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from stackyard.bundle import archive
from stackyard.bundle import load as bundle_load
from stackyard.commands import compose
from stackyard.commands import docker as dockercmds
from stackyard.commands import git as gitcmds
from stackyard.config import Database, Environment
from stackyard.core.command import Command
from stackyard.deploy import lock, releases
from stackyard.deploy.engine_changes import change
from stackyard.deploy.proxy import Adapter, Call
from stackyard.engine import api, ship, state
from stackyard.engine import kept as store
from stackyard.env import ops as envops
from stackyard.env.masking import mask
from stackyard.errors import CommandError, CommandTimeout, Interrupted, StackyardError, last_line
from stackyard.lint import run as lint_run
from stackyard.session import Session
from stackyard.stack import backups, db
from stackyard.stack.ops import print_last_logs, startup_failure

if TYPE_CHECKING:
    from docker import DockerClient

NEW = "<new container>"
POLL = 0.5  # seconds between two looks at the new container's health


@dataclass
class Deploy:
    """What the steps of one deploy share, and what they found as they ran."""

    s: Session
    # Given, so that the health gate is testable without waiting.
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    new: str = ""  # the container the api step started
    locked: bool = False  # the lock step took the lock
    backup: str = ""  # the backup step's backup, by name (`inv db.backups`)
    reason: str = ""  # why the deploy failed, for the release history
    #: Where the proxy sends requests, as this deploy's switches left it: "" no switch yet
    #: (what served before still does), a container's name, None unknown (a switch that
    #: was stopped midway may have taken effect).
    points_at: str | None = ""
    #: What serves after a switch back that failed, in words: the error and the history say it.
    stuck: str = ""
    #: The running step's deadline (plan.py), the timeout of each command it runs; None: none.
    deadline: float | None = None


class Action(abc.ABC):
    @abc.abstractmethod
    def run(self, x: Deploy) -> None: ...

    def check(self, x: Deploy) -> None:
        """A dry run's part: the read-only checks run() makes first (most steps make none)."""
        return

    def commands(self) -> tuple[Command, ...]:
        return ()


@dataclass(frozen=True)
class Preflight(Action):
    """env.check (strict), the security rules of lint, a clean git tree. It fails
    closed: a check that cannot run (the config does not render, git fails) stops
    the deploy as a failed check would."""

    allow_dirty: bool

    def run(self, x: Deploy) -> None:
        s = x.s
        envops.check(s, quiet_ok=True)
        _security_rules_can_run(s)
        found = lint_run.security_findings(s)
        for f in found:
            s.print(str(f))
        if found:
            raise StackyardError(
                f"{len(found)} security finding(s) in the {s.env.name} config", "fix them (nox -s lint)"
            )
        if not self.allow_dirty and _git_changes(s):
            raise StackyardError("the git tree has uncommitted changes", "commit them, or deploy with --allow-dirty")

    def check(self, x: Deploy) -> None:
        self.run(x)  # it only reads


@dataclass(frozen=True)
class BundlePreflight(Action):
    """A deploy of a bundle: every member of the file verified (bundle/archive.py), then
    env.check (strict: the secrets come from this machine). No git check and no lint
    rules: no source is deployed, and the rules read the compose files as written (a
    bundle's config is rendered: every image a literal, which SY012 flags)."""

    path: pathlib.Path

    def run(self, x: Deploy) -> None:
        manifest = archive.verify(self.path)
        x.s.print(f"{self.path}: release {manifest.release} of {manifest.project} ({manifest.environment}), verified")
        envops.check(x.s, quiet_ok=True)

    def check(self, x: Deploy) -> None:
        self.run(x)  # it only reads


@dataclass(frozen=True)
class LoadBundle(Action):
    """Load the bundle's images the target lacks (bundle/load.py: the file verified
    again as it is read, each image's ID checked against the manifest after its load)."""

    path: pathlib.Path

    def run(self, x: Deploy) -> None:
        bundle_load.load(x.s, self.path, clock=x.clock)


def _security_rules_can_run(s: Session) -> None:
    """The security rules read the config rendered and raw, and find nothing in a
    config that does not render: that must stop the deploy, not pass it."""
    stand_ins = lint_run.placeholder_secrets(s.project)
    for cmd in (
        compose.config_json(s.env, profiles=compose.ALL_PROFILES, extra_env=stand_ins),
        compose.config_json_raw(s.env, profiles=compose.ALL_PROFILES, extra_env=stand_ins),
    ):
        res = s.read(cmd, check=False)
        if not res.ok:
            why = mask(last_line(res.stderr or res.stdout) or f"exit {res.returncode}", s.env)
            raise StackyardError(
                f"the security rules cannot run: `docker compose config` of {s.env.name} fails ({why})",
                f"fix the compose config (`inv config --env {s.env.name}` shows it); no deploy goes unchecked",
            )


def _git_changes(s: Session) -> bool:
    """Whether the tree has uncommitted changes; git failing (no repository, not
    installed) stops the deploy: an unknown tree is not a clean one."""
    fix = "deploy from a git checkout with git installed, or with --allow-dirty"
    try:
        res = s.read(gitcmds.changes(s.project.root), check=False)
    except StackyardError as exc:  # git not on PATH
        raise StackyardError(f"the git-clean check cannot run: {exc.message}", fix) from exc
    if not res.ok:
        why = last_line(res.stderr or res.stdout) or f"exit {res.returncode}"
        raise StackyardError(f"the git-clean check cannot run: `git status` in {s.project.root} fails ({why})", fix)
    return res.stdout.strip() != ""


@dataclass(frozen=True)
class CheckImages(Action):
    """The images of a release are still on the engine (a rollback builds nothing)."""

    release: str

    def run(self, x: Deploy) -> None:
        for image in release_images(x.s, self.release):
            if not api.image_exists(x.s.engine(), image):
                raise StackyardError(
                    f"image {image} of release {self.release} is not on the engine",
                    "a rollback builds nothing: pick a release of the last "
                    f"{releases.KEEP_IMAGES} (`inv releases`), or deploy its commit again",
                )

    def check(self, x: Deploy) -> None:
        self.run(x)  # it only reads


@dataclass(frozen=True)
class TakeLock(Action):
    """Create the lock container, labelled with who, when and which release."""

    release: str

    def run(self, x: Deploy) -> None:
        when = releases.now().isoformat(timespec="seconds")
        held_by = lock.labels(releases.who(), when, self.release, os.getpid(), socket.gethostname())
        lock.take(x.s, held_by)
        x.locked = True

    def check(self, x: Deploy) -> None:
        lock.check_free(x.s)


@dataclass(frozen=True)
class Unlock(Action):
    """Remove the lock, if this deploy took it."""

    def run(self, x: Deploy) -> None:
        if x.locked:
            lock.release(x.s)
            x.locked = False


@dataclass(frozen=True)
class RecordFailed(Action):
    """Record the release as failed, with the reason, if this deploy took the lock
    (a deploy stopped by another one's lock changed nothing to record)."""

    release: str
    kind: releases.Kind

    def run(self, x: Deploy) -> None:
        if x.locked:
            result: releases.Result = "failed-serving" if serves_new(x) else "failed"
            reason = "; ".join(filter(None, (x.reason, x.stuck)))
            record(x.s, _release(self.release, result, reason, x.backup, self.kind))
            x.s.print(f"{self.release} recorded as {result} in `inv releases`")


def serves_new(x: Deploy) -> bool:
    """The proxy points at the new container: its switch finished, and the switch back failed."""
    return bool(x.new) and x.points_at == x.new


@dataclass(frozen=True)
class Stream(Action):
    """A command whose output is shown as it comes (build, migrate, up)."""

    cmd: Command

    def run(self, x: Deploy) -> None:
        x.s.stream(self.cmd, timeout=x.deadline)

    def commands(self) -> tuple[Command, ...]:
        return (self.cmd,)


@dataclass(frozen=True)
class Ship(Action):
    """Send the target engine the images of the release it lacks, from the local engine
    that built them (engine/ship.py): `built` (tagged with the release), then `pulled`
    (the stack's others, pulled here first when neither engine has one)."""

    built: tuple[str, ...]
    pulled: tuple[str, ...]

    def run(self, x: Deploy) -> None:
        local, target = x.s.local_engine(), x.s.engine()
        images = ship.look(local, target, self.built, self.pulled)
        until = x.clock() + (x.deadline if x.deadline is not None else float("inf"))
        ship.ship(
            local,
            target,
            images,
            change=lambda what, do: change(x.s, what, do),
            say=x.s.print,
            clock=x.clock,
            until=until,
        )


def pulled_images(config: Mapping) -> list[str]:
    """The images the stack pulls rather than builds (a database's, a cache's), in service order."""
    services = [svc for _, svc in sorted((config.get("services") or {}).items()) if svc.get("image")]
    built = {svc["image"] for svc in services if "build" in svc}
    return list(dict.fromkeys(svc["image"] for svc in services if svc["image"] not in built))


@dataclass(frozen=True)
class StartAll(Action):
    """`up --wait` of the whole stack (a first deploy). A failure names the service
    that failed, with its last log lines, as `inv up` does."""

    cmd: Command
    timeout: int

    def run(self, x: Deploy) -> None:
        try:
            x.s.stream(self.cmd, timeout=x.deadline)
        except CommandError as err:  # no known cause (those come out explained): find the failed service
            raise startup_failure(x.s, err, self.timeout) from err

    def commands(self) -> tuple[Command, ...]:
        return (self.cmd,)


@dataclass(frozen=True)
class Backup(Action):
    """pg_dump of the database service, checked, kept on the engine as backup
    `label` (stack/db.py); its name goes to x.backup."""

    env: Environment
    database: Database
    label: str

    def run(self, x: Deploy) -> None:
        x.backup = backups.take(x.s, self.label, self.database, timeout=x.deadline)

    def commands(self) -> tuple[Command, ...]:
        return (db.dump(self.env, self.database.service),)


@dataclass(frozen=True)
class StartBeside(Action):
    """`scale` starts one more container of `service`; the new one's name goes to x.new
    (also when the command fails after creating it, so that the undo removes it). With a
    proxy whose adapter has calls to make before the start (Caddy: off its network),
    `create` creates it first, those calls run, then `scale` starts it."""

    scale: Command
    service: str
    create: Command | None = None
    proxy: Adapter | None = None

    def run(self, x: Deploy) -> None:
        before = self._names(x)
        try:
            if self.create is not None and self.proxy is not None:
                x.s.stream(self.create, timeout=x.deadline)
                x.new = self._new(x, before)
                for call in self.proxy.before_start(x.new):
                    x.s.run(call.cmd, stdin=call.stdin, timeout=x.deadline)
            x.s.stream(self.scale, timeout=x.deadline)
        finally:
            x.new = min(self._names(x) - before, default="")
        if not x.new:
            raise StackyardError(f"the new {self.service} container did not start", "`inv logs` may say why")

    def _new(self, x: Deploy, before: set[str]) -> str:
        made = min(self._names(x) - before, default="")
        if not made:
            raise StackyardError(f"the new {self.service} container was not created", "`inv logs` may say why")
        return made

    def _names(self, x: Deploy) -> set[str]:
        return {api.name(row) for row in api.containers(x.s.engine(), x.s.env.project, self.service)}

    def commands(self) -> tuple[Command, ...]:
        if self.create is None or self.proxy is None:
            return (self.scale,)
        return (self.create, *(call.cmd for call in self.proxy.before_start(NEW)), self.scale)


@dataclass(frozen=True)
class WaitHealthy(Action):
    """The health gate on the new container."""

    timeout: int
    log_lines: int

    def run(self, x: Deploy) -> None:
        wait_healthy(x.s.engine(), x.new, self.timeout, self.log_lines, clock=x.clock, sleep=x.sleep)


def wait_healthy(
    client: DockerClient,
    container: str,
    timeout: float,
    log_lines: int,
    *,
    clock: Callable[[], float],
    sleep: Callable[[float], None],
) -> None:
    """Look at the container's health until it is healthy; fail at once when it
    exits or turns unhealthy, and after `timeout` seconds."""
    deadline = clock() + timeout
    hint = f"its last {log_lines} log lines are above"
    while True:
        status, health = api.state(client, container)
        if health == "healthy":
            return
        seen = " ".join(filter(None, (status, health)))
        if status in ("exited", "dead", "gone") or health == "unhealthy":
            raise StackyardError(f"the new container {container} is not healthy ({seen})", hint)
        if clock() >= deadline:
            raise StackyardError(f"the new container {container} is not healthy after {timeout:g} s ({seen})", hint)
        sleep(POLL)


@dataclass(frozen=True)
class Switch(Action):
    """Send the proxy's traffic to `to` (None: the new container), by the calls of
    the proxy's adapter (deploy/proxy.py), in order."""

    env: Environment
    proxy: Adapter
    to: str | None
    port: int

    def run(self, x: Deploy) -> None:
        to = self.to or x.new
        calls = [call for call in self._calls(to, x.new or NEW) if _needed(x, call)]
        before, x.points_at = x.points_at, None  # while its calls run, either side may get the requests
        try:
            for call in calls:
                x.s.run(call.cmd, stdin=call.stdin, timeout=x.deadline)
        except (CommandTimeout, Interrupted):
            raise  # stopped midway: the proxy may have reloaded all the same
        except StackyardError:
            x.points_at = before  # a proxy refuses a reload (or a config it cannot load) whole
            raise
        if calls and self.proxy.settle:
            x.sleep(self.proxy.settle)  # until the proxy acts on it (Caddy: its next lookup)
        x.points_at = to

    def _calls(self, to: str, new: str) -> tuple[Call, ...]:
        return self.proxy.switch(self.env, to, self.port)

    def commands(self) -> tuple[Command, ...]:
        return tuple(call.cmd for call in self._calls(self.to or NEW, NEW))


def _needed(x: Deploy, call: Call) -> bool:
    """Whether the call's condition holds (a container already on the network is not attached again)."""
    if call.when is None:
        return True
    on = call.when.network in api.networks_of(x.s.engine(), call.when.container)
    return on == call.when.attached


@dataclass(frozen=True)
class SwitchBack(Switch):
    """The switch's undo: the traffic back to the container that served before. When
    that fails, what serves is said (x.stuck): the new release, when the proxy still
    points at it (then its container is kept; with the old one beside it, when the
    proxy reaches that one too: Caddy's network), or either one, when the switch back was
    stopped midway (then both are kept; the next deploy points the proxy at one and
    removes the other)."""

    release: str
    previous: str

    def _calls(self, to: str, new: str) -> tuple[Call, ...]:
        return self.proxy.switch_back(self.env, to, self.port, new)

    def run(self, x: Deploy) -> None:
        try:
            super().run(x)
        except Exception as exc:
            why = mask(exc.message if isinstance(exc, StackyardError) else str(exc), x.s.env)
            if serves_new(x):
                who = f"{self.previous} and {self.release} serve" if self._beside(x) else f"{self.release} still serves"
                x.stuck = f"{who}: switching back to {self.previous} failed: {why}"
            elif x.points_at is None:
                x.stuck = (
                    f"{self.previous} or {self.release} serves: switching back to {self.previous} did not finish "
                    f"({why}); both containers are kept, and the next deploy points the proxy at one"
                )
            raise

    def _beside(self, x: Deploy) -> bool:
        """Whether the container switched back to gets requests beside the new one all the
        same (Caddy: it never left the proxy's network, which the calls attaching it say)."""
        to = self.to or ""
        waits = [c for c in self._calls(to, x.new) if c.when and c.when.container == to and not c.when.attached]
        try:
            return bool(waits) and not any(_needed(x, c) for c in waits)
        except StackyardError:  # the engine does not answer: say what is sure
            return False


@dataclass(frozen=True)
class Pin(Action):
    """Point the proxy at the one container of the web service that `up --wait` made
    healthy (a first deploy), by its name: never at the service's DNS alias, which
    would also cover a later container before it passed the health gate. (Caddy's
    switch attaches it to the proxy's network: Compose did, it is a no-op.)"""

    switch: Switch
    service: str

    def run(self, x: Deploy) -> None:
        client = x.s.engine()
        names = [api.name(row) for row in api.containers(client, x.s.env.project, self.service, running=True)]
        healthy = [n for n in names if api.state(client, n)[1] in ("healthy", "")]  # "": no health check
        if len(healthy) != 1:
            raise StackyardError(
                f"found {len(healthy)} healthy {self.service} container(s) after `up --wait` "
                f"({', '.join(names) or 'none running'}), expected one to point the proxy at",
                f"`inv ps --env {x.s.env.name}` shows them",
            )
        dataclasses.replace(self.switch, to=healthy[0]).run(x)

    def commands(self) -> tuple[Command, ...]:
        return self.switch.commands()


@dataclass(frozen=True)
class ShowNewLogs(Action):
    """Print the new container's last log lines, secrets masked."""

    lines: int

    def run(self, x: Deploy) -> None:
        if x.new:
            text = api.logs(x.s.engine(), x.new, self.lines)
            x.s.print(f"--- new container {x.new}: last {self.lines} log lines ---")
            x.s.print(mask(text.rstrip(), x.s.env))


@dataclass(frozen=True)
class RemoveNew(Action):
    """Remove the new container, if one was started, unless the proxy may point at it
    (a switch back that failed): removing it then would leave nothing serving."""

    def run(self, x: Deploy) -> None:
        if x.new and x.points_at in (x.new, None):
            x.s.print(f"kept {x.new}: the proxy {'points' if x.points_at else 'may point'} at it")
        elif x.new:
            x.s.run(dockercmds.remove(x.new, force=True), timeout=x.deadline)
            x.new = ""


@dataclass(frozen=True)
class ShowLogs(Action):
    """Print the last log lines of services, secrets masked."""

    services: tuple[str, ...]
    lines: int

    def run(self, x: Deploy) -> None:
        print_last_logs(x.s, self.services, self.lines)


@dataclass(frozen=True)
class ShowContainerLogs(Action):
    """Print the last log lines of containers named (stopped ones, which the start replaces), secrets masked."""

    containers: tuple[str, ...]
    lines: int

    def run(self, x: Deploy) -> None:
        for container in self.containers:
            text = api.logs(x.s.engine(), container, self.lines)
            x.s.print(f"--- {container}: last {self.lines} log lines ---")
            x.s.print(mask(text.rstrip(), x.s.env))


@dataclass(frozen=True)
class Retire(Action):
    """Stop containers that have no traffic left (letting them finish), and remove them."""

    containers: tuple[str, ...]
    grace: int

    def run(self, x: Deploy) -> None:
        for cmd in self.commands():
            x.s.run(cmd, timeout=x.deadline)

    def commands(self) -> tuple[Command, ...]:
        return tuple(
            cmd for c in self.containers for cmd in (dockercmds.stop(c, grace=self.grace), dockercmds.remove(c))
        )


@dataclass(frozen=True)
class Converge(Action):
    """Point the proxy at the container kept, then retire the leftovers of a killed deploy."""

    switch: Switch
    retire: Retire

    def run(self, x: Deploy) -> None:
        self.switch.run(x)
        self.retire.run(x)

    def commands(self) -> tuple[Command, ...]:
        return self.switch.commands() + self.retire.commands()


@dataclass(frozen=True)
class Record(Action):
    """Append the release to the history as ok; with `keep`, remove the images of
    this project's releases but the last `keep` good ones."""

    release: str
    kind: releases.Kind
    keep: int | None = None

    def run(self, x: Deploy) -> None:
        record(x.s, _release(self.release, "ok", "", x.backup, self.kind))
        if self.keep is None:
            return
        try:
            history = releases.history(x.s, skipped=None)  # bad records were reported as the deploy began
            kept = releases.kept(history, self.keep)
            images, dropped = release_images(x.s, self.release), {r.version for r in history} - kept
            prune_images(x.s, x.s.engine(), images, dropped)
            if x.s.remote:  # the copies built here for the host, by the host's history too
                prune_images(x.s, x.s.local_engine(), images, dropped, where=" (this machine's engine)")
        except StackyardError as exc:
            raise StackyardError(
                f"{self.release} is recorded, but removing old images failed: {exc.message}", exc.hint
            ) from exc


def prune_images(s: Session, client: DockerClient, images: Sequence[str], dropped: set[str], where: str = "") -> None:
    """Remove, on the engine of `client`, the tags `dropped` (releases of this project's
    history) of these images' repositories. Only those: another project (staging beside
    prod) may share the repositories, and its releases are its own. An image a container
    still uses stays."""
    for repository in sorted({i.rsplit(":", 1)[0] for i in images}):
        for tag in api.tags(client, repository):
            if tag in dropped:
                image = f"{repository}:{tag}"
                what = f"remove image {image}{where}"
                removed = change(s, what, lambda image=image: api.remove_image(client, image))
                if removed is False:
                    s.print(f"kept image {image}: a container still uses it")


def release_images(s: Session, release: str) -> list[str]:
    """The images the compose files name with the release's tag (the ones built here)."""
    config = state.parse_config(s.read(compose.for_release(compose.config_json(s.env), release)).stdout)
    found = {svc.get("image", "") for svc in (config.get("services") or {}).values()}
    return sorted(i for i in found if i.endswith(f":{release}"))


def record(s: Session, release: releases.Release) -> None:
    what = f"add {release.version} ({release.result}) to the release history in volume "
    change(s, what + store.releases_volume(s.env.project), lambda: releases.record(s, release))


def _release(version: str, result: releases.Result, reason: str, backup: str, kind: releases.Kind) -> releases.Release:
    return releases.Release(
        version, releases.now().isoformat(timespec="seconds"), releases.who(), result, reason, backup, kind
    )
