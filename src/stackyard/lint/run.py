"""Run every linter over a project and print one line per finding."""

from __future__ import annotations

import dataclasses
import itertools
import pathlib
import shutil
from collections.abc import Callable, Mapping, Sequence

from stackyard.commands import compose, git, linters, stack
from stackyard.config import Project, compose_project_dir, layer_files
from stackyard.core.command import Command
from stackyard.engine import roles, state
from stackyard.env import check as envcheck
from stackyard.env import schema as envschema
from stackyard.errors import StackyardError, last_line
from stackyard.lint import compose_rules, swarm_rules, tools
from stackyard.lint.findings import Finding, summary
from stackyard.session import Session
from stackyard.swarm import render

# env.check rules that need the secrets themselves: not for a static lint.
VALUE_RULES = {"ENV004", "ENV005", "ENV006", "ENV007", "ENV012"}


def project_files(s: Session) -> list[str]:
    """Tracked and new (not ignored) files, relative to the root."""
    root = s.project.root
    res = s.read(git.project_files(root), check=False)
    if res.ok:
        return sorted({f for f in res.stdout.splitlines() if (root / f).is_file()})
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and ".git" not in p.parts)


def shell_scripts(root: pathlib.Path, files: Sequence[str]) -> list[str]:
    out = []
    for f in files:
        if f.endswith(".sh"):
            out.append(f)
            continue
        if "." in pathlib.Path(f).name:
            continue
        try:
            first = (root / f).open("rb").readline(100)
        except OSError:
            continue
        if first.startswith(b"#!") and (b"bash" in first or b"/sh" in first):
            out.append(f)
    return out


def relative(s: Session, path: pathlib.Path) -> str:
    root = s.project.root
    return str(path.relative_to(root)) if path.is_relative_to(root) else str(path)


def _tool(s: Session, name: str, cmd: Command, parse: Callable[[str], list[Finding]]) -> list[Finding]:
    if shutil.which(name) is None:
        return [Finding(name, 0, "LINT000", f"{name} is not installed: pip install {tools.INSTALL[name]}")]
    res = s.read(cmd, check=False)
    found = parse(res.stdout)
    if res.returncode not in (0, 1) and not found:
        why = last_line(res.stderr or res.stdout) or "?"
        return [Finding(name, 0, "LINT001", f"{name} failed ({res.returncode}): {why}")]
    return found


def placeholder_secrets(project: Project) -> dict[str, str]:
    """Stand-ins for secrets, so that `${X:?}` interpolation passes: lint reads no real secret."""
    return {k: "lint-placeholder-not-a-secret" for k, v in envschema.load(project.root).items() if v.secret}


def rendered_config(s: Session, stand_ins: Mapping[str, str]) -> dict | None:
    """The environment's merged config with every profile on; None when it does not render."""
    res = s.read(compose.config_json(s.env, profiles=compose.ALL_PROFILES, extra_env=stand_ins), check=False)
    return state.parse_config(res.stdout) if res.ok else None


def profiles_of(rendered: Mapping | None) -> list[str]:
    """Every profile a service of the environment names."""
    services = (rendered or {}).get("services") or {}
    return sorted({p for svc in services.values() for p in svc.get("profiles") or []})


def config_findings(s: Session, stand_ins: Mapping[str, str], profiles: Sequence[str]) -> list[Finding]:
    """`config --quiet` of the environment with every combination of its profiles."""
    out = []
    for combo in (c for n in range(len(profiles) + 1) for c in itertools.combinations(profiles, n)):
        res = s.read(compose.config_check(s.env, profiles=combo, extra_env=stand_ins), check=False)
        if not res.ok:
            label = s.env.name + (f" +{','.join(combo)}" if combo else "")
            why = last_line(res.stderr) or "?"
            out.append(Finding(relative(s, s.env.files[-1]), 0, "compose", f"`config` fails for {label}: {why}"))
    return out


def security_findings(s: Session) -> list[Finding]:
    """The security rules (lint/compose_rules.py) on the environment's config, every profile on."""
    stand_ins = placeholder_secrets(s.project)
    rendered = rendered_config(s, stand_ins)
    found = [] if rendered is None else rule_findings(s, rendered, stand_ins)
    # A stack file cannot set what these rules ask for (no-new-privileges): `nox -s lint` says so once, as SY015.
    return [f for f in found if f.rule not in swarm_rules.NOT_IN_SWARM] if swarm(s) else found


def rule_findings(s: Session, rendered: Mapping, stand_ins: Mapping[str, str]) -> list[Finding]:
    """The security rules on a rendered config; the raw one (before interpolation) shows literal images."""
    raw = s.read(compose.config_json_raw(s.env, profiles=compose.ALL_PROFILES, extra_env=stand_ins), check=False)
    if not raw.ok:
        return []  # reported by the `config --quiet` pass
    return located(s, compose_rules.check(rendered, state.parse_config(raw.stdout), s.project.root))


def located(s: Session, found: Mapping[str, Sequence[tuple[str, str]]]) -> list[Finding]:
    """Findings per service -> Findings at the line that defines the service, most specific file first."""
    out = []
    for service, problems in found.items():
        file, line = compose_rules.locate(s.env.files, service)
        for rule, message in problems:
            out.append(Finding(relative(s, pathlib.Path(file)), line, rule, f"{service} ({s.env.name}): {message}"))
    return out


def per_environment(s: Session) -> list[Session]:
    """A Session for each environment of the project (the same runner and output)."""
    return [s.for_env(env) for env in s.project.environments.values()]


def compose_findings(s: Session) -> list[Finding]:
    out: list[Finding] = []
    stand_ins = placeholder_secrets(s.project)
    for each in per_environment(s):
        rendered = rendered_config(each, stand_ins)  # read once: profiles, SY013, the security rules
        out += config_findings(each, stand_ins, profiles_of(rendered))
        if rendered is None:
            continue  # reported by the `config --quiet` pass
        out += located(each, compose_rules.unreachable(rendered))  # in every environment
        if each.env.protected:
            found = rule_findings(each, rendered, stand_ins)
            # Swarm: the compose rules a stack file cannot satisfy are left out (lint/swarm_rules.py).
            out += [f for f in found if f.rule not in swarm_rules.NOT_IN_SWARM] if swarm(each) else found
        if swarm(each):
            out += swarm_findings(each, rendered, stand_ins)
    return out


# ---- an environment on Swarm ---------------------------------------------------------


def swarm(s: Session) -> bool:
    return s.env.orchestrator == "swarm"


def swarm_findings(s: Session, rendered: Mapping, stand_ins: Mapping[str, str]) -> list[Finding]:
    """The keys Swarm refuses or ignores (SY015 errors, SY016 warnings: lint/swarm_rules.py),
    then the stack file rendered from the config through the docker CLI's own stack loader."""
    out = located(s, swarm_rules.check(rendered))
    out += [dataclasses.replace(f, severity="warning") for f in located(s, swarm_rules.rewritten(rendered))]
    return out + stack_file_findings(s, rendered, stand_ins)


def stack_file_findings(s: Session, rendered: Mapping, stand_ins: Mapping[str, str]) -> list[Finding]:
    """`docker stack config` of the environment's stack file (swarm/render.py), rendered
    with placeholder values: it refuses what `docker stack deploy` would, with no swarm."""
    where = relative(s, s.env.files[-1])
    placeholder = "lint-placeholder-not-a-secret"

    def values(kind: str) -> dict[str, bytes]:
        specs = rendered.get(kind) or {}
        return {n: stand_ins.get((spec or {}).get("environment"), placeholder).encode() for n, spec in specs.items()}

    try:
        found = render.render(
            rendered,
            project=s.env.project,
            roles=roles.resolve(s.project.roles, rendered),
            secret_values=values("secrets"),
            config_values=values("configs"),
        )
    except StackyardError as exc:
        return [Finding(where, 0, "stack", f"{s.env.name}: the stack file does not render: {exc}")]
    res = s.read(stack.config("-"), stdin=render.to_json(found), check=False)
    if res.ok:
        return []
    why = last_line(res.stderr or res.stdout) or "?"
    return [Finding(where, 0, "stack", f"`docker stack config` refuses the stack file of {s.env.name}: {why}")]


def env_findings(s: Session) -> list[Finding]:
    """env.check's rules that need no secret, for every environment; each finding once."""
    root = s.project.root
    schema = envschema.load(root)

    def read_git(cmd: Command, stdin: str | None = None):
        return s.read(cmd, check=False, stdin=stdin)

    in_repo = read_git(git.inside_work_tree(root)).stdout.strip() == "true"
    found: list[Finding] = []
    for env in s.project.environments.values():
        layers = layer_files(s.project.env_dir, env.name, root, compose_project_dir(env))
        found += envcheck.check(
            root, env.name, env.protected, layers, schema, {}, env.files, read_git if in_repo else None
        )
    return [f for f in dict.fromkeys(found) if f.rule not in VALUE_RULES]


def run(s: Session) -> int:
    """Every linter over `s.project`, its findings printed sorted, then the summary; 1 on an error."""
    root = s.project.root
    files = project_files(s)
    dockerfiles = [f for f in files if pathlib.Path(f).name.startswith("Dockerfile") or f.endswith(".Dockerfile")]
    yamls = [f for f in files if f.endswith((".yaml", ".yml"))]
    scripts = shell_scripts(root, files)
    findings: list[Finding] = []
    checked = []
    if dockerfiles:
        findings += _tool(s, "hadolint", linters.hadolint(root, dockerfiles), tools.parse_hadolint)
        checked.append(f"{len(dockerfiles)} Dockerfiles")
    findings += compose_findings(s)
    checked.append(f"{len(s.project.environments)} environments")
    findings += _tool(s, "ruff", linters.ruff_check(root), tools.parse_ruff_check)
    findings += _tool(s, "ruff", linters.ruff_format(root), tools.parse_ruff_format)
    checked.append("Python")
    if scripts:
        findings += _tool(s, "shellcheck", linters.shellcheck(root, scripts), tools.parse_shellcheck)
        checked.append(f"{len(scripts)} shell scripts")
    if yamls:
        findings += _tool(s, "yamllint", linters.yamllint(root, yamls), tools.parse_yamllint)
        checked.append(f"{len(yamls)} YAML files")
    findings += env_findings(s)
    checked.append("env files")
    for f in sorted(findings):
        s.print(str(f))
    s.print(summary(findings, checked))
    return 1 if any(f.severity == "error" for f in findings) else 0
