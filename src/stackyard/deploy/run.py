"""`inv prod-deploy`, `inv rollback`, `inv releases`, `inv deploy.unlock`.

A deploy reads the state, makes the plan (deploy/plan.py), prints it, and
runs its steps in order: the executor decides nothing. When a step fails, the
undo of each step begun runs, newest first (traffic back on the old release,
the new container removed, the release recorded as failed, the lock removed).
A dry run (`--dry-run` or `inv --dry`) makes each step's read-only checks
instead, then prints the plan: it fails where the real run would, and changes
nothing, on the engine or here."""

from __future__ import annotations

import time
from collections.abc import Callable

from stackyard.commands import git as gitcmds
from stackyard.config import Roles
from stackyard.core import table
from stackyard.deploy import lock, releases
from stackyard.deploy import plan as deploy
from stackyard.deploy.actions import Deploy
from stackyard.engine import api, roles
from stackyard.env.masking import mask
from stackyard.errors import StackyardError
from stackyard.session import Session


def run(
    s: Session,
    *,
    kind: releases.Kind = "deploy",
    target: str | None = None,
    allow_dirty: bool = False,
    dry_run: bool = False,
    health_timeout: int = deploy.HEALTH_TIMEOUT,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Plan a deploy of the working tree (or a rollback to `target`, default the
    previous good release) and print it; carry it out, or, for a dry run, only
    make its read-only checks (first: they may stop it, as they would stop the real run)."""
    path = releases.history_file(s.project.root, s.env.project)
    history = releases.history(path)
    found = roles.resolve(s.project.roles, s.config())
    running = serving(s, found)
    previous = image_tag(s, running[0]) if running else None  # what serves, whoever deployed it
    release = release_name(s) if kind == "deploy" else rollback_target(history, target, previous, s.env.name)
    plan = deploy.make(
        kind, s.env, release, previous, running, found, allow_dirty=allow_dirty, health_timeout=health_timeout
    )
    x = Deploy(s, path, clock, sleep)
    if dry_run or s.dry:
        check(plan, x)
        s.print(plan.text())
        return
    s.print(plan.text())
    started = clock()
    execute(plan, x)
    s.print(f"{kind}: {release} serves {s.env.name} ({clock() - started:.1f} s)")
    if plan.note:
        s.print(plan.note)


def check(plan: deploy.Plan, x: Deploy) -> None:
    """A dry run: each step's read-only checks, in order; the first failure stops it."""
    for step in plan.steps:
        step.action.check(x)


def execute(plan: deploy.Plan, x: Deploy) -> None:
    """Run the plan's steps in order. When one fails, the undo of each step begun
    runs, newest first, and the deploy fails; the finishing steps each run, and a
    failure among them is reported once they all have."""
    numbered = plan.numbered()
    begun: list[tuple[int, deploy.Step]] = []
    try:
        for number, step in numbered[: len(plan.steps)]:
            begun.append((number, step))
            _announce(x, number, len(numbered), step)
            step.action.run(x)
    except (Exception, KeyboardInterrupt) as exc:
        # Masked once, here: the reason goes to the release history and to the error line.
        x.reason = mask(_reason(exc), x.s.env)
        for number, step in reversed(begun):
            _undo(x, number, step)
        raise StackyardError(f"{plan.kind} of {plan.release} failed: {x.reason}", plan.after_failure) from exc
    problems = []
    for number, step in numbered[len(plan.steps) :]:
        _announce(x, number, len(numbered), step)
        try:
            step.action.run(x)
        except StackyardError as exc:
            problems.append(f"{step.name}: {exc}")
    if problems:
        raise StackyardError(
            f"{plan.release} serves {plan.env.name}, but {'; '.join(problems)}",
            f"`inv ps --env {plan.env.name}` shows what runs",
        )


def _announce(x: Deploy, number: int, total: int, step: deploy.Step) -> None:
    x.s.print(f"==> {number}/{total} {step.name}: {step.what}")


def _undo(x: Deploy, number: int, step: deploy.Step) -> None:
    if step.undo:
        x.s.print(f"<== undo {number} {step.name}: {step.undo_what}")
    for action in step.undo:
        try:
            action.run(x)
        except Exception as exc:  # the other undos must still run
            x.s.print(f"undo of {step.name} failed: {exc}")


def _reason(exc: BaseException) -> str:
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted"
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
        raise StackyardError(f"release {target} never served {env} (its {found[-1].kind} failed)", listed)
    return target


def serving(s: Session, found: Roles) -> list[str]:
    """The running containers of the web service (none when no service has the web role)."""
    if found.web is None:
        return []
    rows = api.containers(s.engine(), s.env.project, found.web.service, running=True)
    return sorted(api.name(row) for row in rows)


def image_tag(s: Session, container: str) -> str:
    return api.image_of(s.engine(), container).rsplit(":", 1)[-1]


def show(s: Session) -> None:
    history = releases.history(releases.history_file(s.project.root, s.env.project))
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
