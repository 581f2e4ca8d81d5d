"""What a deploy changes through the Engine API (the docker SDK) rather than with a
command: the lock container, the image it is made from, old release images.

The runner echoes each command and, under `inv --dry`, only echoes it; these
calls never reach the runner, so each one is echoed here the same way, to the
same stream (`$ [engine] remove image stackyard-app:abc1234-…`), and under
`inv --dry` only echoed (`[dry-run] $ [engine] …`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from stackyard.session import Session

T = TypeVar("T")


def change(s: Session, what: str, do: Callable[[], T]) -> T | None:
    """Echo `what`, then call `do` (its result), unless a dry run (None)."""
    s.announce(f"[engine] {what}")  # beside the commands: one log of what the engine was asked to change
    return None if s.dry else do()
