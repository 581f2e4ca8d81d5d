"""A lint finding and how it is printed."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Finding:
    file: str
    line: int
    rule: str
    message: str
    severity: str = "error"  # error, warning

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        tag = "" if self.severity == "error" else f" ({self.severity})"
        return f"{where}: {self.rule}: {self.message}{tag}"


def summary(findings: Sequence[Finding], checked: Sequence[str]) -> str:
    errors = sum(1 for f in findings if f.severity == "error")
    warnings = len(findings) - errors
    files = len({f.file for f in findings})
    if not findings:
        return f"lint: clean ({', '.join(checked)})"
    return f"lint: {errors} error(s), {warnings} warning(s) in {files} file(s) ({', '.join(checked)})"
