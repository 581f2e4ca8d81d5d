"""`inv hybrid`, the executor: walks the plan's steps in order and decides
nothing. Under `inv --dry` every step says what it would do, no process
starts and no file is written."""

from __future__ import annotations

import os
import pathlib
import shutil
import signal
from collections.abc import Callable, Sequence

from stackyard.core.command import Command
from stackyard.core.procs import Manager
from stackyard.engine import ports as host_ports
from stackyard.env import file as envfile
from stackyard.env import generate as envgenerate
from stackyard.env import masking
from stackyard.env import ops as envops
from stackyard.errors import CommandError, Interrupted, StackyardError
from stackyard.hybrid.plan import (
    IDE_DIR,
    LOOPBACK,
    UP_TIMEOUT,
    CheckInstalled,
    CheckPort,
    FollowLogs,
    HandToIde,
    Plan,
    Planned,
    Rewrite,
    RunCompose,
    SecretFile,
    StartProcess,
    Step,
    Supervise,
    WriteSecrets,
    ide_env_file,
    make_plan,
)
from stackyard.session import Session
from stackyard.stack.ops import prepare_env, startup_failure

Mask = Callable[[str], str]


def run(
    s: Session,
    host: Sequence[str] | None = None,
    *,
    ide: Sequence[str] = (),
    logs: bool = False,
    down: bool = False,
    print_only: bool = False,
) -> None:
    """Plan from the rendered compose config, print the plan, run it (or, with
    `print_only`, print the variables of every process that leaves its
    container instead). Without `host`, the configured default processes run
    on the host, less those given to `ide`."""
    hybrid = s.project.hybrid
    if hybrid is None or not hybrid.processes:
        raise StackyardError(
            "no host processes configured",
            "add [tool.stackyard.hybrid.processes.<name>] command = [...] to pyproject.toml",
        )
    # As `inv up`: local secrets made on first use (announced, not written, under --dry),
    # env.check for a protected env. The commands name the env as prepare_env returns it.
    env = prepare_env(s)
    services = s.config().get("services", {})
    lookup = {k: v.value for k, v in envops.settings(s).items() if v.value is not None}
    lookup.update(os.environ)
    secrets = s.config().get("secrets", {})
    if s.dry:  # no secret file is written: one that no layer sets yet (a fresh clone's) needs no value
        lookup = {**{v["environment"]: "" for v in secrets.values() if v.get("environment")}, **lookup}
    last = s.env.files[-1] if s.env.files else None
    hint = str(last.relative_to(s.project.root)) if last and last.is_relative_to(s.project.root) else str(last or "")
    host = list(host) if host is not None else [name for name in hybrid.default if name not in ide]
    plan = make_plan(
        env,
        services,
        hybrid,
        host,
        lookup,
        ide=list(ide),
        ide_dir=s.project.root / IDE_DIR,
        logs=logs,
        down=down,
        compose_file_hint=hint,
        secrets=secrets,
    )

    # The rendered config's own secrets too: under --dry, they are throwaway values no file holds.
    rendered = masking.rendered_secrets(services)
    schema_secrets = envops.secret_names(s)

    def mask(text: str) -> str:
        return masking.mask(text, s.env, extra=rendered, names=schema_secrets)

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
    # An IDE's stop button sends SIGTERM, a closed terminal SIGHUP: treat them as
    # Ctrl-C, so nothing is orphaned and the secret files are removed.
    previous = {sig: signal.signal(sig, _raise_interrupt) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        for step in plan.steps:
            perform(s, step, procs, mask)
    finally:
        procs.stop()  # a step that failed midway leaves no host process behind
        if plan.secrets and not s.dry:
            shutil.rmtree(plan.secrets.directory, ignore_errors=True)
        for sig, handler in previous.items():
            signal.signal(sig, handler)


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
        case CheckPort(process=name, port=port, variable=variable):
            if not host_ports.is_free(port, LOOPBACK):
                who = host_ports.holder(port)
                other = (
                    f"set {variable} to a free port (`inv env.explain {variable}` shows where it is set)"
                    if variable
                    else f"change `port` in [tool.stackyard.hybrid.processes.{name}]"
                )
                raise StackyardError(
                    f"host port {port} for {name} is already taken" + (f" by {who}" if who else ""),
                    f"stop what holds it, or {other}",
                )
        case WriteSecrets(directory=directory, files=files):
            write_secrets(directory, files)
        case HandToIde(process=p, env_file=path, rewrites=rewrites, secret_files=files):
            envgenerate.write(path, env_file_text(p), force=True)  # rewritten each run: ports and secrets may change
            real = f"the real values are in {_shown(s, path)} (mode 600): give it to your IDE's run configuration"
            s.print(describe(s, p, rewrites, mask, "in your IDE", real, files))
        case StartProcess(process=p):
            procs.start(p.name, p.command, shown=mask(str(Command(p.argv))))
        case FollowLogs(command=cmd):
            procs.start("containers", cmd)
        case Supervise(down=down):
            supervise(s, procs, down)


def write_secrets(directory: pathlib.Path, files: Sequence[SecretFile]) -> None:
    """Each secret to its file, mode 600, in `directory`, mode 700 (made so
    whatever the umask; a file left by a killed run is replaced)."""
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o700)
    for f in files:
        data = f.value.encode() if f.value is not None else _read_source(f)
        fd = os.open(f.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as out:
            os.fchmod(out.fileno(), 0o600)
            out.write(data)


def _read_source(f: SecretFile) -> bytes:
    try:
        return f.source.read_bytes()
    except OSError as exc:
        raise StackyardError(
            f"cannot read {f.source}, the file of secret {f.name} ({exc.strerror})",
            f"create it, or give secrets.{f.name} another source in the compose file",
        ) from None


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
    """The variables of every process that leaves its container (on the host or
    in your IDE), secrets masked, for an IDE's run configuration."""
    for where, processes in (("on the host", plan.processes), ("in your IDE", plan.ide)):
        for p in processes:
            file = _shown(s, ide_env_file(s.project.root / IDE_DIR, plan.env_name, p.name))
            secrets = f"`inv hybrid --ide {p.name}` writes the real values to {file} (mode 600)"
            files = plan.secrets.directory if plan.secrets and p.name in plan.secrets.readers else None
            s.print(describe(s, p, [r for r in plan.rewrites if r.process == p.name], mask, where, secrets, files))


def describe(
    s: Session,
    p: Planned,
    rewrites: Sequence[Rewrite],
    mask: Mask,
    where: str,
    secrets: str,
    files: pathlib.Path | None = None,
) -> str:
    """A process's command, working directory and variables (masked), as printed
    for an IDE; `secrets` says where the real values are, `files` where the
    process's secret files are."""
    rewritten = {r.key: r for r in rewrites}
    lines = [f"# {p.name} ({where}), in {p.cwd}: {mask(str(Command(p.argv)))}", f"# secrets are masked here; {secrets}"]
    if files:
        lines.append(f"# its secret files are in {_shown(s, files)}/ while `inv hybrid` runs (mode 600)")
    for key in sorted(p.env):
        r = rewritten.get(key)
        note = f"    # was {mask(r.before)}" if r else ""
        lines.append(f"{key}={mask(p.env[key])}{note}")
    return "\n".join(lines) + "\n"


def env_file_text(p: Planned) -> str:
    """The env file an IDE reads for `p`: its real variables, secrets included."""
    head = [
        f"# {p.name} for your IDE, made by `inv hybrid --ide {p.name}` (rewritten on each run).",
        "# Secrets inside: mode 600, git-ignored (.stackyard/); never commit or share it.",
        f"# Working directory: {p.cwd}",
    ]
    return "\n".join(head + [envfile.format_line(key, p.env[key]) for key in sorted(p.env)]) + "\n"


def _shown(s: Session, path: pathlib.Path) -> str:
    return str(path.relative_to(s.project.root)) if path.is_relative_to(s.project.root) else str(path)
