"""Readiness: run each dependency check and report the ones that failed."""

from __future__ import annotations

from collections.abc import Callable, Mapping


def run_checks(checks: Mapping[str, Callable[[], object]]) -> tuple[bool, dict[str, str]]:
    """Run every check (all of them, so the report names every failure)."""
    results: dict[str, str] = {}
    for name, check in checks.items():
        try:
            check()
            results[name] = "ok"
        except Exception as exc:
            # The exception's class only: messages can carry connection URLs.
            results[name] = f"failed: {exc.__class__.__name__}"
    return all(v == "ok" for v in results.values()), results
