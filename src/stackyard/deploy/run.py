"""`inv prod-deploy`, `inv rollback`, `inv releases`, `inv deploy.unlock`:
the executor of deploy.py's plan. It runs the steps in order; on a failure
after the backup it puts traffic back on the old release and removes what it
started."""

from __future__ import annotations

import time

from stackyard.commands import compose, lock
from stackyard.commands import docker as dockercmds
from stackyard.commands import git as gitcmds
from stackyard.core import table
from stackyard.core.command import Command
from stackyard.deploy import plan as deploy
from stackyard.deploy import releases
from stackyard.errors import StackyardError
from stackyard.session import Session
from stackyard.stack import db

CADDY_RELOAD = ("caddy", "reload", "--config", "/etc/caddy/Caddyfile", "--adapter", "caddyfile")
LOG_LINES = 30


class Deployer:
    def __init__(self, s: Session, release: str, clock=time.monotonic, sleep=time.sleep):
        self.s = s
        self.release = release
        self.extra = {"APP_TAG": release, "APP_VERSION": release}
        self.clock, self.sleep = clock, sleep  # given, so that the health wait is testable without waiting

    # -- commands
    def compose(self, cmd: Command, mode: str = "stream", check: bool = True, tag: str | None = None):
        env = dict(cmd.env, **self.extra)
        if tag is not None:
            env.update(APP_TAG=tag, APP_VERSION=tag)
        return self.s.runner.run(Command(cmd.argv, env, cmd.cwd), mode=mode, check=check)

    def docker(self, cmd: Command, check: bool = True, quiet: bool = False):
        return self.s.runner.run(cmd, check=check, quiet=quiet)

    # -- state
    def api_containers(self) -> dict[str, str]:
        """id -> name of the running api containers."""
        res = self.s.read(Command((*compose.base(self.s.env), "ps", "--format", "{{.ID}} {{.Name}}", "api")))
        return dict(line.split() for line in res.stdout.splitlines() if line.strip())

    def image_tag(self, container: str) -> str:
        res = self.docker(dockercmds.image_of(container), quiet=True)
        return res.stdout.strip().rsplit(":", 1)[-1]

    def wait_healthy(self, container: str, timeout: int) -> None:
        deadline = self.clock() + timeout
        status = "?"
        while self.clock() < deadline:
            res = self.docker(dockercmds.state_of(container), check=False, quiet=True)
            status = res.stdout.strip()
            if status.endswith("healthy") and not status.endswith("unhealthy"):
                return
            if status.startswith(("exited", "dead")) or status.endswith("unhealthy"):
                break
            self.sleep(0.5)
        raise StackyardError(
            f"the new api container is not healthy ({status or 'gone'})", f"its last {LOG_LINES} log lines are above"
        )

    def logs(self, container: str) -> None:
        res = self.docker(dockercmds.logs(container, LOG_LINES), check=False, quiet=True)
        self.s.print(f"--- new api container: last {LOG_LINES} log lines ---")
        self.s.print((res.stdout + res.stderr).rstrip())

    def switch(self, container_name: str) -> None:
        env = self.s.env
        argv = (*compose.base(env), "exec", "--no-TTY", "-e", f"UPSTREAM={container_name}:8000", "caddy", *CADDY_RELOAD)
        self.compose(Command(argv), mode="capture")


def preflight(s: Session, allow_dirty: bool) -> None:
    from stackyard.env import ops as envops
    from stackyard.lint import run as lint_run

    envops.check(s, quiet_ok=True)
    stand_ins = lint_run.placeholder_secrets(s.project)
    found = lint_run.security_findings(s.env, s.runner, stand_ins, lambda p: str(p))
    if found:
        for f in found:
            s.print(str(f))
        raise StackyardError(f"{len(found)} security finding(s) in the {s.env.name} config", "fix them (nox -s lint)")
    res = s.runner.run(gitcmds.changes(s.project.root), check=False, quiet=True, readonly=True)
    if res.ok and res.stdout.strip() and not allow_dirty:
        raise StackyardError("the git tree has uncommitted changes", "commit them, or deploy with --allow-dirty")
    s.read(dockercmds.server_version())


def release_name(s: Session) -> str:
    root = s.project.root
    res = s.runner.run(gitcmds.head(root), check=False, quiet=True, readonly=True)
    sha = res.stdout.strip() if res.ok else "0000000"
    dirty = s.runner.run(gitcmds.changes(root), check=False, quiet=True, readonly=True).stdout.strip() != ""
    return releases.name(sha, releases.now(), dirty)


def take_lock(s: Session, d: Deployer, release: str) -> None:
    image = (s.config().get("services", {}).get("db") or {}).get("image") or "busybox"
    when = releases.now().isoformat(timespec="seconds")
    res = d.docker(lock.take(s.env.project, image, releases.who(), when, release), check=False, quiet=True)
    if not res.ok:
        if "Conflict" in res.stderr or "already in use" in res.stderr:
            held = d.docker(lock.inspect(s.env.project), check=False, quiet=True).stdout
            raise StackyardError(
                f"another deploy holds the lock: {lock.holder(held)}",
                "wait for it; `inv deploy.unlock` clears a stale lock",
            )
        raise StackyardError(f"could not take the deploy lock: {(res.stderr.strip().splitlines() or ['?'])[-1]}")


def run(
    s: Session,
    *,
    kind: str = "deploy",
    target: str | None = None,
    allow_dirty: bool = False,
    dry_run: bool = False,
    health_timeout: int = deploy.HEALTH_TIMEOUT,
) -> None:
    path = releases.history_file(s.project.root, s.env.project)
    history = releases.history(path)
    cur = releases.current(history)
    if kind == "deploy":
        release = release_name(s)
    else:
        earlier = releases.last_good(history, before=cur.version) if cur else None
        chosen = target or (earlier.version if earlier else None)
        if not chosen:
            raise StackyardError("no earlier good release to roll back to", "`inv releases` lists them")
        release = chosen
    d = Deployer(s, release)
    if kind == "deploy" and not dry_run:
        preflight(s, allow_dirty)  # before anything else: its messages are the clearest
    try:
        running = d.api_containers()
    except StackyardError as exc:
        if not dry_run:
            raise
        running = {}
        s.print(f"(the state of {s.env.project} cannot be read: {exc}; planned as if nothing ran)")
    previous = cur.version if cur else (d.image_tag(next(iter(running))) if running else None)
    plan = deploy.make(
        kind,
        s.env.name,
        s.env.project,
        release,
        previous,
        first=not running,
        allow_dirty=allow_dirty,
        health_timeout=health_timeout,
    )
    s.print(plan.text())
    if dry_run:
        return
    if kind == "rollback":
        d.docker(dockercmds.image_exists(_image(s, release)), quiet=True)  # no rebuild: it must be there
    take_lock(s, d, release)
    started = time.monotonic()
    backup_file = ""
    try:
        if kind == "deploy":
            d.compose(compose.build(s.env))
            if running:
                backup_file = str(db.backup(s, release).relative_to(s.project.root))
            if running:
                d.compose(compose.run_once(s.env, "migrate"))
        if not running:
            d.compose(compose.up(s.env, build=False, timeout=health_timeout))
        else:
            switch_over(s, d, running, previous or "", health_timeout)
        if kind == "deploy":
            prune_images(s, d, history + [releases.Release(release, "", "", "ok")])
    except (StackyardError, KeyboardInterrupt) as exc:
        reason = str(exc) if isinstance(exc, StackyardError) else "interrupted"
        releases.record(
            path,
            releases.Release(
                release,
                releases.now().isoformat(timespec="seconds"),
                releases.who(),
                "failed",
                reason,
                backup_file,
                kind,
            ),
        )
        raise StackyardError(
            f"{kind} of {release} failed: {reason}",
            f"{previous or 'nothing'} still serves; recorded as failed in `inv releases`",
        ) from None
    finally:
        d.docker(lock.release(s.env.project), check=False, quiet=True)
    releases.record(
        path,
        releases.Release(
            release, releases.now().isoformat(timespec="seconds"), releases.who(), "ok", "", backup_file, kind
        ),
    )
    s.print(f"{kind}: {release} serves {s.env.name} ({time.monotonic() - started:.1f} s)")
    if kind == "rollback":
        s.print(
            "the database was not touched; to undo a migration, restore the backup taken before it: "
            f"inv db.restore backups/{s.env.project}/<release>.dump --env {s.env.name} --confirm-data-loss"
        )


def switch_over(s: Session, d: Deployer, running: dict[str, str], previous: str, timeout: int) -> None:
    old_id, old_name = next(iter(running.items()))
    d.compose(
        Command(
            (
                *compose.base(s.env),
                "up",
                "--detach",
                "--no-deps",
                "--no-recreate",
                "--scale",
                f"api={len(running) + 1}",
                "api",
            )
        )
    )
    new = {k: v for k, v in d.api_containers().items() if k not in running}
    if not new:
        raise StackyardError("the new api container did not start")
    new_id, new_name = next(iter(new.items()))
    switched = workers = False
    try:
        try:
            d.wait_healthy(new_id, timeout)
        except StackyardError:
            d.logs(new_id)
            raise
        d.switch(new_name)
        switched = True
        workers = True
        d.compose(compose.up(s.env, ["worker", "listener"], build=False, timeout=timeout, no_deps=True))
    except (StackyardError, KeyboardInterrupt):
        if switched:
            d.switch(old_name)
        d.docker(dockercmds.remove(new_id, force=True), check=False, quiet=True)
        if workers:
            d.compose(
                compose.up(s.env, ["worker", "listener"], build=False, timeout=timeout, no_deps=True),
                check=False,
                tag=previous,
            )
        raise
    d.docker(dockercmds.stop(old_id, grace=30), quiet=True)
    d.docker(dockercmds.remove(old_id), quiet=True)


def _image(s: Session, release: str) -> str:
    return f"{_repository(s)}:{release}"


def _repository(s: Session) -> str:
    image = (s.config().get("services", {}).get("api") or {}).get("image") or "stackyard-app:latest"
    return image.rsplit(":", 1)[0]


def prune_images(s: Session, d: Deployer, history: list[releases.Release]) -> None:
    keep = {r.version for r in [r for r in history if r.result == "ok"][-releases.KEEP_IMAGES :]}
    repo = _repository(s)
    res = d.docker(dockercmds.image_tags(repo), check=False, quiet=True)
    for tag in res.stdout.split():
        if releases.is_release(tag) and tag not in keep:
            d.docker(dockercmds.remove_image(f"{repo}:{tag}"), check=False, quiet=True)


def show(s: Session) -> None:
    history = releases.history(releases.history_file(s.project.root, s.env.project))
    if not history:
        s.print(f"no releases of {s.env.project} yet")
        return
    cur = releases.current(history)
    rows = [
        [
            ("* " if cur and r.version == cur.version and r is cur else "  ") + r.version,
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
    d = Deployer(s, "")
    res = d.docker(lock.inspect(s.env.project), check=False, quiet=True)
    if not res.ok:
        s.print(f"no deploy lock on {s.env.project}")
        return
    holder = lock.holder(res.stdout)
    if not yes:
        raise StackyardError(f"the lock is held by {holder}", "if that deploy is dead, run again with --yes")
    d.docker(lock.release(s.env.project), quiet=True)
    s.print(f"lock of {holder} removed")
