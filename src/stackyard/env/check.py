"""`inv env.check`: the rules an environment's variables must pass.

Each rule has an id; a finding says where (file:line or the variable) and
what to do, and never contains a secret's value."""

from __future__ import annotations

import difflib
import math
import pathlib
import re
from collections.abc import Callable, Mapping, Sequence

from stackyard.commands import git as gitcmds
from stackyard.config import Layer
from stackyard.core.runner import Result
from stackyard.env import file as envfile
from stackyard.env import schema as envschema
from stackyard.env.layers import PROCESS, Setting, resolve
from stackyard.env.masking import is_secret_name
from stackyard.lint.findings import Finding

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
    "xxx",
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
    """The declared name closest to a misspelt one, if any is close."""
    match = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    return match[0] if match else None


# ---- the checks --------------------------------------------------------------

GitRun = Callable[..., Result]


def is_secret(name: str, schema: Mapping[str, envschema.Variable]) -> bool:
    """Secret by the schema's `[secret]`, or by its name (masking.is_secret_name): the one rule."""
    return (name in schema and schema[name].secret) or is_secret_name(name)


def secret_home(layers: Sequence[Layer], env_name: str) -> str:
    """Where this project keeps an environment's secrets, as hints name it: the
    environment's local file when there is an env folder (or no `.env` either),
    else Compose's `.env`."""
    own = next((la for la in layers if la.local and not la.dotenv and la.path.name == f"{env_name}.local.env"), None)
    dotenv = next((la for la in layers if la.dotenv), None)
    if dotenv is not None and dotenv.path.is_file() and (own is None or not own.path.parent.is_dir()):
        return dotenv.label
    return own.label if own else f"env/{env_name}.local.env"


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
    home = secret_home(layers, env_name)
    parsed = []
    for layer in layers:
        if not layer.path.is_file():
            continue
        try:
            entries, malformed = envfile.scan(layer.path, layer.label)
        except envfile.EnvFileError as exc:  # the whole file: not there, not text
            findings.append(_malformed(exc))
            continue
        # A bad line is reported and skipped: the rest of the file is still checked.
        findings += [_malformed(exc) for exc in malformed]
        parsed.append((layer, entries))
        for w in envfile.divergences(entries, layer.label):
            findings.append(Finding(w.path, w.line, "ENV002", f"{w.key}: {w.message}", "warning"))
        for e in entries:
            if schema and e.key not in schema:
                near = nearest(e.key, list(schema))
                hint = f" (did you mean {near}?)" if near else " (add it to .env.example if the stack reads it)"
                findings.append(Finding(layer.label, e.line, "ENV003", f"unknown variable {e.key}{hint}"))
            if is_secret(e.key, schema) and not layer.local and e.value:
                findings.append(
                    Finding(
                        layer.label,
                        e.line,
                        "ENV008",
                        f"secret {e.key} is set in a committed file; move it to {home}",
                        weak,
                    )
                )

    settings = resolve(parsed, environ, list(schema))
    # The line of the entry that sets each key in each file (the last one with a value wins):
    # where a finding about a value points.
    lines = {(layer.label, e.key): e.line for layer, entries in parsed for e in entries if e.value is not None}
    for name, s in settings.items():
        var = schema.get(name)
        if var and var.required and not s.value:
            init = (
                f" (`inv env.init --env {env_name}` generates secrets)"
                if any(v.secret for v in schema.values())
                else ""
            )
            findings.append(Finding(name, 0, "ENV004", f"required but not set: set it in {home}{init}"))
            continue
        if not is_secret(name, schema):
            continue
        if s.value:
            for rule, message in secret_problems(s.value):
                findings.append(Finding(*_where(s, lines), rule, f"secret {name} {message}", weak))
        elif var is None and s.layer:  # set empty, by a file or the process; the schema's own rule is ENV004
            findings.append(Finding(*_where(s, lines), "ENV007", f"secret {name} is empty: set a strong value", weak))

    if protected:
        findings += _prod_rules(settings, lines)
    findings += _compose_refs(root, compose_files, schema)
    if git is not None:
        findings += _git_rules(root, layers, settings, schema, git, home, weak)
    return findings


def _malformed(exc: envfile.EnvFileError) -> Finding:
    return Finding(exc.path, exc.line, "ENV001", f"{exc.what}: {exc.hint}" if exc.hint else exc.what)


def _where(s: Setting, lines: Mapping[tuple[str, str], int]) -> tuple[str, int]:
    """The file and line that set the effective value of `s`."""
    if s.layer == PROCESS:
        return PROCESS, 0
    if not s.layer:  # unset
        return s.key, 0
    return s.layer, lines.get((s.layer, s.key), 0)


def _prod_rules(settings: Mapping[str, Setting], lines: Mapping[tuple[str, str], int]) -> list[Finding]:
    out = []
    for name, s in settings.items():
        if DEBUG_KEY.match(name) and (s.value or "").strip().lower() in TRUTHY:
            out.append(Finding(*_where(s, lines), "ENV013", f"{name} is on in a protected environment: turn it off"))
    level = settings.get("LOG_LEVEL")
    if level and (level.value or "").lower() == "debug":
        out.append(Finding(*_where(level, lines), "ENV013", "LOG_LEVEL is debug in a protected environment", "warning"))
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
                            label, i, "ENV014", f"reads ${{{name}}}, which .env.example does not declare", "warning"
                        )
                    )
    return out


def _git_rules(root, layers, settings, schema, git: GitRun, home: str, weak: str) -> list[Finding]:
    out = []
    for layer in layers:
        if not layer.local:
            continue
        if layer.dotenv:
            out += _dotenv_rules(root, layer, schema, git, home, weak) if layer.path.is_file() else []
            continue
        if not layer.path.parent.is_dir():  # no env folder: a project that keeps no local files there
            continue
        if not git(gitcmds.is_ignored(root, layer.label)).ok:
            out.append(Finding(layer.label, 0, "ENV009", f"not ignored by git: add `{layer.label}` to .gitignore"))
        if git(gitcmds.is_tracked(root, layer.label)).ok:
            out.append(
                Finding(
                    layer.label,
                    0,
                    "ENV010",
                    f"tracked by git: `git rm --cached {layer.label}`, then rotate its secrets",
                )
            )
        elif git(gitcmds.history_of(root, layer.label)).stdout.strip():
            out.append(
                Finding(
                    layer.label,
                    0,
                    "ENV011",
                    "was committed in the past: its secrets are in git history; rotate them",
                )
            )
    # The env files themselves are judged above (ENV008, ENV010): a hit there would say it twice.
    layer_labels = {layer.label for layer in layers}
    for name, s in settings.items():
        if not (is_secret(name, schema) and s.value and len(s.value) >= 6):
            continue
        res = git(gitcmds.grep_tracked(root), stdin=s.value + "\n")
        for hit in res.stdout.splitlines():
            parts = hit.split("\0")
            if len(parts) >= 2 and parts[1].isdigit() and parts[0] not in layer_labels:
                out.append(
                    Finding(
                        parts[0],
                        int(parts[1]),
                        "ENV012",
                        f"the value of secret {name} appears in this tracked file; remove it and rotate the secret",
                    )
                )
    return out


def _dotenv_rules(root, layer: Layer, schema, git: GitRun, home: str, weak: str) -> list[Finding]:
    """Compose's `.env` may be committed (Compose's docs do), as long as it holds
    no secret: the git rules apply to it only when it sets a secret."""
    try:
        secrets = [e.key for e in envfile.scan(layer.path, layer.label)[0] if e.value and is_secret(e.key, schema)]
    except envfile.EnvFileError:  # reported as ENV001 already
        return []
    if not secrets:
        return []
    names = ", ".join(secrets)
    if home == layer.label:  # no env folder: .env itself is where secrets live, once ignored
        fix = f"`git rm --cached {layer.label}`, add `{layer.label}` to .gitignore"
    else:
        fix = f"`git rm --cached {layer.label}`, move its secrets to {home}"
    if git(gitcmds.is_tracked(root, layer.label)).ok:
        return [
            Finding(
                layer.label, 0, "ENV010", f"tracked by git and sets secret(s) {names}: {fix}, then rotate them", weak
            )
        ]
    out = []
    if not git(gitcmds.is_ignored(root, layer.label)).ok:
        out.append(
            Finding(
                layer.label,
                0,
                "ENV009",
                f"sets secret(s) {names} but is not ignored by git: add `{layer.label}` to .gitignore",
                weak,
            )
        )
    if git(gitcmds.history_of(root, layer.label)).stdout.strip():
        out.append(
            Finding(
                layer.label,
                0,
                "ENV011",
                f"was committed in the past: secret(s) {names} are in git history; rotate them",
                weak,
            )
        )
    return out
