"""`inv hybrid`, the executor: walks the plan's steps in order and decides
nothing. Under `inv --dry` every step says what it would do, and no process
starts."""

from __future__ import annotations

import os
import shutil
import signal
from collections.abc import Callable, Sequence

from stackyard.core.command import Command
from stackyard.core.procs import Manager
from stackyard.engine import ports as host_ports
from stackyard.env import masking
from stackyard.env import ops as envops
from stackyard.errors import CommandError, Interrupted, StackyardError
from stackyard.hybrid.plan import (
    LOOPBACK,
    UP_TIMEOUT,
    CheckInstalled,
    CheckPort,
    FollowLogs,
    Plan,
    RunCompose,
    StartProcess,
    Step,
    Supervise,
    make_plan,
)
from stackyard.session import Session
from stackyard.stack.ops import prepare_env, startup_failure

Mask = Callable[[str], str]


def run(
    s: Session, host: Sequence[str] | None = None, *, logs: bool = False, down: bool = False, print_only: bool = False
) -> None:
    """Plan from the rendered compose config, print the plan, run it (or, with
    `print_only`, print each host process's variables instead)."""
    hybrid = s.project.hybrid
    if hybrid is None or not hybrid.processes:
        raise StackyardError(
            "no host processes configured",
            "add [tool.stackyard.hybrid.processes.<name>] command = [...] to pyproject.toml",
        )
    prepare_env(s)  # as `inv up`: local secrets made on first use, env.check for a protected env
    services = s.config().get("services", {})
    lookup = {k: v.value for k, v in envops.settings(s).items() if v.value is not None}
    lookup.update(os.environ)
    last = s.env.files[-1] if s.env.files else None
    hint = str(last.relative_to(s.project.root)) if last and last.is_relative_to(s.project.root) else str(last or "")
    plan = make_plan(
        s.env, services, hybrid, list(host or hybrid.default), lookup, logs=logs, down=down, compose_file_hint=hint
    )

    def mask(text: str) -> str:
        return masking.mask(text, s.env)

    if print_only:
        print_env(s, plan, mask)
        return
    s.print(plan.text(mask))
    execute(s, plan, mask)


def execute(s: Session, plan: Plan, mask: Mask, procs: Manager | None = None) -> None:
    """Walk the plan's steps in order. Ends by raising: Interrupted (Ctrl-C, exit
    130) or StackyardError naming the process that exited; under `inv --dry`,
    returns. `procs` runs the host processes (a fake one in tests)."""
    procs = procs or Manager(out=s.out)
    # An IDE's stop button sends SIGTERM: treat it as Ctrl-C, so nothing is orphaned.
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        for step in plan.steps:
            perform(s, step, procs, mask)
    finally:
        procs.stop()  # a step that failed midway leaves no host process behind
        signal.signal(signal.SIGTERM, previous)


def perform(s: Session, step: Step, procs: Manager, mask: Mask) -> None:
    """Do one step; under `inv --dry`, print what it would do."""
    match step:
        case RunCompose(command=cmd):
            try:
                s.stream(cmd)  # printed, not run, under --dry
            except CommandError as err:  # no known cause (those come out explained): find the failed service
                raise startup_failure(s, err, UP_TIMEOUT) from err
        case Supervise(down=down) if s.dry:
            s.print(f"[dry-run] would {mask(step.what)}")
            if down:
                s.stream(down)
        case _ if s.dry:
            s.print(f"[dry-run] would {mask(step.what)}")
        case CheckInstalled(programs=programs, hint=hint):
            missing = [name for name in programs if shutil.which(name) is None]
            if missing:
                raise StackyardError(f"{', '.join(missing)} not found on the host", hint)
        case CheckPort(process=name, port=port):
            if not host_ports.is_free(port, LOOPBACK):
                who = host_ports.holder(port)
                raise StackyardError(
                    f"host port {port} for {name} is already taken" + (f" by {who}" if who else ""),
                    "stop what holds it, or set another port (see `inv env.explain API_PORT`)",
                )
        case StartProcess(process=p):
            procs.start(p.name, p.command, shown=mask(str(Command(p.argv))))
        case FollowLogs(command=cmd):
            procs.start("containers", cmd)
        case Supervise(down=down):
            supervise(s, procs, down)


def supervise(s: Session, procs: Manager, down: Command | None) -> None:
    """Wait for Ctrl-C or the first host process to exit, stop them all, run
    `down` if given; then raise what ended the run."""
    try:
        name, code = procs.wait()  # it stops every host process before it returns
    finally:
        if down:
            s.stream(down, check=False)
    containers = "were removed" if down else "keep running"
    if name == "interrupt":
        how = "(volumes kept)" if down else "(`inv down` stops them)"
        s.print(f"every host process stopped; the containers {containers} {how}")
        raise Interrupted()
    err = StackyardError(
        f"{name} exited with code {code}; every host process was stopped",
        f"its output is above; the containers {containers}",
    )
    err.exit_code = code if 0 < code < 256 else 1
    raise err


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt


def print_env(s: Session, plan: Plan, mask: Mask) -> None:
    """The variables each host process gets (secrets masked), for an IDE's run configuration."""
    rewritten = {(r.process, r.key): r for r in plan.rewrites}
    for p in plan.processes:
        s.print(f"# {p.name} (cwd {p.cwd}): {mask(str(Command(p.argv)))}")
        for key in sorted(p.env):
            r = rewritten.get((p.name, key))
            note = f"    # was {mask(r.before)}" if r else ""
            s.print(f"{key}={mask(p.env[key])}{note}")
        s.print()
