"""Everyday stack operations: up/dev, down, build, restart, config."""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import Iterable, Sequence

from stackyard import config
from stackyard.commands import compose
from stackyard.config import Environment
from stackyard.engine import diagnose, state
from stackyard.engine import kept as store
from stackyard.env import generate as envinit
from stackyard.env import ops as envops
from stackyard.env import schema as envschema
from stackyard.env.masking import mask
from stackyard.errors import CommandError, StackyardError
from stackyard.session import Session
from stackyard.stack.status import env_option, observe, print_status
from stackyard.swarm import run as swarm
from stackyard.swarm import show as swarmshow

LOG_LINES_ON_FAILURE = 30
# How far back a failed service's logs are searched for a known cause (only the
# last LOG_LINES_ON_FAILURE are printed): a traceback can push the cause further up.
LOG_LINES_SEARCHED = 300
PASSWORD_MISMATCH = "password authentication failed"


def up(s: Session, services: Sequence[str] = (), *, build: bool = True, timeout: int = 180) -> None:
    """Build what changed, start and wait until healthy, then show the status table.
    A protected environment must pass env.check first; an unprotected one gets
    its local secrets file made on first use."""
    env = prepare_env(s)
    if s.env.orchestrator == "swarm":
        if services:
            raise StackyardError(
                f"{s.env.name} runs on Swarm: `up` deploys the whole stack, not some services",
                f"run `inv up --env {s.env.name}` without services",
            )
        swarm.up(s, build=build, timeout=timeout)
        return
    s.check_services(services)
    try:
        s.stream(compose.up(env, services, build=build, timeout=timeout))
    except CommandError as err:  # no known cause (those come out explained): find the failed service
        raise startup_failure(s, err, timeout) from err
    if s.dry:
        return
    s.print()
    print_status(s, *observe(s))


def prepare_env(s: Session) -> Environment:
    """Make the environment ready to start, and return it as the commands that start
    it must name it: a protected one must pass env.check; an unprotected one without
    its local file gets one, with generated secrets (env.init).

    Under `inv --dry` nothing is written: the file that would be made is announced,
    the returned Environment names it (so the printed commands are the real ones),
    and throwaway values of its secrets are given to the runner, for the state reads
    that run even in a dry run (Compose cannot render the config without them)."""
    if s.env.protected:
        envops.check(s, quiet_ok=True)  # raises, listing the problems, before anything starts
        return s.env
    local = s.project.env_dir / f"{s.env.name}.local.env"
    secrets = [name for name, var in envschema.load(s.project.root).items() if var.secret]
    if local.exists() or not secrets:
        return s.env
    if not s.dry:
        envops.init(s)
        s.refresh_env()
        return s.env
    s.print(f"[dry-run] would create {local.relative_to(s.project.root)} ({len(secrets)} secrets generated)")
    # The process environment wins over env files: a secret set there is what the real run uses.
    s.add_variables({name: envinit.new_secret() for name in secrets if not os.environ.get(name)})
    layers = config.layer_files(s.project.env_dir, s.env.name, project_dir=config.compose_project_dir(s.env))
    files = tuple(layer.path for layer in layers if layer.path.is_file() or layer.path == local)
    return dataclasses.replace(s.env, env_files=files)


def startup_failure(s: Session, err: CommandError, timeout: int) -> StackyardError:
    """Name the service that failed, show its last log lines, and name a known cause."""
    explained = s.explain(err)
    if explained is not err:  # a known cause: engine down, port taken, bad file...
        return explained
    try:
        containers = s.containers()
    except StackyardError:
        return explained
    named = set(diagnose.failed_containers(err.stderr))
    failed = [c for c in containers if c.name in named or c.failed]
    if not failed:
        failed = [c for c in containers if c.health == "starting"]
    if not failed:
        return explained
    services = list(dict.fromkeys(c.service for c in failed))  # one-shots (migrate) included
    logs = print_last_logs(s, services, read=LOG_LINES_SEARCHED)
    first = failed[0]
    if first.health == "starting":
        what = f"did not become healthy within {timeout} s"
    elif first.health == "unhealthy":
        what = "is unhealthy"
    else:
        what = f"exited with code {first.exit_code}" if first.state == "exited" else f"is {first.state}"
    also = f" (also failing: {', '.join(services[1:])})" if services[1:] else ""
    more = f"`inv logs{env_option(s)} -s {first.service}` shows more"
    hint = f"its last {LOG_LINES_ON_FAILURE} log lines are above; {more}"
    if PASSWORD_MISMATCH in logs:
        hint = password_mismatch_hint(s)
    return StackyardError(f"service {first.service} {what}{also}", hint)


def password_mismatch_hint(s: Session) -> str:
    """The database volume outlived the password it was made with: what to do (no value shown)."""
    local = (s.project.env_dir / f"{s.env.name}.local.env").relative_to(s.project.root)
    wipe = f"`inv down --volumes{env_option(s)}{' --confirm-data-loss' if s.env.protected else ''}`"
    return (
        "the database volume was initialised with another POSTGRES_PASSWORD than the one set now "
        f"(`inv env.init --force` makes new ones): put the old one back in {local}, "
        f"or, if its data can go, start empty with {wipe}"
    )


def print_last_logs(
    s: Session, services: Sequence[str], lines: int = LOG_LINES_ON_FAILURE, *, read: int | None = None
) -> str:
    """Print the last `lines` log lines of each service under a header, secrets masked.
    Return the last `read` lines of each (default: those shown), to look for a known cause."""
    found = ""
    for service in dict.fromkeys(services):
        res = s.read(compose.logs(s.env, [service], tail=read or lines, color=False), check=False)
        text = mask((res.stdout + res.stderr).rstrip(), s.env)
        s.print(f"--- {service}: last {lines} log lines ---")
        s.print("\n".join(text.splitlines()[-lines:]))
        found += text + "\n"
    return found


def down(s: Session, *, volumes: bool = False, confirm_data_loss: bool = False) -> None:
    """Stop and remove the containers; volumes stay unless asked, and for a
    protected environment only with the second flag."""
    if volumes and s.env.protected and not confirm_data_loss:
        raise StackyardError(
            f"refusing to delete the volumes (the data) of protected environment {s.env.name!r}",
            "add --confirm-data-loss as well if you really mean it",
        )
    if s.env.orchestrator == "swarm":
        if volumes:
            raise StackyardError(
                f"{s.env.name} runs on Swarm, which never removes volumes: `down` keeps them",
                "`docker volume rm` on each node removes one",
            )
        swarm.down(s)
        return
    s.stream(compose.down(s.env, volumes=volumes))
    if volumes and not s.dry:
        with contextlib.suppress(StackyardError):  # a word after the fact: never a failure of the down
            said_kept(s)


def said_kept(s: Session) -> None:
    """After `down --volumes`: what stackyard keeps on the engine, which Compose did not remove."""
    client = s.engine()
    n = len(store.backups(client, s.env.project))
    what = ["the release history"] if store.exists(client, store.releases_volume(s.env.project)) else []
    what += [f"{n} backup{'s' if n != 1 else ''} (`inv db.backups`)"] if n else []
    if what:
        s.print(f"kept on the engine: {' and '.join(what)} of {s.env.project}, in volumes of stackyard's own")


def build(s: Session, services: Sequence[str] = ()) -> None:
    """Build every image of the environment, or those the given services run: a
    service that runs an image another service builds gets that service built."""
    if not services:
        s.stream(compose.build(s.env))
        return
    s.stream(compose.build(s.env, build_targets(s, services)))


def build_targets(s: Session, services: Sequence[str]) -> list[str]:
    """The services to build so that `services` get their images; says which builds what."""
    cfg = s.config()
    known = state.services(cfg)
    targets: list[str] = []
    pulled = []
    for name in services:
        if name not in known:
            raise diagnose.unknown_service(name, known)
        makers = state.builders(cfg, name)
        image = cfg["services"][name].get("image", "")
        if not makers:
            pulled.append(f"{name} ({image})")
            continue
        if name not in makers:
            s.print(f"{name} runs {image}, which {makers[0]} builds: building {makers[0]}")
        targets.append(makers[0])
    if pulled:
        s.print(f"not built here, pulled: {', '.join(pulled)}")
    if not targets:
        raise StackyardError(
            f"nothing to build for {', '.join(services)}: the image is pulled, not built",
            f"`inv up{env_option(s)}` pulls what is missing; `inv build{env_option(s)}` builds every image",
        )
    return list(dict.fromkeys(targets))


def restart(s: Session, services: Sequence[str] = ()) -> None:
    s.check_services(services)
    s.stream(compose.restart(s.env, services))


def show_config(s: Session) -> None:
    """Print the merged, rendered compose config, secrets masked (with their length, as env.show)."""
    if s.env.orchestrator == "swarm":
        swarmshow.config(s)
        return
    text = s.read(compose.config_yaml(s.env)).stdout
    s.print(mask_with_length(text, s.env, envops.secret_names(s)).rstrip())


def mask_with_length(text: str, env: Environment, names: Iterable[str] = ()) -> str:
    """`text` with each secret (by its name, or in `names`) and URL password as `**** (N chars)`."""
    return mask(text, env, names=names, with_length=True)
