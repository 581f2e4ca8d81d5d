"""The env tasks: show, explain, diff, init, check."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping

from stackyard import config
from stackyard.commands import git as gitcmds
from stackyard.core import table
from stackyard.env import check as envcheck
from stackyard.env import file as envfile
from stackyard.env import generate as envinit
from stackyard.env import layers
from stackyard.env import schema as envschema
from stackyard.env.check import is_secret, nearest
from stackyard.env.masking import MASK, mask_text
from stackyard.errors import StackyardError
from stackyard.lint.findings import Finding
from stackyard.session import Session


def env_layers(s: Session) -> list[config.Layer]:
    """The environment's layers, Compose's `.env` first (config.layer_files)."""
    return config.layer_files(s.project.env_dir, s.env.name, s.project.root, config.compose_project_dir(s.env))


def listed(file_layers: list[config.Layer]) -> list[config.Layer]:
    """The layers worth naming: those that exist, and the missing ones of an env folder
    the project has (a project without one is not told about it at every turn)."""
    return [la for la in file_layers if la.path.is_file() or (not la.dotenv and la.path.parent.is_dir())]


def _context(s: Session):
    return envschema.load(s.project.root), env_layers(s)


def settings(s: Session, environ: Mapping[str, str] | None = None) -> dict[str, layers.Setting]:
    schema, file_layers = _context(s)
    return layers.resolve(layers.read(file_layers), os.environ if environ is None else environ, list(schema))


def shown(value: str | None, secret: bool, secrets: Iterable[str] = ()) -> str:
    """A value as printed: secrets masked with their length only; in any other
    value, a URL's password and the `secrets` values it holds are masked too."""
    if value is None:
        return "(unset)"
    if secret:
        return f"{MASK} ({len(value)} chars)" if value else "(empty)"
    return mask_text(value, secrets, with_length=True) if value != "" else '""'


def secret_values(found: Mapping[str, layers.Setting], schema: Mapping[str, envschema.Variable]) -> set[str]:
    """The secrets' values, the overridden ones too (a file's secret the process
    environment overrides is a secret all the same)."""
    return {
        value
        for name, st in found.items()
        if is_secret(name, schema)
        for value in (st.value, *(v for _, v in st.overridden))
        if value
    }


def show(s: Session, as_json: bool = False) -> None:
    schema, file_layers = _context(s)
    found = settings(s)
    secrets = secret_values(found, schema)
    rows = []
    for name, st in found.items():
        secret = is_secret(name, schema)
        over = ", ".join(f"{where}" for where, _ in st.overridden) or "-"
        rows.append(
            {
                "key": name,
                "value": shown(st.value, secret, secrets),
                "from": st.source,
                "overrides": over,
                "secret": secret,
            }
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
        f"{s.env.name}: later layers win: " + " < ".join([lay.label for lay in listed(file_layers)] + [layers.PROCESS])
    )


def explain(s: Session, key: str) -> None:
    schema, file_layers = _context(s)
    secret = is_secret(key, schema)
    found = settings(s)
    secrets = secret_values(found, schema)
    rows, seen = [], False
    for layer in listed(file_layers):
        if not layer.path.is_file():
            rows.append([layer.label, "(no such file)", ""])
            continue

        entries = [e for e in envfile.parse(layer.path, layer.label) if e.key == key]
        for e in entries:
            seen = True
            rows.append([f"{layer.label}:{e.line}", shown(e.value, secret, secrets), ""])
        if not entries:
            rows.append([layer.label, "-", ""])
    if key in os.environ:
        seen = True
    rows.append([layers.PROCESS, shown(os.environ[key], secret, secrets) if key in os.environ else "-", ""])
    st = found.get(key)
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
    s.print(f"\neffective: {shown(st.value if st else None, secret, secrets)}")


def diff(s_a: Session, s_b: Session) -> None:
    schema, _ = _context(s_a)
    a, b = settings(s_a), settings(s_b)
    secrets = secret_values(a, schema) | secret_values(b, schema)
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
        rows.append([name, shown(va, secret, secrets), shown(vb, secret, secrets), status])
    if not rows:
        s_a.print(f"{s_a.env.name} and {s_b.env.name} set the same values")
        return
    s_a.print(table.render(["KEY", s_a.env.name.upper(), s_b.env.name.upper(), ""], rows))


def secret_names(s: Session) -> set[str]:
    """The variables `.env.example` marks `[secret]` (masking adds the secret-looking names)."""
    return {name for name, var in envschema.load(s.project.root).items() if var.secret}


def has_secrets(s: Session) -> bool:
    return any(v.secret for v in envschema.load(s.project.root).values())


def init(s: Session, force: bool = False) -> None:
    schema, file_layers = _context(s)
    target = s.project.env_dir / f"{s.env.name}.local.env"
    committed = {
        e.key for lay, entries in layers.read([x for x in file_layers if not x.local or x.dotenv]) for e in entries
    }
    text = envinit.render(s.env.name, schema, committed)
    n = sum(1 for v in schema.values() if v.secret)
    label = target.relative_to(s.project.root)
    if s.dry:  # `inv --dry env.init`: say what would be written, write nothing
        envinit.check_writable(target, force)
        s.print(f"[dry-run] would write {label} (mode 600): {n} secret(s) generated")
        return
    envinit.write(target, text, force)
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
