"""`inv prod-deploy` and `inv rollback` on Swarm (`orchestrator = "swarm"`).

The same plan, then act, as on one host: the plan is made here, from the state read
before (the stack's services, the release history, the release's stack file rendered
by swarm/render.py), of deploy/plan.py's Step and Plan, and deploy/run.py prints it and
runs it with its executor (the undo walk, the signals held, the finishing steps).
What changes is who switches: Swarm. The release goes to the stack one part at a time,
each a `docker stack deploy` of the stack file naming only that part (the stack's other
services left as they run: no --prune):

1. the migration job alone, with the release's image; the deploy waits for it to
   complete (its failure fails the deploy, and nothing else has changed);
2. the web service: Swarm updates it task by task, the new task started first and
   given traffic only once healthy, and rolls it back by itself on a failure; the
   deploy watches the service's UpdateStatus until `completed`, or reports Swarm's
   rollback with the failing task's last log lines;
3. the other services, watched the same way; then every service must have converged.

When a step fails, the undo of each step begun runs, newest first: what this deploy
updated and Swarm did not roll back itself is rolled back (`docker service rollback`).
A rollback goes the same way, without backup or migration. The steps' actions are
swarm/actions.py's. Why parts
and not the whole file: a stack deploy runs a job again each time, and updates every
service at once (a broken web service rolled back beside workers on the new release).
A first deploy (no service of the stack yet) deploys the whole stack file at once."""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from stackyard.commands import compose
from stackyard.config import Database, Environment, Roles
from stackyard.deploy import actions, releases
from stackyard.deploy import plan as deploy
from stackyard.deploy.lock import IMAGE as LOCK_IMAGE
from stackyard.deploy.lock import name as lock_name
from stackyard.deploy.plan import Step
from stackyard.engine import api, roles, state
from stackyard.engine import swarm as engine
from stackyard.errors import StackyardError
from stackyard.session import Session
from stackyard.swarm import actions as sa
from stackyard.swarm import render
from stackyard.swarm import run as swarm


@dataclass(frozen=True)
class Found:
    """The state a plan is made from, read before it."""

    roles: Roles
    #: The stack's services now, by their name in the compose files.
    services: tuple[str, ...]
    #: The release the web service runs (its image's tag); None: no web service runs.
    serving: str | None
    #: Where the database's data was seen, when no service runs ("volume shop_db-data").
    data: str | None


def read(s: Session, *, bundled: bool = False, build_on: str | None = None) -> Found:
    """What runs on the swarm this engine manages (it must manage one)."""
    if bundled or build_on:
        what = "--bundle" if bundled else "--build-on"
        raise StackyardError(
            f"{what} is for a deploy to one host; {s.env.name} runs on Swarm",
            f"`inv prod-deploy --env {s.env.name}` builds on the manager and ships the images to the environment's "
            "nodes",
        )
    swarm.require_manager(s)
    found = roles.resolve(s.project.roles, s.config())
    services = {sa.short(s.env.project, svc): svc for svc in engine.services(s.engine(), s.env.project)}
    web = found.web.service if found.web else None
    serving = sa.image_tag(services[web]) if web in services else None
    return Found(found, tuple(sorted(services)), serving, None if services else database_data(s, found))


def database_data(s: Session, found: Roles) -> str | None:
    """A named volume of the database's service on this engine (the stack names it
    `<project>_<volume>`, or as the compose file does): where its data is, or None."""
    if found.database is None:
        return None
    config = s.config()
    declared = config.get("volumes") or {}
    mounts = ((config.get("services") or {}).get(found.database.service) or {}).get("volumes") or []
    for mount in mounts:
        if mount.get("type") == "volume" and mount.get("source"):
            spec = declared.get(mount["source"]) or {}
            name = spec.get("name") or f"{s.env.project}_{mount['source']}"
            if api.volume_exists(s.engine(), name):
                return f"volume {name}"
    return None


def stack_of(s: Session, release: str) -> tuple[render.Stack, dict]:
    """The release's stack file (its images tagged `release`), and the compose config it
    is rendered from."""
    config = state.parse_config(s.read(compose.for_release(compose.config_json(s.env), release)).stdout)
    return swarm.rendered(s, config), config


def make_plan(
    s: Session,
    kind: releases.Kind,
    release: str,
    found: Found,
    *,
    allow_dirty: bool = False,
    health_timeout: int = deploy.HEALTH_TIMEOUT,
) -> deploy.Plan:
    """The plan of `release` over what `found` says runs (deploy/run.py names the release)."""
    stack, config = stack_of(s, release)
    ship = (bool(s.env.nodes) or s.remote) and not s.env.registry
    return make(
        kind,
        s.env,
        release,
        found,
        stack,
        config,
        allow_dirty=allow_dirty,
        health_timeout=health_timeout,
        ship=ship,
    )


def make(
    kind: releases.Kind,
    env: Environment,
    release: str,
    found: Found,
    stack: render.Stack,
    config: Mapping[str, Any],
    *,
    allow_dirty: bool = False,
    health_timeout: int = deploy.HEALTH_TIMEOUT,
    ship: bool = False,
) -> deploy.Plan:
    """The plan, pure: from what runs (`found`), the release's stack file and its compose
    config. `ship`: the images go to other engines (the environment's nodes, a remote manager)."""
    r = found.roles
    steps = _before(kind, env, release, allow_dirty, ship, config, stack.pushes)
    postgres = r.database is not None and r.database.kind == "postgres"
    secrets = Step(
        "secrets",
        "create the Swarm secrets and configs the release names that the swarm lacks (each named by the hash of "
        "its value, never shown); label a node for each pinned service none carries",
        "Swarm's secrets are immutable: a changed value is a new one, made before the services that read it",
        sa.MakeSecrets(stack, dict(config)),
        deploy.LOCK_DEADLINE,
    )
    if not found.services:
        if kind == "rollback":
            raise StackyardError(
                f"nothing runs in {env.name}: a rollback to {release} would deploy the whole stack, and its "
                f"migration job with it (a rollback never migrates)",
                f"check out {release}'s commit and `inv prod-deploy --env {env.name}`",
            )
        return _first(env, release, found, stack, steps, secrets, health_timeout, postgres)
    if kind == "deploy" and postgres:
        assert r.database is not None
        steps.append(_backup(env, release, r.database, "the migration may change data; no backup, no deploy"))
    steps.append(secrets)
    services = sorted(stack.document["services"])
    web = r.web.service if r.web and r.web.service in services else None
    job = stack.job if kind == "deploy" else None
    if job:
        steps.append(
            Step(
                "migration",
                f"deploy {job} alone with {release} (the stack's other services as they run); wait until the job "
                "has completed",
                "migrations must be backward compatible: the old release still serves meanwhile; a failed job fails "
                "the deploy with nothing else changed",
                sa.RunJob(env.project, only(stack.document, [job]), job, bool(env.registry)),
                deploy.MIGRATE_DEADLINE,
                left_behind=f"the schema was migrated by {release} and stays so; {found.serving} runs on it "
                f"(README: Deploying, expand/contract) - if it cannot, {_restore_hint(env, release, r)}",
            )
        )
    if web:
        steps.append(
            Step(
                web,  # the step is named after the service it updates
                f"deploy {web} with {release}: Swarm replaces its tasks one at a time, each new one started first; "
                "watch its update until Swarm says completed",
                "Swarm gives a new task traffic only once it is healthy, and rolls the service back by itself when "
                "one fails",
                sa.Update(env.project, only(stack.document, [web]), (web,), serves=True, registry=bool(env.registry)),
                update_deadline(stack.document, [web], health_timeout),
                undo=(sa.RollBack(env.project, (web,)),),
                undo_what=f"roll {web} back to {found.serving} (`docker service rollback`), unless Swarm did",
            )
        )
    rest = [n for n in services if n not in (web, stack.job)]
    if rest:
        steps.append(
            Step(
                "services",
                f"deploy {', '.join(rest)} with {release}; watch the updates of those whose spec changes; then every "
                "service must run",
                f"after {web}, so work it hands them finds them" if web else "the rest of the release",
                sa.Update(
                    env.project, only(stack.document, rest), tuple(rest), converge=True, registry=bool(env.registry)
                ),
                update_deadline(stack.document, rest, health_timeout),
                undo=(sa.RollBack(env.project, tuple(rest)),),
                undo_what="roll back those this deploy updated, unless Swarm did",
            )
        )
    gone = sorted(set(found.services) - set(services))
    note = ""
    if kind == "rollback":
        note = (
            "the database was not touched; to undo a migration, restore the backup taken before it: "
            f"inv db.restore <release> --env {env.name} --confirm-data-loss"
        )
    return deploy.Plan(
        kind,
        env,
        release,
        found.serving,
        tuple(steps),
        _finish(kind, release, env.project, gone),
        f"{found.serving} still serves" if found.serving else "what ran before still runs",
        note,
        situation="on Swarm: Swarm updates each service, health-gated, and rolls it back by itself on a failure",
    )


def _before(
    kind: releases.Kind,
    env: Environment,
    release: str,
    allow_dirty: bool,
    ship: bool,
    config: Mapping[str, Any],
    pushes: Mapping[str, str],
) -> list[Step]:
    """The preflight (a rollback: its images), the lock, the build (and the ship, or
    the push to the registry)."""
    if kind == "deploy":
        first = Step(
            "preflight",
            "env.check (strict), the security rules of `nox -s lint`, a clean git tree"
            + (" (skipped: --allow-dirty)" if allow_dirty else ""),
            "any problem stops the deploy before anything changes",
            actions.Preflight(allow_dirty),
            deploy.PREFLIGHT_DEADLINE,
        )
    else:
        first = Step(
            "images",
            f"check that the images of {release} are still on the manager's engine",
            "a rollback builds nothing",
            actions.CheckImages(release),
            deploy.IMAGES_DEADLINE,
        )
    steps = [
        first,
        Step(
            "lock",
            f"create container {lock_name(env.project)} on the manager's engine, from image {LOCK_IMAGE}",
            "two deploys to one swarm exclude each other, from any machine",
            actions.TakeLock(release),
            deploy.LOCK_DEADLINE,
            undo=(actions.RecordFailed(release, kind), actions.Unlock()),
            undo_what=f"record {release} as failed, with the reason; remove the lock",
        ),
    ]
    if kind == "deploy":
        build = compose.for_release(compose.build(env), release)
        why = f"rollback needs the old images: those of the last {releases.KEEP_IMAGES} good releases are kept"
        steps.append(
            Step("build", f"build the images, tagged {release}", why, actions.Stream(build), deploy.BUILD_DEADLINE)
        )
    if ship:
        steps.append(
            Step(
                "ship",
                "send each engine of the swarm that lacks them the release's images, by image ID "
                "(docker save | docker load)",
                "no registry: a node runs only the images its own engine has",
                sa.Ship(dict(config)),
                deploy.SHIP_DEADLINE,
            )
        )
    if pushes:
        steps.append(
            Step(
                "push",
                f"push {', '.join(pushes)} to {env.registry}, named {', '.join(pushes.values())}",
                "every node pulls the release's images from the registry (given this machine's login to it)",
                sa.Push(dict(pushes)),
                deploy.SHIP_DEADLINE,
            )
        )
    return steps


def _first(
    env: Environment,
    release: str,
    found: Found,
    stack: render.Stack,
    steps: list[Step],
    secrets: Step,
    health_timeout: int,
    postgres: bool,
) -> deploy.Plan:
    """No service of the stack yet: the whole stack file at once (its job retries while
    the database starts), after a backup when the database's volume holds data."""
    r = found.roles
    situation = f"no service of stack {env.project} runs"
    if found.data and postgres:
        assert r.database is not None
        db_name = r.database.service
        situation += f", and the database holds data ({found.data}): backup first"
        steps.append(secrets)
        steps.append(
            Step(
                "database",
                f"deploy {db_name} alone with {release}; wait until it runs",
                "the backup reads it",
                sa.Start(
                    env.project,
                    only(stack.document, [db_name]),
                    health_timeout,
                    (db_name,),
                    registry=bool(env.registry),
                ),
                health_timeout + deploy.START_MARGIN,
            )
        )
        why = f"the database holds data: backup first; {stack.job} runs"
        steps.append(_backup(env, release, r.database, why, started_before=True))
    else:
        situation += ": a first deploy" + (f" ({found.data}: no postgres role to back it up)" if found.data else "")
        steps.append(secrets)
    steps.append(
        Step(
            "start",
            f"deploy the whole stack with {release} (--prune); wait until every service runs"
            + (f" and {stack.job} has completed" if stack.job else ""),
            "nothing runs yet"
            + (f"; Swarm has no start order: {stack.job} is retried while the database starts" if stack.job else ""),
            sa.Start(
                env.project,
                stack.document,
                health_timeout + deploy.MIGRATE_DEADLINE,
                prune=True,
                registry=bool(env.registry),
            ),
            health_timeout + deploy.MIGRATE_DEADLINE + deploy.START_MARGIN,
        )
    )
    after = (
        "nothing served before; the services stay as Swarm made them (`inv logs`, `inv ps`; `inv down` removes them)"
    )
    return deploy.Plan(
        "deploy",
        env,
        release,
        None,
        tuple(steps),
        _finish("deploy", release, env.project, ()),
        after,
        situation=situation,
    )


def _backup(env: Environment, release: str, database: Database, why: str, *, started_before: bool = False) -> Step:
    return Step(
        "backup",
        f"pg_dump (custom format) in the container of {database.service}'s task on this engine (docker exec), "
        f"checked with pg_restore --list, kept on the engine as backup {release}",
        why,
        sa.Backup(env.project, database, release, started_before),
        deploy.BACKUP_DEADLINE,
    )


def _restore_hint(env: Environment, release: str, r: Roles) -> str:
    if r.database and r.database.kind == "postgres":
        return f"restore the backup taken before it: inv db.restore {release} --env {env.name} --confirm-data-loss"
    return "restore one of yours (no backup step: no postgres database role)"


def _finish(kind: releases.Kind, release: str, project: str, gone: Sequence[str]) -> tuple[Step, ...]:
    steps = []
    if gone:
        steps.append(
            Step(
                "prune",
                f"remove the services the release no longer names: {', '.join(gone)}",
                "a stack's services follow its compose files (their volumes stay)",
                sa.RemoveServices(tuple(f"{project}_{n}" for n in gone)),
                deploy.RECORD_DEADLINE,
            )
        )
    keep = releases.KEEP_IMAGES if kind == "deploy" else None
    steps += [
        Step(
            "record",
            f"append {release} to the release history"
            + (
                f"; remove the images of this project's releases but the last {keep} good ones "
                "(and those a service of the stack still names)"
                if keep
                else ""
            ),
            "inv releases shows it",
            sa.Record(release, kind, keep),
            deploy.RECORD_DEADLINE,
        ),
        Step("unlock", "remove the lock container", "the next deploy may go", actions.Unlock(), deploy.LOCK_DEADLINE),
    ]
    return tuple(steps)


def only(document: Mapping[str, Any], services: Sequence[str]) -> dict[str, Any]:
    """The stack file with only these services (its networks, volumes, secrets and
    configs all kept: declared, they change nothing)."""
    out = copy.deepcopy(dict(document))
    out["services"] = {n: out["services"][n] for n in services}
    return out


def update_deadline(document: Mapping[str, Any], services: Sequence[str], health_timeout: int) -> int:
    """Seconds the update of these services may take (they update side by side): each
    task's start and health check, one task at a time, then Swarm's monitor window, and
    as much again for a rollback."""
    longest = 0.0
    for name in services:
        dep = document["services"][name].get("deploy") or {}
        replicas = int(dep.get("replicas", 1))
        monitor = render._duration((dep.get("update_config") or {}).get("monitor", "0"), name, "monitor")
        longest = max(longest, replicas * health_timeout + 2 * monitor)
    return int(longest) + deploy.START_MARGIN


# ---- the actions ---------------------------------------------------------------------
