"""`inv prod-deploy`, `inv rollback`, `inv releases`, `inv deploy.unlock`.

A deploy reads the state, makes the plan (deploy/plan.py), prints it, and
runs its steps in order: the executor decides nothing. When a step fails, the
undo of each step begun runs, newest first (traffic back on the old release,
the new container removed, the release recorded as failed, the lock removed)."""

from __future__ import annotations

import time
from collections.abc import Callable

from stackyard.commands import git as gitcmds
from stackyard.core import table
from stackyard.deploy import lock, releases
from stackyard.deploy import plan as deploy
from stackyard.deploy.actions import Deploy
from stackyard.engine import api
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
    previous good release), print the plan, and, unless a dry run, carry it out."""
    path = releases.history_file(s.project.root, s.env.project)
    history = releases.history(path)
    release = release_name(s) if kind == "deploy" else rollback_target(history, target)
    dry = dry_run or s.dry
    running = serving(s, lenient=dry)
    cur = releases.current(history)
    previous = cur.version if cur else (image_tag(s, running[0]) if running else None)
    plan = deploy.make(kind, s.env, release, previous, running, allow_dirty=allow_dirty, health_timeout=health_timeout)
    s.print(plan.text())
    if dry:
        return
    started = clock()
    execute(plan, Deploy(s, path, clock, sleep))
    s.print(f"{kind}: {release} serves {s.env.name} ({clock() - started:.1f} s)")
    if plan.note:
        s.print(plan.note)


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
        x.reason = _reason(exc)
        for number, step in reversed(begun):
            _undo(x, number, step)
        raise StackyardError(
            f"{plan.kind} of {plan.release} failed: {x.reason}", f"{plan.previous or 'nothing'} still serves"
        ) from exc
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


def rollback_target(history: list[releases.Release], target: str | None) -> str:
    cur = releases.current(history)
    earlier = releases.last_good(history, before=cur.version) if cur else None
    chosen = target or (earlier.version if earlier else None)
    if not chosen:
        raise StackyardError("no earlier good release to roll back to", "`inv releases` lists them")
    return chosen


def serving(s: Session, *, lenient: bool) -> list[str]:
    """The running api containers; `lenient` (a dry run): none when the engine cannot say."""
    try:
        rows = api.containers(s.engine(), s.env.project, deploy.API, running=True)
    except StackyardError as exc:
        if not lenient:
            raise
        s.print(f"(the state of {s.env.project} cannot be read: {exc}; planned as if nothing ran)")
        return []
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
    if s.dry:
        s.print(f"[dry-run] the lock of {holder} would be removed")
        return
    lock.release(s)
    s.print(f"lock of {holder} removed")
