"""`inv prod-deploy`, `inv rollback`, `inv releases`, `inv deploy.unlock`.

A deploy reads the state, makes the plan (deploy/plan.py), prints it, and
runs its steps in order: the executor decides nothing. When a step fails, the
undo of each step begun runs, newest first (traffic back on the old release,
the new container removed, the release recorded as failed, the lock removed).
SIGTERM and SIGHUP (a CI job cancelled, a closed terminal) stop it as Ctrl-C
does, and a signal during the undos is held until they are done; so is one
during the finishing steps (the release serves: it is retired, recorded and
unlocked first, then the deploy exits 128 + the signal's number). Each step's
commands have its deadline as their timeout: a hung one fails the step. A
dry run (`--dry-run` or `inv --dry`) makes each step's read-only checks
instead, then prints the plan: it fails where the real run would, and changes
nothing, on the engine or here."""

from __future__ import annotations

import pathlib
import signal
import tempfile
import time
from collections.abc import Callable

from stackyard import config
from stackyard.bundle import archive
from stackyard.bundle import load as bundle_load
from stackyard.commands import git as gitcmds
from stackyard.config import Roles
from stackyard.core import table
from stackyard.core.runner import Interrupts
from stackyard.deploy import actions, lock, releases
from stackyard.deploy import plan as deploy
from stackyard.deploy.actions import Deploy, serves_new
from stackyard.deploy.proxy import service_networks
from stackyard.engine import api, roles, ship
from stackyard.env.masking import mask
from stackyard.errors import CommandTimeout, StackyardError
from stackyard.session import Session
from stackyard.swarm import actions as swarm_actions
from stackyard.swarm import deploy as swarm_deploy


def run(
    s: Session,
    *,
    kind: releases.Kind = "deploy",
    target: str | None = None,
    allow_dirty: bool = False,
    dry_run: bool = False,
    health_timeout: int = deploy.HEALTH_TIMEOUT,
    build_on: str | None = None,
    bundle: pathlib.Path | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Plan a deploy of the working tree (or a rollback to `target`, default the
    previous good release) and print it; carry it out, or, for a dry run, only
    make its read-only checks (first: they may stop it, as they would stop the real run).
    `build_on` ("local", "host"; default: the environment's): where a deploy to another
    engine than the local one builds. `bundle`: deploy that bundle's release instead of
    the working tree (`inv bundle` wrote it): its compose config, its images loaded."""
    with tempfile.TemporaryDirectory(prefix="stackyard-bundle-") as scratch:
        if bundle is not None:  # its compose config, written for the deploy's commands, gone after it
            s = for_bundle(s, bundle, pathlib.Path(scratch))
        _run(s, kind, target, allow_dirty, dry_run, health_timeout, build_on, bundle, clock, sleep)


def _run(
    s: Session,
    kind: releases.Kind,
    target: str | None,
    allow_dirty: bool,
    dry_run: bool,
    health_timeout: int,
    build_on: str | None,
    bundle: pathlib.Path | None,
    clock: Callable[[], float],
    sleep: Callable[[float], None],
) -> None:
    if s.env.orchestrator == "swarm":  # Swarm's steps (swarm/deploy.py), run by this executor
        plan = swarm_plan(s, kind, target, allow_dirty, health_timeout, build_on, bundle)
        x: Deploy = swarm_actions.SwarmDeploy(s, clock, sleep)
    else:
        plan = make_plan(
            s,
            kind=kind,
            target=target,
            allow_dirty=allow_dirty,
            health_timeout=health_timeout,
            build_on=build_on,
            bundle=bundle,
        )
        x = Deploy(s, clock, sleep)
    if dry_run or s.dry:
        check(plan, x)
        s.print(plan.text())
        return
    s.print(plan.text())
    started = clock()
    execute(plan, x)
    s.print(f"{kind}: {plan.release} serves {s.env.name} ({clock() - started:.1f} s)")
    if plan.note:
        s.print(plan.note)


def make_plan(
    s: Session,
    *,
    kind: releases.Kind = "deploy",
    target: str | None = None,
    allow_dirty: bool = False,
    health_timeout: int = deploy.HEALTH_TIMEOUT,
    build_on: str | None = None,
    bundle: pathlib.Path | None = None,
) -> deploy.Plan:
    """Read the state (the history, the web and database containers, the volumes; for
    another engine than the local one, the images both have) and make the plan from it:
    what `run` prints, and carries out. With `bundle`, `s` is for_bundle's session."""
    bundled = bundle_plan(bundle) if bundle is not None else None
    place = config.build_place(build_on, "--build-on") if build_on else s.env.build_on
    history = releases.history(s)
    found = roles.resolve(s.project.roles, s.config())
    cur = releases.current(history)
    rows = web_rows(s, found)
    up = [row for row in rows if row.get("State") == "running"]
    down = [row for row in rows if row.get("State") != "running"]  # stopped, crashed, restarting
    running, leftovers = keep_one(up, cur.version if cur else None)
    stopped = [] if running else sorted(api.name(row) for row in down)
    if running:  # a stopped one beside it would be started again by the scale-up, not a new one made
        leftovers = sorted([*leftovers, *(api.name(row) for row in down)])
    # What serves, whoever deployed it; else the release of the stopped web container.
    serving = image_tag(s, running[0]) if running else None
    previous = serving or (image_tag(s, keep_one(down, cur.version if cur else None)[0][0]) if down else None)
    if bundled is not None:
        release = bundled.release
    elif kind == "deploy":
        release = release_name(s)
    else:
        release = rollback_target(history, target, serving, s.env.name)
    return deploy.make(
        kind,
        s.env,
        release,
        previous,
        running,
        found,
        allow_dirty=allow_dirty,
        health_timeout=health_timeout,
        leftovers=leftovers,
        stopped=stopped,
        data=None if running else database_data(s, found),
        target=remote_target(s, kind, release, place, bundled=bundled is not None),
        networks=service_networks(s.config()),
        bundle=bundled,
    )


def swarm_plan(
    s: Session,
    kind: releases.Kind,
    target: str | None,
    allow_dirty: bool,
    health_timeout: int,
    build_on: str | None,
    bundle: pathlib.Path | None,
) -> deploy.Plan:
    """The plan on Swarm: the release named as here, the rest swarm/deploy.py's."""
    found = swarm_deploy.read(s, bundled=bundle is not None, build_on=build_on)
    if kind == "deploy":
        release = release_name(s)
    else:
        release = rollback_target(releases.history(s), target, found.serving, s.env.name)
    return swarm_deploy.make_plan(s, kind, release, found, allow_dirty=allow_dirty, health_timeout=health_timeout)


def for_bundle(s: Session, path: pathlib.Path, scratch: pathlib.Path) -> Session:
    """The session a deploy of the bundle runs with: its environment's one compose file
    the bundle's config (written into `scratch`), its env files this machine's (the
    secrets). A bundle of another environment, or one whose manifest or config is
    damaged, is refused here, before anything is read from the engine."""
    return s.for_env(bundle_load.environment(s.env, path, scratch))


def bundle_plan(path: pathlib.Path) -> deploy.Bundle:
    """The bundle as its plan shows it: its release and its images (from its manifest)."""
    manifest = archive.read_manifest(path)
    return deploy.Bundle(path, manifest.release, tuple(f"{i.ref} ({ship.short(i.id)})" for i in manifest.images))


def remote_target(
    s: Session, kind: releases.Kind, release: str, build_on: str, bundled: bool = False
) -> deploy.Target | None:
    """The target engine, when it is another one than the local engine; for a deploy that
    builds locally, the images of the release as both engines have them (what the ship
    would send). None: the target is the local engine."""
    if not s.remote:
        return None
    assert s.target is not None
    if kind != "deploy" or build_on == "host" or bundled:
        return deploy.Target(s.target, build_on)
    built = actions.release_images(s, release)
    pulled = [ref for ref in actions.pulled_images(s.config()) if ref not in built]
    return deploy.Target(s.target, build_on, ship.look(s.local_engine(), s.engine(), built, pulled))


def check(plan: deploy.Plan, x: Deploy) -> None:
    """A dry run: each step's read-only checks, in order; the first failure stops it."""
    for step in plan.steps:
        step.action.check(x)


def execute(plan: deploy.Plan, x: Deploy) -> None:
    """Run the plan's steps in order. When one fails, the undo of each step begun
    runs, newest first, and the deploy fails saying what serves. Then, the release
    serving, the finishing steps each run with signals held, and a failure among
    them, or a signal held, is reported once they all have."""
    numbered = plan.numbered()
    begun: list[tuple[int, deploy.Step]] = []
    with Interrupts() as interrupts:
        try:
            for number, step in numbered[: len(plan.steps)]:
                begun.append((number, step))
                _announce(x, number, len(numbered), step)
                x.deadline = step.deadline
                step.action.run(x)
            # The release serves: a signal from here on waits until it is retired, recorded, unlocked.
            interrupts.cleaning()
        except (Exception, KeyboardInterrupt) as exc:
            interrupts.cleaning()  # a second Ctrl-C (or SIGTERM) must not stop the undos halfway
            # Masked once, here: the reason goes to the release history and to the error line.
            x.reason = mask(_reason(exc, begun[-1][1] if begun else None), x.s.env)
            failed = [f for f in (_undo(x, number, step) for number, step in reversed(begun)) if f]
            # What the undos could not take back, said by the steps that finished (of no
            # matter when the new release serves after all: what it left is its own).
            left = [] if serves_new(x) else [step.left_behind for _, step in begun[:-1] if step.left_behind]
            raise StackyardError(
                f"{plan.kind} of {plan.release} failed: {x.reason}",
                "; ".join([x.stuck or plan.after_failure, *left, *failed]),
            ) from exc
        problems = []
        for number, step in numbered[len(plan.steps) :]:
            _announce(x, number, len(numbered), step)
            x.deadline = step.deadline
            try:
                step.action.run(x)
            except Exception as exc:  # the others must still run: the lock above all
                problems.append(f"{step.name}: {mask(_reason(exc, step), x.s.env)}")
    if problems or interrupts.held:
        raise _finished_but(plan, problems, interrupts.held)


def _finished_but(plan: deploy.Plan, problems: list[str], held: list[str]) -> StackyardError:
    """The release serves, but a finishing step failed, or a signal came during them
    (then the exit code is the shell's for that signal: 128 + its number)."""
    said = [f"{plan.release} serves {plan.env.name}" + (f", but {'; '.join(problems)}" if problems else "")]
    if held:
        said.append(f"{' and '.join(held)} came during the finishing steps: held until they were done")
    hints = [f"`inv ps --env {plan.env.name}` shows what runs; the next deploy removes a container left over"]
    if any(p.startswith("unlock:") for p in problems):
        hints.append(f"`inv deploy.unlock --env {plan.env.name} --yes` removes the lock")
    err = StackyardError("; ".join(said), "; ".join(hints))
    if held:
        err.exit_code = 128 + signal.Signals[held[0]].value
    return err


def _announce(x: Deploy, number: int, total: int, step: deploy.Step) -> None:
    x.s.print(f"==> {number}/{total} {step.name}: {step.what}")


def _undo(x: Deploy, number: int, step: deploy.Step) -> str:
    """Run the step's undo; what failed, in words ("" when all went well, or when the
    failure is already said as what serves)."""
    if step.undo:
        x.s.print(f"<== undo {number} {step.name}: {step.undo_what}")
    x.deadline = step.deadline
    failed = []
    for action in step.undo:
        said = x.stuck
        try:
            action.run(x)
        except Exception as exc:  # the other undos must still run
            why = mask(str(exc), x.s.env)
            x.s.print(f"undo of {step.name} failed: {why}")
            if x.stuck == said:
                failed.append(f"undo of {step.name} failed ({why})")
    return "; ".join(failed)


def _reason(exc: BaseException, step: deploy.Step | None) -> str:
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted" + (f" ({exc.args[0]})" if exc.args else "")  # the signal's name, when not Ctrl-C
    if isinstance(exc, CommandTimeout) and step is not None:
        return f"step {step.name} did not finish within its deadline of {step.deadline} s: {exc.message}"
    return str(exc) if isinstance(exc, StackyardError) else f"{exc.__class__.__name__}: {exc}"


def release_name(s: Session) -> str:
    """The name of the release the working tree makes: git HEAD and the time."""
    root = s.project.root
    head = s.read(gitcmds.head(root), check=False)
    dirty = s.read(gitcmds.changes(root), check=False).stdout.strip() != ""
    return releases.name(head.stdout.strip() if head.ok else "0000000", releases.now(), dirty)


def rollback_target(history: list[releases.Release], target: str | None, serving: str | None, env: str) -> str:
    """The release to roll back to: `target`, a good release of the history other than
    the one `serving`; by default the good one before the current one."""
    listed = f"`inv releases --env {env}` lists them"
    if not target:
        cur = releases.current(history)
        earlier = releases.last_good(history, before=cur.version) if cur else None
        if earlier is None:
            raise StackyardError(f"no earlier good release of {env} to roll back to", listed)
        return earlier.version
    found = [r for r in history if r.version == target]
    if not found:
        raise StackyardError(f"no release {target!r} in the release history of {env}", listed)
    if target == serving:
        raise StackyardError(f"release {target} already serves {env}", listed)
    if not releases.good(found):
        if found[-1].result == "failed-serving":
            raise StackyardError(
                f"release {target} never finished a {found[-1].kind} to {env} (it failed after the switch)", listed
            )
        raise StackyardError(f"release {target} never served {env} (its {found[-1].kind} failed)", listed)
    return target


def web_rows(s: Session, found: Roles) -> list[dict]:
    """The containers of the web service, running or not (none when no service has the web role)."""
    if found.web is None:
        return []
    return api.containers(s.engine(), s.env.project, found.web.service)


def database_data(s: Session, found: Roles) -> deploy.Data | None:
    """Whether the database role's service holds data: a named volume it mounts is on
    the engine (Compose's, by its labels; an external one, by its name), or a container
    of it exists (its data may be in an anonymous volume or a bind mount). None: no
    data, or no database role."""
    if found.database is None:
        return None
    service = found.database.service
    client = s.engine()
    rows = api.containers(client, s.env.project, service)
    running = any(row.get("State") == "running" for row in rows)
    config = s.config()
    declared = config.get("volumes") or {}
    mounts = ((config.get("services") or {}).get(service) or {}).get("volumes") or []
    sources = [m["source"] for m in mounts if m.get("type") == "volume" and m.get("source")]
    made = api.volumes(client, s.env.project) if sources else {}
    for source in sources:
        spec = declared.get(source) or {}
        if spec.get("external"):
            name = spec.get("name") or source
            if api.volume_exists(client, name):
                return deploy.Data(f"volume {name}", running)
        elif source in made:
            return deploy.Data(f"volume {made[source]}", running)
    return deploy.Data(f"container {api.name(rows[0])}", running) if rows else None


def keep_one(rows: list[dict], current: str | None) -> tuple[list[str], list[str]]:
    """([the web container kept], [the leftovers]) of the running ones: more than one
    means a deploy was killed midway. Kept: the one with the current release's image,
    else the newest healthy one."""
    if not rows:
        return [], []

    def rank(row: dict) -> tuple:
        tag = str(row.get("Image", "")).rsplit(":", 1)[-1]
        return (tag == current, "(healthy)" in str(row.get("Status", "")), row.get("Created", 0), api.name(row))

    kept = max(rows, key=rank)
    return [api.name(kept)], sorted(api.name(row) for row in rows if row is not kept)


def image_tag(s: Session, container: str) -> str:
    return api.image_of(s.engine(), container).rsplit(":", 1)[-1]


def show(s: Session) -> None:
    history = releases.history(s)
    if not history:
        s.print(f"no releases of {s.env.project} yet")
        return
    cur = releases.current(history)
    rows = [
        [
            ("* " if r is cur else "  ") + r.version,
            r.kind,
            r.result,
            r.time,
            r.who,
            r.backup or "-",
            r.reason[:60] or "-",
        ]
        for r in history
    ]
    s.print(table.render(["RELEASE", "KIND", "RESULT", "TIME", "WHO", "BACKUP", "REASON"], rows))


def unlock(s: Session, yes: bool) -> None:
    """Remove a stale deploy lock, once its holder is named and --yes given."""
    held = lock.held(s)
    if held is None:
        s.print(f"no deploy lock on {s.env.project}")
        return
    holder = lock.holder(held)
    if not yes:
        raise StackyardError(f"the lock is held by {holder}", "if that deploy is dead, run again with --yes")
    lock.release(s)
    s.print(f"[dry-run] the lock of {holder} would be removed" if s.dry else f"lock of {holder} removed")
