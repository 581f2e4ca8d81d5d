"""The deploy lock, held on the target engine itself: a container created (never
started) with a fixed name, so that a second create fails at once, whichever
machine it comes from. Its labels say who holds it, from which process on which
host, since when: a lock left by a killed deploy (`kill -9`, a lost host) names
what to look for before `inv deploy.unlock` removes it.

Its image is stackyard's own, with no layer (engine/blank.py): a fresh host with
no registry has no image of the stack yet, and the lock comes before the ship or
the load that brings them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from stackyard.deploy.engine_changes import change
from stackyard.engine import api, blank
from stackyard.errors import StackyardError
from stackyard.session import Session

PREFIX = "dev.stackyard.lock."
IMAGE = blank.IMAGE
IMAGE_ID = blank.IMAGE_ID
image_tar = blank.image_tar


def name(project: str) -> str:
    return f"{project}-deploy-lock"


def labels(who: str, when: str, version: str, pid: int | None = None, host: str = "") -> dict[str, str]:
    found = {f"{PREFIX}who": who, f"{PREFIX}when": when, f"{PREFIX}version": version}
    found |= {f"{PREFIX}pid": str(pid)} if pid is not None else {}
    return found | ({f"{PREFIX}host": host} if host else {})


def holder(found: Mapping[str, str], now: dt.datetime | None = None) -> str:
    """'who@host (pid N) since when (12 min ago), deploying version' from the lock's
    labels, with what they do not say left out (a lock made by hand may have none)."""
    get = found.get
    who = get(PREFIX + "who") or "an unknown holder (the lock has no who label)"
    host = get(PREFIX + "host", "")
    where = f"@{host}" if host and not who.endswith(f"@{host}") else ""
    pid = f" (pid {get(PREFIX + 'pid')})" if get(PREFIX + "pid") else ""
    when = get(PREFIX + "when", "")
    since = f" since {when}{_age(when, now)}" if when else ""
    version = f", deploying {get(PREFIX + 'version')}" if get(PREFIX + "version") else ""
    return who + where + pid + since + version


def _age(when: str, now: dt.datetime | None) -> str:
    """' (12 min ago)'; '' when `when` is not an ISO time with a zone (a lock made by hand)."""
    try:
        then = dt.datetime.fromisoformat(when)
        minutes = int(((now or dt.datetime.now(dt.UTC)) - then).total_seconds() // 60)
    except (ValueError, TypeError):  # TypeError: a time without a zone
        return ""
    if minutes < 120:
        return f" ({minutes} min ago)"
    return f" ({minutes // 60} h {minutes % 60} min ago)"


def held_error(found: Mapping[str, str]) -> StackyardError:
    return StackyardError(
        f"another deploy holds the lock: {holder(found)}", "wait for it; `inv deploy.unlock` clears a stale lock"
    )


def take(s: Session, held_by: Mapping[str, str]) -> None:
    """Create the lock with these labels (loading its image first if the engine lacks
    it), or fail naming who holds it."""
    client = s.engine()
    lock = name(s.env.project)
    if blank.missing(client):
        what = f"load image {IMAGE} ({len(image_tar()) // 1000} KB, no layer: made here)"
        change(s, what, lambda: blank.load(client))
    shown = ", ".join(f"{k.removeprefix(PREFIX)}={v}" for k, v in held_by.items())
    taken = change(
        s,
        f"create container {lock} from {IMAGE}, never started ({shown})",
        lambda: api.create(client, lock, IMAGE, held_by),
    )
    if taken is False:
        raise held_error(api.labels(client, lock) or {})


def check_free(s: Session) -> None:
    """Fail, as taking it would, when another deploy holds the lock (a dry run's check)."""
    found = held(s)
    if found is not None:
        raise held_error(found)


def held(s: Session) -> dict[str, str] | None:
    """The lock's labels; None when nobody holds it."""
    return api.labels(s.engine(), name(s.env.project))


def release(s: Session) -> None:
    """Remove the lock (with any anonymous volume: a lock made by an older stackyard,
    from the stack's database image, has one)."""
    lock = name(s.env.project)
    change(s, f"remove container {lock} and its anonymous volumes", lambda: api.remove(s.engine(), lock))
