"""`inv prod-deploy`, `inv rollback`, `inv releases`, `inv deploy.unlock`.

A deploy reads the state, makes the plan (deploy/plan.py), prints it, and
runs its steps in order: the executor decides nothing. When a step fails, the
undo of each step begun runs, newest first (traffic back on the old release,
the new container removed, the release recorded as failed, the lock removed).
SIGTERM and SIGHUP (a CI job cancelled, a closed terminal) stop it as Ctrl-C
does, and a signal during the undos is held until they are done. Each step's
commands have its deadline as their timeout: a hung one fails the step. A
dry run (`--dry-run` or `inv --dry`) makes each step's read-only checks
instead, then prints the plan: it fails where the real run would, and changes
nothing, on the engine or here."""

from __future__ import annotations

import time
from collections.abc import Callable

from stackyard.commands import git as gitcmds
from stackyard.config import Roles
from stackyard.core import table
from stackyard.core.runner import Interrupts
from stackyard.deploy import lock, releases
from stackyard.deploy import plan as deploy
from stackyard.deploy.actions import Deploy
from stackyard.engine import api, roles
from stackyard.env.masking import mask
from stackyard.errors import CommandTimeout, StackyardError
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
    cur = releases.current(history)
    running, leftovers = keep_one(serving_rows(s, found), cur.version if cur else None)
    previous = image_tag(s, running[0]) if running else None  # what serves, whoever deployed it
    release = release_name(s) if kind == "deploy" else rollback_target(history, target, previous, s.env.name)
    plan = deploy.make(
        kind,
        s.env,
        release,
        previous,
        running,
        found,
        allow_dirty=allow_dirty,
        health_timeout=health_timeout,
        leftovers=leftovers,
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
    with Interrupts() as interrupts:
        try:
            for number, step in numbered[: len(plan.steps)]:
                begun.append((number, step))
                _announce(x, number, len(numbered), step)
                x.deadline = step.deadline
                step.action.run(x)
        except (Exception, KeyboardInterrupt) as exc:
            interrupts.cleaning()  # a second Ctrl-C (or SIGTERM) must not stop the undos halfway
            # Masked once, here: the reason goes to the release history and to the error line.
            x.reason = mask(_reason(exc, begun[-1][1] if begun else None), x.s.env)
            for number, step in reversed(begun):
                _undo(x, number, step)
            # What the undos could not take back, said by the steps that finished.
            left = [step.left_behind for _, step in begun[:-1] if step.left_behind]
            raise StackyardError(
                f"{plan.kind} of {plan.release} failed: {x.reason}", "; ".join([plan.after_failure, *left])
            ) from exc
        problems = []
        for number, step in numbered[len(plan.steps) :]:
            _announce(x, number, len(numbered), step)
            x.deadline = step.deadline
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
    x.deadline = step.deadline
    for action in step.undo:
        try:
            action.run(x)
        except Exception as exc:  # the other undos must still run
            x.s.print(f"undo of {step.name} failed: {exc}")


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
        raise StackyardError(f"release {target} never served {env} (its {found[-1].kind} failed)", listed)
    return target


def serving_rows(s: Session, found: Roles) -> list[dict]:
    """The running containers of the web service (none when no service has the web role)."""
    if found.web is None:
        return []
    return api.containers(s.engine(), s.env.project, found.web.service, running=True)


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
