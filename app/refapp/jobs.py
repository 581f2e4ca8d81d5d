"""The work a job does, kept pure so that it can be tested without a broker."""

from __future__ import annotations

MAX_DELAY = 30.0


class InvalidJob(ValueError):
    pass


def validate(payload: dict) -> dict:
    """Check a POST /jobs body; returns the normalised payload."""
    numbers = payload.get("numbers")
    if not isinstance(numbers, list) or not numbers:
        raise InvalidJob("'numbers' must be a non-empty list of numbers")
    if not all(isinstance(n, int | float) and not isinstance(n, bool) for n in numbers):
        raise InvalidJob("'numbers' must contain only numbers")
    delay = payload.get("delay", 0)
    if not isinstance(delay, int | float) or not 0 <= delay <= MAX_DELAY:
        raise InvalidJob(f"'delay' must be a number of seconds between 0 and {MAX_DELAY:g}")
    return {"numbers": numbers, "delay": float(delay)}


def compute(payload: dict) -> dict:
    numbers = payload["numbers"]
    total = sum(numbers)
    return {"count": len(numbers), "sum": total, "mean": total / len(numbers)}
