"""Everyday stack operations: up/dev, down, ps, build, restart, config."""

from __future__ import annotations

from collections.abc import Sequence

from stackyard.commands import compose
from stackyard.engine import diagnose
from stackyard.env import ops as envops
from stackyard.env.masking import mask
from stackyard.errors import CommandError, StackyardError
from stackyard.session import Session
from stackyard.stack.status import print_status

LOG_LINES_ON_FAILURE = 30


def up(s: Session, services: Sequence[str] = (), *, build: bool = True, timeout: int = 180) -> None:
    """Build what changed, start and wait until healthy, then show the status table.
    A protected environment must pass env.check first; an unprotected one gets
    its local secrets file made on first use."""
    prepare_env(s)
    s.check_services(services)
    try:
        s.stream(compose.up(s.env, services, build=build, timeout=timeout))
    except CommandError as err:  # no known cause (those come out explained): find the failed service
        raise startup_failure(s, err, timeout) from err
    if s.dry:
        return
    s.print()
    print_status(s, s.containers())


def prepare_env(s: Session) -> None:
    if s.env.protected:
        envops.check(s, quiet_ok=True)  # raises, listing the problems, before anything starts
        return
    local = s.project.env_dir / f"{s.env.name}.local.env"
    if not local.exists() and envops.has_secrets(s) and not s.dry:
        envops.init(s)
        s.refresh_env()


def startup_failure(s: Session, err: CommandError, timeout: int) -> StackyardError:
    """Name the service that failed and show its last log lines."""
    explained = s.explain(err)
    if explained is not err:  # a known cause: engine down, port taken, bad file...
        return explained
    try:
        containers = s.containers()
    except StackyardError:
        return s.explain(err)
    named = set(diagnose.failed_containers(err.stderr))
    failed = [c for c in containers if c.name in named or c.failed]
    if not failed:
        failed = [c for c in containers if c.health == "starting"]
    if not failed:
        return s.explain(err)
    shown_logs = print_last_logs(s, [c.service for c in failed])
    first = failed[0]
    if first.health == "starting":
        what = f"did not become healthy within {timeout} s"
    elif first.health == "unhealthy":
        what = "is unhealthy"
    else:
        what = f"exited with code {first.exit_code}" if first.state == "exited" else f"is {first.state}"
    others = [c.service for c in failed[1:]]
    also = f" (also failing: {', '.join(others)})" if others else ""
    hint = f"its last {LOG_LINES_ON_FAILURE} log lines are above; `inv logs -s {first.service}` shows more"
    if "password authentication failed" in shown_logs:
        hint = (
            "the database volume was initialised with another POSTGRES_PASSWORD (env.init --force makes "
            "new ones): put the old one back, or start empty with `inv down --volumes`"
        )
    return StackyardError(f"service {first.service} {what}{also}", hint)


def print_last_logs(s: Session, services: Sequence[str], lines: int = LOG_LINES_ON_FAILURE) -> str:
    """Print the last log lines of each service under a header, secrets masked;
    return them (to look for a known cause)."""
    shown = ""
    for service in dict.fromkeys(services):
        res = s.read(compose.logs(s.env, [service], tail=lines, color=False), check=False)
        text = mask((res.stdout + res.stderr).rstrip(), s.env)
        s.print(f"--- {service}: last {lines} log lines ---")
        s.print(text)
        shown += text + "\n"
    return shown


def down(s: Session, *, volumes: bool = False, confirm_data_loss: bool = False) -> None:
    """Stop and remove the containers; volumes stay unless asked, and for a
    protected environment only with the second flag."""
    if volumes and s.env.protected and not confirm_data_loss:
        raise StackyardError(
            f"refusing to delete the volumes (the data) of protected environment {s.env.name!r}",
            "add --confirm-data-loss as well if you really mean it",
        )
    s.stream(compose.down(s.env, volumes=volumes))


def build(s: Session, services: Sequence[str] = ()) -> None:
    s.check_services(services)
    s.stream(compose.build(s.env, services))


def restart(s: Session, services: Sequence[str] = ()) -> None:
    s.check_services(services)
    s.stream(compose.restart(s.env, services))


def show_config(s: Session) -> None:
    """Print the merged, rendered compose config, secrets masked."""

    text = s.read(compose.config_yaml(s.env)).stdout
    s.print(mask(text, s.env).rstrip())
