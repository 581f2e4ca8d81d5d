"""`inv prod-deploy` and `inv rollback`, the plan: what will happen, in order,
with the reason for each step, and the action that does it (deploy/actions.py).
`--dry-run` prints it; deploy/run.py runs its steps as they are, and decides
nothing. Making a plan is pure: its inputs are the state read before, and the
roles of the stack's services ([tool.stackyard.roles], engine/roles.py): the web
service is switched container by container behind the proxy, the migration
service runs once, the workers are recreated after the switch. When no web
container runs (none yet, or it stopped or crashed), the whole stack is started
with `up --wait` and the proxy pinned to the web container it made healthy; when
the database holds data (its named volume, or a container of it, exists), its
backup comes first: only a stack without data makes a first deploy."""

from __future__ import annotations

import dataclasses
import pathlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from stackyard.commands import compose
from stackyard.config import Database, Environment, Roles
from stackyard.core.command import Command
from stackyard.deploy import actions, releases
from stackyard.deploy.lock import IMAGE as LOCK_IMAGE
from stackyard.deploy.lock import name as lock_name
from stackyard.deploy.proxy import Adapter, adapter
from stackyard.engine import ship
from stackyard.errors import StackyardError
from stackyard.stack.ops import LOG_LINES_ON_FAILURE

HEALTH_TIMEOUT = 120  # seconds a new container has to become healthy
STOP_GRACE = 30  # seconds an old web container has to finish its requests

# Deadlines: the seconds each kind of step may take before its command is stopped
# and the step fails (the undo walk runs): a hung engine, ssh link or registry
# must not hold the lock forever. Engine API requests have their own (engine/api.py).
PREFLIGHT_DEADLINE = 300  # env.check, lint's rules, git: local reads
LOCK_DEADLINE = 30
IMAGES_DEADLINE = 30  # a rollback's look at its images
BUILD_DEADLINE = 1800  # a cold build downloads and compiles
SHIP_DEADLINE = 3600  # a first ship sends every image (~2 GB for the reference stack): 0.6 MB/s at least
BACKUP_DEADLINE = 600
MIGRATE_DEADLINE = 600
START_MARGIN = 60  # beyond the health timeout: creating containers, pulling a small image
SWITCH_DEADLINE = 30  # a proxy reload; Caddy: a network attach (a switch back: a drain of CADDY_DRAIN s)
RETIRE_DEADLINE = STOP_GRACE + 30  # stop waits STOP_GRACE, then kills
RECORD_DEADLINE = 120  # appending a line; removing old images
#: After a command the plan shows, when it runs on the local engine rather than the target.
LOCAL = "   (this machine's engine)"
ROLES_HINT = "state it in [tool.stackyard.roles] (README: Roles)"
LOGS_DEADLINE = 30  # Engine API reads of a few containers' logs


@dataclass(frozen=True)
class Data:
    """The database role's service holds data (read before the plan, when no web
    container runs): where it was seen, and whether the service runs."""

    where: str  # "volume shop-prod_db-data", "container shop-prod-db-1"
    running: bool


@dataclass(frozen=True)
class Target:
    """The engine a deploy acts on when it is another one than the local engine (the
    docker CLI's default, where the build runs unless `build_on` is "host"), read before the plan."""

    host: str  # its address, DOCKER_HOST form
    build_on: str = "local"  # "local": build on the local engine, then ship; "host": build on the target
    #: The images the release runs, as both engines have them before the build: what the ship would do.
    images: tuple[ship.Image, ...] = ()


@dataclass(frozen=True)
class Bundle:
    """A deploy of a bundle (`inv bundle`) rather than of the working tree: its file, its
    release, and the images its manifest names, as "repository:tag (image ID)". Nothing is built."""

    path: pathlib.Path
    release: str
    images: tuple[str, ...] = ()


@dataclass(frozen=True)
class Step:
    name: str
    what: str
    why: str
    action: actions.Action
    #: Seconds its commands (and its undo's) may take: given to them as their timeout.
    deadline: int
    #: Run when this step or a later one fails (newest step first), and what they do, in words.
    undo: tuple[actions.Action, ...] = ()
    undo_what: str = ""
    #: Said in the error when a later step fails: what this one left that the undo cannot take back.
    left_behind: str = ""
    #: More lines the plan prints under the step (the images a ship would send).
    detail: tuple[str, ...] = ()

    def lines(self, number: int, env: Environment) -> list[str]:
        indent = " " * 16
        out = [f"  {number:>2}. {self.name:<9} {self.what} (≤ {self.deadline} s)"]
        out += [
            f"{indent}$ {compose.short(cmd, env)}{LOCAL if cmd.local_engine else ''}" for cmd in self.action.commands()
        ]
        out += [f"{indent}{line}" for line in self.detail]
        out.append(f"{indent}why: {self.why}")
        if self.undo_what:
            out.append(f"{indent}undo: {self.undo_what}")
        return out


@dataclass(frozen=True)
class Plan:
    kind: releases.Kind
    env: Environment
    release: str
    previous: str | None  # the release serving now, or of the web container stopped (None: none)
    #: In order. When one fails, the undo of each step begun runs, newest first.
    steps: tuple[Step, ...]
    #: After every step succeeded, with the release serving: never undone.
    finish: tuple[Step, ...]
    #: What serves when a step failed and the undos ran.
    after_failure: str
    #: Printed when it is done.
    note: str = ""
    #: What was found that decides the plan's shape, when no web container runs.
    situation: str = ""
    #: The target engine, when it is not the local one.
    target: Target | None = None

    def numbered(self) -> list[tuple[int, Step]]:
        return list(enumerate(self.steps + self.finish, 1))

    def text(self) -> str:
        head = f"{self.kind} {self.release} to {self.env.name} (project {self.env.project})"
        head += f" on {self.target.host}" if self.target else ""
        head += f", replacing {self.previous}" if self.previous else ""
        lines = [head + ":"] + ([f"  {self.situation}"] if self.situation else [])
        for number, step in self.numbered():
            if number == len(self.steps) + 1:
                lines.append(f"  then, {self.release} serving (never undone):")
            lines += step.lines(number, self.env)
        lines.append(
            f"  on a failure in steps 1-{len(self.steps)}: the undo of each step begun runs, newest first; "
            f"{self.after_failure}; exit 1"
        )
        return "\n".join(lines)


def make(
    kind: releases.Kind,
    env: Environment,
    release: str,
    previous: str | None,
    running: Sequence[str],
    roles: Roles,
    *,
    allow_dirty: bool = False,
    health_timeout: int = HEALTH_TIMEOUT,
    leftovers: Sequence[str] = (),
    stopped: Sequence[str] = (),
    data: Data | None = None,
    target: Target | None = None,
    networks: Mapping[str, Sequence[str]] | None = None,
    bundle: Bundle | None = None,
) -> Plan:
    """The plan for `release`. `running`: the web container serving now; `leftovers`:
    more web containers (running or not) beside it, left by a deploy that was killed,
    removed before the new one starts. With none running: `stopped`, the web
    containers that are not running, and `data`, whether the database holds data
    (None: it holds none, a first deploy). `target`: the engine it acts on, when it is
    not the local one (a deploy then builds locally and ships, or builds there).
    `networks`: each service's networks (deploy/proxy.service_networks), which a Caddy
    proxy's switch needs. `bundle`: a deploy of that bundle (its release, its compose
    config in `env`): its images are loaded from it, nothing is built or shipped."""
    before = _before(kind, env, release, allow_dirty, target, bundle)
    if not running:
        plan = _start(kind, env, release, previous, roles, before, health_timeout, stopped, data, networks or {})
    else:
        plan = _beside(kind, env, release, previous, running, roles, before, health_timeout, leftovers, networks or {})
    return dataclasses.replace(plan, target=target)


def _before(
    kind: releases.Kind,
    env: Environment,
    release: str,
    allow_dirty: bool,
    target: Target | None,
    bundle: Bundle | None = None,
) -> list[Step]:
    """What every plan begins with: the preflight (a rollback: its images), the lock, the
    build (and, to another engine, the ship; from a bundle: the load)."""
    steps: list[Step] = []
    if bundle is not None:
        steps.append(
            Step(
                "preflight",
                f"verify every member of {bundle.path.name} (size, SHA-256), env.check (strict); no git check, "
                "no lint rules: no source is deployed (`nox -s lint` runs where the bundle is written)",
                "a damaged bundle, or any problem, stops the deploy before anything changes on the host",
                actions.BundlePreflight(bundle.path),
                PREFLIGHT_DEADLINE,
            )
        )
    elif kind == "deploy":
        steps.append(
            Step(
                "preflight",
                "env.check (strict), the security rules of `nox -s lint`, a clean git tree"
                + (" (skipped: --allow-dirty)" if allow_dirty else ""),
                "any problem stops the deploy before anything changes",
                actions.Preflight(allow_dirty),
                PREFLIGHT_DEADLINE,
            )
        )
    else:
        steps.append(
            Step(
                "images",
                f"check that the images of {release} are still on the engine",
                "a rollback builds nothing",
                actions.CheckImages(release),
                IMAGES_DEADLINE,
            )
        )
    steps.append(
        Step(
            "lock",
            f"create container {lock_name(env.project)} on the target engine, from image {LOCK_IMAGE} "
            "(no layer: loaded there first when it lacks it)",
            "two deploys to one host exclude each other, from any machine",
            actions.TakeLock(release),
            LOCK_DEADLINE,
            undo=(actions.RecordFailed(release, kind), actions.Unlock()),
            undo_what=f"record {release} as failed, with the reason (failed-serving when it serves after all: "
            "a switch back that failed); remove the lock",
        )
    )
    if bundle is not None:
        steps.append(
            Step(
                "load",
                f"load into the target's engine the images of {bundle.path.name} it lacks (by image ID), each "
                "checked against the manifest's ID after its load",
                "no build, no registry: the images come from the bundle (verified again as it is read)",
                actions.LoadBundle(bundle.path),
                SHIP_DEADLINE,
                detail=bundle.images,
            )
        )
    elif kind == "deploy":
        steps += build_steps(env, release, target)
    return steps


def build_steps(env: Environment, release: str, target: Target | None) -> list[Step]:
    """The build, on the local engine unless told to build on the target; when the
    target is another engine, the images built here are shipped to it."""
    build = compose.for_release(compose.build(env), release)
    why = f"rollback needs the old images: those of the last {releases.KEEP_IMAGES} good releases are kept"
    if target is None:
        return [Step("build", f"build the images, tagged {release}", why, actions.Stream(build), BUILD_DEADLINE)]
    if target.build_on == "host":
        what = f"build the images, tagged {release}, on the target's engine: only the build context travels"
        return [Step("build", what, why, actions.Stream(build), BUILD_DEADLINE)]
    built = tuple(i.ref for i in target.images if i.built)
    pulled = tuple(i.ref for i in target.images if not i.built)
    return [
        Step(
            "build",
            f"build the images, tagged {release}, on this machine's engine (the docker CLI's default)",
            why + "; the target's engine builds nothing",
            actions.Stream(build.on_local_engine()),
            BUILD_DEADLINE,
        ),
        Step(
            "ship",
            f"send {target.host} the images of {release} it lacks, by image ID: one docker save | docker load "
            "stream each, then its ID checked on both engines",
            "no registry: the images go from this machine's engine to the target's, and only those it lacks",
            actions.Ship(built, pulled),
            SHIP_DEADLINE,
            detail=tuple(i.line() for i in target.images),
        ),
    ]


def _backup(env: Environment, release: str, database: Database, why: str) -> Step:
    return Step(
        "backup",
        f"pg_dump (custom format) of {database.service}, checked with pg_restore --list, "
        f"kept on the engine as backup {release}",
        why,
        actions.Backup(env, database, release),
        BACKUP_DEADLINE,
    )


def _restore_hint(env: Environment, release: str, roles: Roles) -> str:
    if roles.database and roles.database.kind == "postgres":
        return f"restore the backup taken before it: inv db.restore {release} --env {env.name} --confirm-data-loss"
    return "restore one of yours (no backup step: no postgres database role)"


def _start(
    kind: releases.Kind,
    env: Environment,
    release: str,
    previous: str | None,
    roles: Roles,
    before: list[Step],
    health_timeout: int,
    stopped: Sequence[str],
    data: Data | None,
    networks: Mapping[str, Sequence[str]],
) -> Plan:
    """No web container runs: `up --wait` of the whole stack, after a backup when the
    database holds data (a web container stopped or crashed is no first deploy)."""
    tagged = lambda cmd: compose.for_release(cmd, release)  # noqa: E731
    web = roles.web.service if roles.web else "web"
    none_runs = f"no {web} container runs" + (f" ({', '.join(stopped)}: stopped)" if stopped else "")
    if kind == "rollback" and roles.migrate:
        # Starting the stack starts its migration service first (the others depend on it):
        # a rollback that migrates would break its word, the more so over newer data.
        where = f"nothing runs in {env.name}" if not (stopped or data) else f"{none_runs} in {env.name}"
        raise StackyardError(
            f"{where}: a rollback to {release} would start the whole stack, and {roles.migrate} "
            "with it (a rollback never migrates)",
            f"check out {release}'s commit and `inv prod-deploy --env {env.name}`"
            + (" (it backs up the data first)" if data else ""),
        )
    steps = [*before]
    db = roles.database
    postgres = db is not None and db.kind == "postgres"
    if data is None:
        situation = (f"{none_runs} in {env.name}" if stopped else f"nothing runs in {env.name}") + (
            f", and {db.service} holds no data (no volume, no container of it): a first deploy" if db else ""
        )
        why_start = "nothing runs yet"
        after = "nothing served before, nothing serves after (the containers started are stopped)"
    else:
        assert db is not None  # data is only read for a database role
        situation = f"{none_runs}, and the database holds data ({data.where})" + (
            ": backup first" if kind == "deploy" and postgres else ""
        )
        why_start = none_runs
        after = "nothing served before, nothing serves after (the containers started are stopped; the data is kept)"
        if kind == "deploy" and not data.running:
            steps.append(
                Step(
                    "database",
                    f"up --wait {db.service} (stopped now)",
                    "the backup reads it",
                    actions.Stream(tagged(compose.up(env, (db.service,), timeout=health_timeout, no_deps=True))),
                    health_timeout + START_MARGIN,
                    undo=(actions.Stream(tagged(compose.stop(env, (db.service,)))),),
                    undo_what=f"stop {db.service} again (the data is kept)",
                )
            )
        if kind == "deploy" and postgres:
            migrates = f"; the start runs {roles.migrate}" if roles.migrate else ""
            steps.append(_backup(env, release, db, f"the database holds data: backup first{migrates}"))
        if kind == "deploy" and roles.migrate:
            restore = _restore_hint(env, release, roles)
            after += f"; if {roles.migrate} ran, the schema was migrated by {release}: {restore}"
    if stopped:
        n = len(stopped)
        steps.append(
            Step(
                "logs",
                f"print the last {LOG_LINES_ON_FAILURE} log lines of the stopped {web} container"
                f"{'s' if n > 1 else ''} ({', '.join(stopped)})",
                f"the start replaces {'them' if n > 1 else 'it'} (Compose recreates the service's container with "
                f"{release}'s images), and {'their' if n > 1 else 'its'} logs with {'them' if n > 1 else 'it'}: "
                "why it stopped stays in this output",
                actions.ShowContainerLogs(tuple(stopped), LOG_LINES_ON_FAILURE),
                LOGS_DEADLINE,
            )
        )
    steps.append(
        Step(
            "start",
            f"up --wait the whole stack with {release}"
            + (f" ({roles.migrate} runs first: the services that depend on it wait)" if roles.migrate else "")
            + (f"; it replaces {', '.join(stopped)}" if stopped else ""),
            why_start,
            actions.StartAll(tagged(compose.up(env, timeout=health_timeout)), health_timeout),
            health_timeout + START_MARGIN,
            undo=(actions.Stream(tagged(compose.stop(env))),),
            undo_what="stop the stack's containers (kept, with their logs, for `inv logs`; the data is kept)",
        )
    )
    if roles.web is not None and roles.proxy is not None:
        steps.append(_pin(env, roles, networks))
    return Plan(kind, env, release, previous, tuple(steps), _finish(kind, release, (), ""), after, situation=situation)


def _beside(
    kind: releases.Kind,
    env: Environment,
    release: str,
    previous: str | None,
    running: Sequence[str],
    roles: Roles,
    before: list[Step],
    health_timeout: int,
    leftovers: Sequence[str],
    networks: Mapping[str, Sequence[str]],
) -> Plan:
    """A web container serves: the new one starts beside it, and the proxy switches
    to it once it is healthy (blue/green)."""
    if roles.web is None or roles.proxy is None:
        missing = "web" if roles.web is None else "proxy"
        raise StackyardError(
            f"a {kind} with {env.name} running needs the {missing} role: no service of its compose config is detected "
            f"as the {missing}",
            ROLES_HINT,
        )
    tagged = lambda cmd: compose.for_release(cmd, release)  # noqa: E731
    steps = [*before]
    if kind == "deploy" and roles.database and roles.database.kind == "postgres":
        steps.append(_backup(env, release, roles.database, "the migrations may change data; no backup, no deploy"))
    if kind == "deploy" and roles.migrate:
        steps.append(
            Step(
                "migrate",
                f"run {roles.migrate} once with {release}",
                "migrations must be backward compatible: the old release still serves meanwhile",
                actions.Stream(tagged(compose.run_once(env, roles.migrate))),
                MIGRATE_DEADLINE,
                left_behind=f"the schema was migrated by {release} and stays so; {previous} runs on it "
                f"(README: Deploying, expand/contract) - if it cannot, {_restore_hint(env, release, roles)}",
            )
        )
    web, port = roles.web.service, roles.web.port
    proxy = adapter(roles.proxy, web, networks)
    if leftovers:
        n = len(leftovers)
        steps.append(
            Step(
                "converge",
                f"remove {n} leftover {web} container{'s' if n > 1 else ''} ({', '.join(leftovers)}); "
                f"point {roles.proxy.service} at {running[0]} first",
                "a killed deploy left them: they would pile up, one more each deploy",
                actions.Converge(
                    actions.Switch(env, proxy, running[0], port), actions.Retire(tuple(leftovers), STOP_GRACE)
                ),
                SWITCH_DEADLINE + RETIRE_DEADLINE * n,
            )
        )
    steps += [
        Step(
            web,  # the step is named after the service it starts
            f"start a {web} container with {release} beside the one with {previous}"
            + (f", out of {roles.proxy.service}'s reach until the switch" if proxy.before_start(actions.NEW) else ""),
            "the new version gets no traffic before it is healthy",
            _start_beside(env, web, len(running) + 1, proxy, tagged),
            health_timeout + START_MARGIN,
            undo=(actions.ShowNewLogs(LOG_LINES_ON_FAILURE), actions.RemoveNew()),
            undo_what=f"print its last {LOG_LINES_ON_FAILURE} log lines; remove it (kept while "
            f"{roles.proxy.service} may point at it: a switch back that failed)",
        ),
        Step(
            "health",
            f"wait until the new {web} container is healthy ({health_timeout} s at most)",
            "a release that does not become healthy never gets traffic",
            actions.WaitHealthy(health_timeout, LOG_LINES_ON_FAILURE),
            health_timeout,
        ),
        Step(
            "switch",
            f"point {roles.proxy.service} ({roles.proxy.kind}) at the new container",
            proxy.how,
            actions.Switch(env, proxy, None, port),
            SWITCH_DEADLINE,
            undo=(actions.SwitchBack(env, proxy, running[0], port, release, previous or running[0]),),
            undo_what=f"point {roles.proxy.service} at {running[0]} again (if that fails, {release} still "
            "serves, beside it or alone, and the error and the release history say which)",
        ),
    ]
    if roles.workers:
        workers = " and ".join(roles.workers)
        steps.append(
            Step(
                "workers",
                f"recreate {workers} with {release}; wait until healthy",
                f"after {web}, so work it hands them finds them; a worker should finish its task on SIGTERM",
                actions.Stream(tagged(_workers(env, roles.workers, health_timeout))),
                health_timeout + START_MARGIN,
                undo=(
                    actions.ShowLogs(roles.workers, LOG_LINES_ON_FAILURE),
                    actions.Stream(
                        compose.for_release(_workers(env, roles.workers, health_timeout), previous or "latest")
                    ),
                ),
                undo_what=f"print their last {LOG_LINES_ON_FAILURE} log lines; recreate them with "
                f"{previous or 'latest'}",
            )
        )
    note = ""
    if kind == "rollback":
        note = (
            "the database was not touched; to undo a migration, restore the backup taken before it: "
            f"inv db.restore <release> --env {env.name} --confirm-data-loss"
        )
    return Plan(
        kind,
        env,
        release,
        previous,
        tuple(steps),
        _finish(kind, release, running, web),
        f"{previous} still serves",
        note,
    )


def _start_beside(
    env: Environment, web: str, replicas: int, proxy: Adapter, tagged: Callable[[Command], Command]
) -> actions.StartBeside:
    """One more web container, started at once; or, when the proxy's adapter has calls
    to make before it starts (Caddy: off the network it shares with the proxy), created,
    then those calls, then started."""
    start = tagged(compose.scale_up(env, web, replicas))
    if not proxy.before_start(actions.NEW):
        return actions.StartBeside(start, web)
    return actions.StartBeside(start, web, tagged(compose.scale_up(env, web, replicas, start=False)), proxy)


def _workers(env: Environment, workers: Sequence[str], timeout: int) -> Command:
    return compose.up(env, workers, timeout=timeout, no_deps=True)


def _finish(kind: releases.Kind, release: str, old: Sequence[str], web: str) -> tuple[Step, ...]:
    """After the last step, with the release serving: never undone. A signal (SIGTERM,
    Ctrl-C) waits until they are done, a failure of one is reported after the others ran."""
    steps = []
    if old:
        steps.append(
            Step(
                "retire",
                f"stop the old {web} container{'s' if len(old) > 1 else ''} ({', '.join(old)}) and remove "
                f"{'them' if len(old) > 1 else 'it'}",
                "it has no traffic left",
                actions.Retire(tuple(old), STOP_GRACE),
                RETIRE_DEADLINE * len(old),
            )
        )
    keep = releases.KEEP_IMAGES if kind == "deploy" else None
    steps += [
        Step(
            "record",
            f"append {release} to the release history"
            + (f"; remove the images of this project's releases but the last {keep} good ones" if keep else ""),
            "inv releases shows it",
            actions.Record(release, kind, keep),
            RECORD_DEADLINE,
        ),
        Step("unlock", "remove the lock container", "the next deploy may go", actions.Unlock(), LOCK_DEADLINE),
    ]
    return tuple(steps)


def _pin(env: Environment, roles: Roles, networks: Mapping[str, Sequence[str]]) -> Step:
    """After `up --wait`: the proxy pointed at the web container by its name."""
    assert roles.web is not None and roles.proxy is not None
    web, proxy = roles.web.service, roles.proxy
    return Step(
        "pin",
        f"point {proxy.service} ({proxy.kind}) at the {web} container `up --wait` made healthy",
        "the proxy must send traffic only to containers that passed the health gate, also after a restart "
        "(a container already where the proxy finds it needs nothing)",
        actions.Pin(actions.Switch(env, adapter(proxy, web, networks), None, roles.web.port), web),
        SWITCH_DEADLINE,
    )
