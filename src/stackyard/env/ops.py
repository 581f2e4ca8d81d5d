"""The env tasks: show, explain, diff, init, check."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping

from stackyard import config
from stackyard.commands import git as gitcmds
from stackyard.core import table
from stackyard.env import check as envcheck
from stackyard.env import file as envfile
from stackyard.env import generate as envinit
from stackyard.env import layers
from stackyard.env import schema as envschema
from stackyard.env.check import nearest
from stackyard.env.masking import MASK, is_secret_name
from stackyard.errors import StackyardError
from stackyard.lint.findings import Finding
from stackyard.session import Session


def _context(s: Session):
    schema = envschema.load(s.project.root)
    file_layers = config.layer_files(s.project.env_dir, s.env.name, s.project.root)
    return schema, file_layers


def settings(s: Session, environ: Mapping[str, str] | None = None) -> dict[str, layers.Setting]:
    schema = envschema.load(s.project.root)
    return layers.effective(s.project.root, s.project.env_dir, s.env.name, list(schema), environ)


def is_secret(name: str, schema: Mapping[str, envschema.Variable]) -> bool:

    return (schema[name].secret if name in schema else False) or is_secret_name(name)


def shown(value: str | None, secret: bool) -> str:
    """A value as printed: secrets masked with their length only."""
    if value is None:
        return "(unset)"
    if secret:
        return f"{MASK} ({len(value)} chars)" if value else "(empty)"
    return value if value != "" else '""'


def show(s: Session, as_json: bool = False) -> None:
    schema, _ = _context(s)
    rows = []
    for name, st in settings(s).items():
        secret = is_secret(name, schema)
        over = ", ".join(f"{where}" for where, _ in st.overridden) or "-"
        rows.append(
            {"key": name, "value": shown(st.value, secret), "from": st.source, "overrides": over, "secret": secret}
        )
    if as_json:
        s.print(json.dumps(rows, indent=2))
        return
    s.print(
        table.render(
            ["KEY", "VALUE", "FROM", "OVERRIDES"], [[r["key"], r["value"], r["from"], r["overrides"]] for r in rows]
        )
    )
    s.print("\n(unset): no layer sets it; the compose file's default applies")
    s.print(
        f"{s.env.name}: later layers win: "
        + " < ".join(
            [lay.label for lay in config.layer_files(s.project.env_dir, s.env.name, s.project.root)] + [layers.PROCESS]
        )
    )


def explain(s: Session, key: str) -> None:
    schema, file_layers = _context(s)
    secret = is_secret(key, schema)
    rows, seen = [], False
    for layer in file_layers:
        if not layer.path.is_file():
            rows.append([layer.label, "(no such file)", ""])
            continue

        entries = [e for e in envfile.parse(layer.path, layer.label) if e.key == key]
        for e in entries:
            seen = True
            rows.append([f"{layer.label}:{e.line}", shown(e.value, secret), ""])
        if not entries:
            rows.append([layer.label, "-", ""])
    if key in os.environ:
        seen = True
    rows.append([layers.PROCESS, shown(os.environ[key], secret) if key in os.environ else "-", ""])
    st = settings(s).get(key)
    if not seen and key not in schema:
        near = nearest(key, list(schema))
        raise StackyardError(
            f"{key} is set in no layer of {s.env.name} and not declared in .env.example",
            f"did you mean {near}?" if near else "check the spelling",
        )
    for row in rows:
        if st and (row[0] == st.source or (st.layer == layers.PROCESS and row[0] == layers.PROCESS)):
            row[2] = "<- wins"
    desc = schema[key].description if key in schema else "not declared in .env.example"
    s.print(f"{key}: {desc}")
    s.print(table.render(["LAYER", "VALUE", ""], rows))
    s.print(f"\neffective: {shown(st.value if st else None, secret)}")


def diff(s_a: Session, s_b: Session) -> None:
    schema, _ = _context(s_a)
    a, b = settings(s_a), settings(s_b)
    rows = []
    for name in sorted(set(a) | set(b)):
        va = a[name].value if name in a else None
        vb = b[name].value if name in b else None
        if va == vb:
            continue
        secret = is_secret(name, schema)
        status = (
            "missing in " + s_b.env.name if vb is None else "missing in " + s_a.env.name if va is None else "different"
        )
        rows.append([name, shown(va, secret), shown(vb, secret), status])
    if not rows:
        s_a.print(f"{s_a.env.name} and {s_b.env.name} set the same values")
        return
    s_a.print(table.render(["KEY", s_a.env.name.upper(), s_b.env.name.upper(), ""], rows))


def has_secrets(s: Session) -> bool:
    return any(v.secret for v in envschema.load(s.project.root).values())


def init(s: Session, force: bool = False) -> None:
    schema, file_layers = _context(s)
    target = s.project.env_dir / f"{s.env.name}.local.env"
    committed = {e.key for lay, entries in layers.read([x for x in file_layers if not x.local]) for e in entries}
    text = envinit.render(s.env.name, schema, committed)
    envinit.write(target, text, force)
    n = sum(1 for v in schema.values() if v.secret)
    label = target.relative_to(s.project.root)
    s.print(f"wrote {label} (mode 600): {n} secret(s) generated; values are not shown")
    findings = [f for f in run_checks(s) if f.rule == "ENV009"]
    for f in findings:
        s.print(f"warning: {f}")


def run_checks(s: Session, environ: Mapping[str, str] | None = None) -> list[Finding]:
    schema, file_layers = _context(s)

    def git(cmd, stdin=None):  # read-only queries: they run even under `inv --dry`
        return s.read(cmd, check=False, stdin=stdin)

    try:
        in_repo = git(gitcmds.inside_work_tree(s.project.root)).stdout.strip() == "true"
    except StackyardError:  # git not installed
        in_repo = False
    findings = envcheck.check(
        s.project.root,
        s.env.name,
        s.env.protected,
        file_layers,
        schema,
        os.environ if environ is None else environ,
        s.env.files,
        git if in_repo else None,
    )
    if not in_repo:
        findings.append(
            Finding(str(s.project.root), 0, "ENV000", "not a git repository: the git rules were skipped", "warning")
        )
    return findings


def check(s: Session, quiet_ok: bool = False) -> None:
    findings = run_checks(s)
    errors = [f for f in findings if f.severity == "error"]
    for f in findings:
        s.print(str(f))
    if errors:
        raise StackyardError(
            f"env.check --env {s.env.name}: {len(errors)} problem(s)"
            + (f", {len(findings) - len(errors)} warning(s)" if len(findings) > len(errors) else ""),
            "fix the lines above",
        )
    if not quiet_ok or findings:
        s.print(f"env.check --env {s.env.name}: ok ({len(findings)} warning(s))")
