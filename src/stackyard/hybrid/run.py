"""`inv hybrid`, the executor: runs the plan's steps in order and decides nothing."""

from __future__ import annotations

import os
from collections.abc import Sequence

from stackyard.core.command import Command
from stackyard.errors import StackyardError
from stackyard.hybrid.plan import LOOPBACK, Plan, install_hint, make_plan, missing_commands, steps_commands


def execute(s, plan: Plan, mask=lambda text: text) -> None:
    """Run the plan's steps in order. Ends by raising: Interrupted (Ctrl-C, exit
    130) or StackyardError naming the process that exited."""
    import signal

    from stackyard.core.procs import Manager
    from stackyard.engine import ports as host_ports
    from stackyard.errors import CommandError, Interrupted
    from stackyard.stack.ops import startup_failure

    cmds = steps_commands(s.env, plan)
    missing = missing_commands(plan, path=os.environ.get("PATH"))
    if missing and not s.runner.dry:
        raise StackyardError(f"{', '.join(sorted(set(missing)))} not found on the host", install_hint(plan))
    for cmd in cmds["stop"] + cmds["up"] + cmds["before"]:
        try:
            s.runner.run(cmd, mode="stream")
        except CommandError as err:
            raise startup_failure(s, err, timeout=180) from err
    for p in plan.processes:
        if p.port and not s.runner.dry and not host_ports.is_free(p.port, LOOPBACK):
            who = host_ports.holder(p.port)
            raise StackyardError(
                f"host port {p.port} for {p.name} is already taken" + (f" by {who}" if who else ""),
                "stop what holds it, or set another port (see `inv env.explain API_PORT`)",
            )
    if s.runner.dry:
        for p in plan.processes:
            s.print(f"[dry-run] would start {p.name} in {p.cwd}: {mask(str(Command(p.argv)))}")
        return
    mgr = Manager(out=s.out)
    for p in plan.processes:
        mgr.add(p.name, Command(p.argv, env=p.env, cwd=p.cwd), shown=mask(str(Command(p.argv))))
    for cmd in cmds["logs"]:
        mgr.add("containers", cmd)
    # An IDE's stop button sends SIGTERM: treat it as Ctrl-C, so nothing is orphaned.
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        mgr.start()
        name, code = mgr.wait()
    finally:
        mgr.stop()
        signal.signal(signal.SIGTERM, previous)
        for cmd in cmds["down"]:
            s.runner.run(cmd, mode="stream", check=False)
    if name == "interrupt":
        s.print(
            "every host process stopped"
            + (
                "; containers removed (volumes kept)"
                if plan.down
                else "; the containers keep running (`inv down` stops them)"
            )
        )
        raise Interrupted()
    err = StackyardError(
        f"{name} exited with code {code}; every host process was stopped",
        f"its output is above; the containers {'were removed' if plan.down else 'keep running'}",
    )
    err.exit_code = code if 0 < code < 256 else 1
    raise err


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt


def print_env(s, plan: Plan, mask) -> None:
    """The variables each host process gets (secrets masked), for an IDE's run configuration."""
    rewritten = {(r.process, r.key): r for r in plan.rewrites}
    for p in plan.processes:
        s.print(f"# {p.name} (cwd {p.cwd}): {mask(str(Command(p.argv)))}")
        for key in sorted(p.env):
            r = rewritten.get((p.name, key))
            note = f"    # was {mask(r.before)}" if r else ""
            s.print(f"{key}={mask(p.env[key])}{note}")
        s.print()


def run(
    s, host: Sequence[str] | None = None, *, logs: bool = False, down: bool = False, print_only: bool = False
) -> None:
    from stackyard.env import masking
    from stackyard.env import ops as envops

    hybrid = s.project.hybrid
    if hybrid is None or not hybrid.processes:
        raise StackyardError(
            "no host processes configured",
            "add [tool.stackyard.hybrid.processes.<name>] command = [...] to pyproject.toml",
        )
    from stackyard.stack.ops import prepare_env

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
