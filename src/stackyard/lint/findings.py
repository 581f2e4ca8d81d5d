"""A finding, lint's and env.check's alike, and how it is printed."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Finding:
    """One problem: where, which rule, what to do. Sorted by file, then line."""

    #: The file; or what the finding is about when no file is (a tool, a variable).
    file: str
    line: int  # 0: the whole file (or no file)
    rule: str
    message: str
    severity: str = "error"  # error, warning

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}" if self.line else self.file

    def __str__(self) -> str:
        tag = "" if self.severity == "error" else f" ({self.severity})"
        return f"{self.where}: {self.rule}: {self.message}{tag}"


def summary(findings: Sequence[Finding], checked: Sequence[str]) -> str:
    errors = sum(1 for f in findings if f.severity == "error")
    warnings = len(findings) - errors
    files = len({f.file for f in findings})
    if not findings:
        return f"lint: clean ({', '.join(checked)})"
    return f"lint: {errors} error(s), {warnings} warning(s) in {files} file(s) ({', '.join(checked)})"
