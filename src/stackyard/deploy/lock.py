"""The deploy lock, held on the target engine itself: a container created (never
started) with a fixed name, so that a second create fails at once, whichever
machine it comes from. Its labels say who holds it."""

from __future__ import annotations

from collections.abc import Mapping

from stackyard.engine import api
from stackyard.errors import StackyardError
from stackyard.session import Session

PREFIX = "dev.stackyard.lock."


def name(project: str) -> str:
    return f"{project}-deploy-lock"


def labels(who: str, when: str, version: str) -> dict[str, str]:
    return {f"{PREFIX}who": who, f"{PREFIX}when": when, f"{PREFIX}version": version}


def holder(found: Mapping[str, str] | None) -> str:
    """'who since when (deploying version)' from the lock's labels."""
    get = (found or {}).get
    return f"{get(PREFIX + 'who', '?')} since {get(PREFIX + 'when', '?')} (deploying {get(PREFIX + 'version', '?')})"


def take(s: Session, image: str, held_by: Mapping[str, str]) -> None:
    """Create the lock with these labels, or fail naming who holds it."""
    client = s.engine()
    if not api.create(client, name(s.env.project), image, held_by):
        raise StackyardError(
            f"another deploy holds the lock: {holder(api.labels(client, name(s.env.project)))}",
            "wait for it; `inv deploy.unlock` clears a stale lock",
        )


def held(s: Session) -> dict[str, str] | None:
    """The lock's labels; None when nobody holds it."""
    return api.labels(s.engine(), name(s.env.project))


def release(s: Session) -> bool:
    """Remove the lock; False when there was none."""
    return api.remove(s.engine(), name(s.env.project))
