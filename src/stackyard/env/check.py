"""`inv env.check`: the rules an environment's variables must pass.

Each rule has an id; a finding says where (file:line or the variable) and
what to do, and never contains a secret's value."""

from __future__ import annotations

import difflib
import math
import pathlib
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from stackyard.commands import git as gitcmds
from stackyard.core.runner import Result
from stackyard.env import file as envfile
from stackyard.env import schema as envschema
from stackyard.env.layers import PROCESS, Layer, Setting, resolve

MIN_LENGTH = 16
MIN_BITS = 80  # length x log2(alphabet size)
MIN_SHANNON = 3.0  # bits per character actually used: catches "aaaa..." and "abcabc..."
PLACEHOLDERS = (
    "changeme",
    "changethis",
    "replaceme",
    "placeholder",
    "password",
    "passw0rd",
    "secret",
    "example",
    "sample",
    "dummy",
    "default",
    "todo",
    "fixme",
    "xxxx",
    "1234",
    "qwerty",
    "letmein",
    "admin",
    "test",
    "devonly",
    "insecure",
)
TRUTHY = {"1", "true", "yes", "on"}
DEBUG_KEY = re.compile(r"^(DEBUG|\w+_DEBUG)$")
COMPOSE_REF = re.compile(r"(?<!\$)\$\{(\w+)")


@dataclass(frozen=True)
class Finding:
    rule: str
    severity: str  # error, warning
    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.rule} {self.severity}: {self.message}"


# ---- the value rules (pure) ------------------------------------------------


def alphabet_size(value: str) -> int:
    size = 0
    size += 26 if re.search(r"[a-z]", value) else 0
    size += 26 if re.search(r"[A-Z]", value) else 0
    size += 10 if re.search(r"[0-9]", value) else 0
    size += 33 if re.search(r"[^a-zA-Z0-9]", value) else 0
    return max(size, 1)


def shannon(value: str) -> float:
    if not value:
        return 0.0
    n = len(value)
    return -sum(c / n * math.log2(c / n) for c in (value.count(ch) for ch in set(value)))


def is_placeholder(value: str) -> bool:
    """Placeholder words make up a third or more of the value: "changeme",
    "Password123!", "my-secret-example". A long random value that happens to
    contain "test" somewhere is not one."""
    flat = re.sub(r"[\s_\-.]", "", value.lower())
    covered = sum(len(word) * flat.count(word) for word in PLACEHOLDERS if word in flat)
    return covered > 0 and covered * 3 >= len(flat)


def secret_problems(value: str) -> list[tuple[str, str]]:
    """(rule, message) for a weak secret; the messages describe, never quote, the value."""
    out = []
    if is_placeholder(value):
        out.append(("ENV007", "looks like a placeholder, not a secret"))
    if len(value) < MIN_LENGTH:
        out.append(("ENV005", f"too short: {len(value)} characters, need at least {MIN_LENGTH}"))
    bits = len(value) * math.log2(alphabet_size(value))
    if bits < MIN_BITS or shannon(value) < MIN_SHANNON:
        out.append(
            (
                "ENV006",
                f"not random enough (~{bits:.0f} bits, {abs(shannon(value)):.1f} bits/char; "
                f"need {MIN_BITS} bits and {MIN_SHANNON} bits/char)",
            )
        )
    return out


def nearest(name: str, known: Sequence[str]) -> str | None:

    match = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    return match[0] if match else None


# ---- the checks --------------------------------------------------------------

GitRun = Callable[..., Result]


def check(
    root: pathlib.Path,
    env_name: str,
    protected: bool,
    layers: Sequence[Layer],
    schema: Mapping[str, envschema.Variable],
    environ: Mapping[str, str],
    compose_files: Sequence[pathlib.Path],
    git: GitRun | None,
) -> list[Finding]:
    """Every finding for one environment. `git(cmd, stdin=None) -> Result` runs
    a git command (None: not a git repository, git rules skipped)."""
    findings: list[Finding] = []
    weak = "error" if protected else "warning"
    parsed = []
    for layer in layers:
        if not layer.path.is_file():
            continue
        try:
            entries = envfile.parse(layer.path, layer.label)
        except envfile.EnvFileError as exc:
            findings.append(Finding("ENV001", "error", exc.message.split(": ", 1)[0], str(exc).split(": ", 1)[1]))
            continue
        parsed.append((layer, entries))
        for w in envfile.divergences(entries, layer.label):
            findings.append(Finding("ENV002", "warning", f"{w.path}:{w.line}", f"{w.key}: {w.message}"))
        for e in entries:
            if schema and e.key not in schema:
                near = nearest(e.key, list(schema))
                hint = f" (did you mean {near}?)" if near else " (add it to .env.example if the stack reads it)"
                findings.append(
                    Finding("ENV003", "error", f"{layer.label}:{e.line}", f"unknown variable {e.key}{hint}")
                )
            var = schema.get(e.key)
            if var and var.secret and not layer.local and e.value:
                findings.append(
                    Finding(
                        "ENV008",
                        weak,
                        f"{layer.label}:{e.line}",
                        f"secret {e.key} is set in a committed file; move it to env/{env_name}.local.env",
                    )
                )

    settings = resolve(parsed, environ, list(schema))
    local_file = f"env/{env_name}.local.env"
    for name, var in schema.items():
        s = settings.get(name)
        value = s.value if s else None
        if var.required and not value:
            findings.append(
                Finding(
                    "ENV004",
                    "error",
                    name,
                    f"required but not set: set it in {local_file} (`inv env.init --env {env_name}` generates secrets)",
                )
            )
            continue
        if var.secret and value:
            for rule, message in secret_problems(value):
                findings.append(Finding(rule, weak, _where(s), f"secret {name} {message}"))

    if protected:
        findings += _prod_rules(settings)
    findings += _compose_refs(root, compose_files, schema)
    if git is not None:
        findings += _git_rules(root, layers, settings, schema, git)
    return findings


def _where(s: Setting | None) -> str:
    return s.source if s and s.source != "-" else (s.key if s else "?")


def _prod_rules(settings: Mapping[str, Setting]) -> list[Finding]:
    out = []
    for name, s in settings.items():
        if DEBUG_KEY.match(name) and (s.value or "").strip().lower() in TRUTHY:
            out.append(Finding("ENV013", "error", _where(s), f"{name} is on in a protected environment: turn it off"))
    level = settings.get("LOG_LEVEL")
    if level and (level.value or "").lower() == "debug":
        out.append(Finding("ENV013", "warning", _where(level), "LOG_LEVEL is debug in a protected environment"))
    return out


def _compose_refs(root: pathlib.Path, files: Sequence[pathlib.Path], schema: Mapping) -> list[Finding]:
    """Variables a compose file reads that the schema does not declare."""
    if not schema:
        return []
    out = []
    for f in files:
        try:
            lines = f.read_text().splitlines()
        except OSError:
            continue
        label = str(f.relative_to(root)) if f.is_relative_to(root) else str(f)
        for i, line in enumerate(lines, 1):
            if line.lstrip().startswith("#"):
                continue
            for name in COMPOSE_REF.findall(line):
                if name not in schema:
                    out.append(
                        Finding(
                            "ENV014",
                            "warning",
                            f"{label}:{i}",
                            f"reads ${{{name}}}, which .env.example does not declare",
                        )
                    )
    return out


def _git_rules(root, layers, settings, schema, git: GitRun) -> list[Finding]:
    out = []
    for layer in layers:
        if not layer.local:
            continue
        if not git(gitcmds.is_ignored(root, layer.label)).ok:
            out.append(
                Finding(
                    "ENV009",
                    "error",
                    layer.label,
                    "not ignored by git: add `env/*.local.env` and `env/local.env` to .gitignore",
                )
            )
        if git(gitcmds.is_tracked(root, layer.label)).ok:
            out.append(
                Finding(
                    "ENV010",
                    "error",
                    layer.label,
                    f"tracked by git: `git rm --cached {layer.label}`, then rotate its secrets",
                )
            )
        elif git(gitcmds.history_of(root, layer.label)).stdout.strip():
            out.append(
                Finding(
                    "ENV011",
                    "error",
                    layer.label,
                    "was committed in the past: its secrets are in git history; rotate them",
                )
            )
    for name, var in schema.items():
        s = settings.get(name)
        if not (var.secret and s and s.value and len(s.value) >= 6):
            continue
        res = git(gitcmds.grep_tracked(root), stdin=s.value + "\n")
        for hit in res.stdout.splitlines():
            parts = hit.split("\0")
            if len(parts) >= 2:
                out.append(
                    Finding(
                        "ENV012",
                        "error",
                        f"{parts[0]}:{parts[1]}",
                        f"the value of secret {name} appears in this tracked file; remove it and rotate the secret",
                    )
                )
    return out


def describe_source(s: Setting) -> str:
    return "the process environment" if s.layer == PROCESS else s.source
