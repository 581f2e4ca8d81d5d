"""Run every linter over a project and print one line per finding."""

from __future__ import annotations

import itertools
import pathlib
import shutil
from collections.abc import Sequence
from typing import TextIO

from stackyard.commands import compose
from stackyard.commands import git as gitcmds
from stackyard.config import Environment, Project
from stackyard.core.command import Command
from stackyard.core.runner import Runner
from stackyard.engine import state
from stackyard.env import check as envcheck
from stackyard.env import schema as envschema
from stackyard.env.layers import layer_files
from stackyard.lint import compose_rules, tools
from stackyard.lint.findings import Finding, summary

# env.check rules that need the secrets themselves: not for a static lint.
VALUE_RULES = {"ENV004", "ENV005", "ENV006", "ENV007", "ENV012"}


def project_files(root: pathlib.Path, runner: Runner) -> list[str]:
    """Tracked and new (not ignored) files, relative to the root."""
    res = runner.run(
        Command(("git", "-C", str(root), "ls-files", "--cached", "--others", "--exclude-standard")),
        check=False,
        quiet=True,
        readonly=True,
    )
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


def _tool(name: str, cmd: Command, root: pathlib.Path, runner: Runner, parse) -> list[Finding]:
    if shutil.which(name) is None:
        return [Finding(name, 0, "LINT000", f"{name} is not installed: pip install {tools.INSTALL[name]}")]
    res = runner.run(Command(cmd.argv, cmd.env, str(root)), check=False, quiet=True, readonly=True)
    found = parse(res.stdout)
    if res.returncode not in (0, 1) and not found:
        return [
            Finding(
                name,
                0,
                "LINT001",
                f"{name} failed ({res.returncode}): " + ((res.stderr or res.stdout).strip().splitlines() or ["?"])[-1],
            )
        ]
    return found


def profiles_of(project: Project, env: Environment, runner: Runner, secrets_env: dict) -> list[str]:
    res = runner.run(
        Command(compose.base(env) + ["--profile", "*", "config", "--format", "json"], secrets_env),
        check=False,
        quiet=True,
        readonly=True,
    )
    if not res.ok:
        return []
    services = state.parse_config(res.stdout).get("services", {})
    return sorted({p for svc in services.values() for p in svc.get("profiles") or []})


def placeholder_secrets(project: Project) -> dict[str, str]:
    """Stand-ins for secrets, so that `${X:?}` interpolation passes: lint reads no real secret."""
    return {k: "lint-placeholder-not-a-secret" for k, v in envschema.load(project.root).items() if v.secret}


def compose_findings(project: Project, runner: Runner, rel) -> list[Finding]:
    out: list[Finding] = []
    stand_ins = placeholder_secrets(project)
    for env in project.environments.values():
        profiles = profiles_of(project, env, runner, stand_ins)
        combos = [c for n in range(len(profiles) + 1) for c in itertools.combinations(profiles, n)]
        for combo in combos:
            argv = compose.base(env) + [a for p in combo for a in ("--profile", p)] + ["config", "--quiet"]
            res = runner.run(Command(tuple(argv), stand_ins), check=False, quiet=True, readonly=True)
            if not res.ok:
                where = rel(env.files[-1])
                label = f"{env.name}" + (f" +{','.join(combo)}" if combo else "")
                out.append(
                    Finding(
                        where,
                        0,
                        "compose",
                        f"`config` fails for {label}: " + (res.stderr.strip().splitlines() or ["?"])[-1],
                    )
                )
        if env.protected:
            out += security_findings(env, runner, stand_ins, rel)
    return out


def security_findings(env: Environment, runner: Runner, stand_ins: dict, rel) -> list[Finding]:
    argv = compose.base(env) + ["--profile", "*", "config", "--format", "json"]
    rendered = runner.run(Command(tuple(argv), stand_ins), check=False, quiet=True, readonly=True)
    raw = runner.run(
        Command(tuple(argv[:-3] + ["config", "--no-interpolate", "--format", "json"]), stand_ins),
        check=False,
        quiet=True,
        readonly=True,
    )
    if not rendered.ok or not raw.ok:
        return []  # reported by the `config --quiet` pass
    out = []
    for service, found in compose_rules.check(
        state.parse_config(rendered.stdout), state.parse_config(raw.stdout)
    ).items():
        file, line = compose_rules.locate(env.files, service)
        for rule, message in found:
            out.append(Finding(rel(pathlib.Path(file)), line, rule, f"{service} ({env.name}): {message}"))
    return out


def env_findings(project: Project, runner: Runner) -> list[Finding]:
    schema = envschema.load(project.root)

    def git(cmd, stdin=None):
        return runner.run(cmd, check=False, quiet=True, stdin=stdin, readonly=True)

    in_repo = git(gitcmds.inside_work_tree(project.root)).stdout.strip() == "true"
    out, seen = [], set()
    for env in project.environments.values():
        layers = layer_files(project.env_dir, env.name, project.root)
        for f in envcheck.check(
            project.root, env.name, env.protected, layers, schema, {}, env.files, git if in_repo else None
        ):
            if f.rule in VALUE_RULES:
                continue
            file, _, line = f.where.partition(":")
            finding = Finding(file, int(line) if line.isdigit() else 0, f.rule, f.message, f.severity)
            if finding not in seen:
                seen.add(finding)
                out.append(finding)
    return out


def run(project: Project, runner: Runner, out: TextIO) -> int:
    root = project.root

    def rel(p: pathlib.Path) -> str:
        return str(p.relative_to(root)) if p.is_relative_to(root) else str(p)

    files = project_files(root, runner)
    dockerfiles = [
        f
        for f in files
        if pathlib.Path(f).name.startswith("Dockerfile") or pathlib.Path(f).name.endswith(".Dockerfile")
    ]
    yamls = [f for f in files if f.endswith((".yaml", ".yml"))]
    scripts = shell_scripts(root, files)
    findings: list[Finding] = []
    checked = []
    if dockerfiles:
        findings += _tool("hadolint", tools.hadolint(dockerfiles), root, runner, tools.parse_hadolint)
        checked.append(f"{len(dockerfiles)} Dockerfiles")
    findings += compose_findings(project, runner, rel)
    checked.append(f"{len(project.environments)} environments")
    findings += _tool("ruff", tools.ruff_check(), root, runner, tools.parse_ruff_check)
    findings += _tool("ruff", tools.ruff_format(), root, runner, tools.parse_ruff_format)
    checked.append("Python")
    if scripts:
        findings += _tool("shellcheck", tools.shellcheck(scripts), root, runner, tools.parse_shellcheck)
        checked.append(f"{len(scripts)} shell scripts")
    if yamls:
        findings += _tool("yamllint", tools.yamllint(yamls), root, runner, tools.parse_yamllint)
        checked.append(f"{len(yamls)} YAML files")
    findings += env_findings(project, runner)
    checked.append("env files")
    for f in sorted(findings):
        print(f, file=out)
    print(summary(findings, checked), file=out)
    return 1 if any(f.severity == "error" for f in findings) else 0
