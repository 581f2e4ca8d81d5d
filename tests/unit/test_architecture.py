"""The folder tree is the architecture: these tests keep it true.

Layers, top to bottom (a module imports only from its own layer or below):

    tasks.py cli.py                                     Invoke adapters, and their glue
    stack env hybrid deploy bundle smoke lint project   capabilities (project: inv init)
    session.py                                          the one door to running commands
    commands/ engine/                                   argv builders, reading the engine
    core/ config.py errors.py                           running things, the project, errors
"""

from __future__ import annotations

import ast
import pathlib
import re

import pytest

from tests.unit.fakes import ROOT

SRC = ROOT / "src" / "stackyard"
LAYERS = [
    {"core", "config", "errors", "__init__"},
    {"commands", "engine"},
    {"session"},
    {"stack", "env", "hybrid", "deploy", "bundle", "smoke", "lint", "project", "swarm"},
    {"tasks", "cli"},
]


def layer_of(top: str) -> int:
    return next(i for i, names in enumerate(LAYERS) if top in names)


def modules() -> list[tuple[str, pathlib.Path]]:
    out = []
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC).with_suffix("")
        out.append((".".join(rel.parts), path))
    return out


def imported(path: pathlib.Path) -> list[str]:
    """Every module an import statement names (absolute; the package uses no relative imports)."""
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: within its own package (the app's); the toolkit uses none
                assert not path.is_relative_to(SRC), f"{path}: relative import"
                continue
            out.append(node.module or "")
            out += [f"{node.module}.{a.name}" for a in node.names]
    return out


def test_every_module_belongs_to_a_layer():
    for name, _ in modules():
        layer_of(name.split(".")[0])  # StopIteration: a new top-level module or folder not in LAYERS


@pytest.mark.parametrize(("name", "path"), modules(), ids=[m for m, _ in modules()])
def test_nothing_imports_a_layer_above_its_own(name, path):
    mine = layer_of(name.split(".")[0])
    for target in imported(path):
        parts = target.split(".")
        if parts[0] != "stackyard" or len(parts) < 2:
            continue
        theirs = layer_of(parts[1])
        assert theirs <= mine, f"{name} (layer {mine}) imports {target} (layer {theirs})"


@pytest.mark.parametrize(("name", "path"), modules(), ids=[m for m, _ in modules()])
def test_only_core_starts_processes(name, path):
    if name.startswith("core."):
        return
    starts = {t.split(".")[0] for t in imported(path)} & {"subprocess", "pty"}
    assert not starts, f"{name} imports {starts}: run commands through the Session (core/ runs them)"


def test_the_reference_app_never_imports_the_toolkit():
    for path in (ROOT / "app").rglob("*.py"):
        assert not any(t.split(".")[0] == "stackyard" for t in imported(path)), path


def test_the_readme_architecture_section_matches_the_tree():
    text = (ROOT / "README.md").read_text()
    section = text.split("## Architecture", 1)[1].split("\n## ", 1)[0]
    listed = set(re.findall(r"^\| `(\w+)/` \|", section, flags=re.M))
    folders = {p.name for p in SRC.iterdir() if p.is_dir() and (p / "__init__.py").is_file()}
    assert listed == folders
    for top in ("tasks.py", "cli.py", "session.py", "config.py", "errors.py"):
        assert f"`{top}`" in section


@pytest.mark.parametrize(("name", "path"), modules(), ids=[m for m, _ in modules()])
def test_commands_run_through_the_session_only(name, path):
    if name.startswith("core.") or name in ("session", "tasks") or name.endswith("__main__"):
        return  # the runner itself, the door, and the entry points that make the one Runner
    touched = [
        node.lineno
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Attribute) and node.attr == "runner"
    ]
    assert not touched, f"{name}:{touched[0]} reaches the runner: go through the Session (run, read, stream, ...)"


# The reference app's service names: the toolkit reads roles ([tool.stackyard.roles]), never them.
REFERENCE_SERVICES = {"api", "caddy", "worker", "listener", "migrate", "db", "redis", "stackyard-app", "flower"}
# The same words where they are not a service's name, each with why.
NOT_A_SERVICE = {
    ("tasks.py", "db"): "the db.* task namespace",
    ("config.py", "db"): "the [tool.stackyard.db] table",
    ("config.py", "migrate"): "the migrate role's key in [tool.stackyard.roles]",
    ("engine/roles.py", "migrate"): "the migrate role, in a detection reason",
    ("project/init.py", "migrate"): "the migrate role, as `inv init` writes it",
    ("deploy/plan.py", "migrate"): "the deploy step's name, as the plan prints it",
    ("config.py", "caddy"): "a kind of proxy",
    ("deploy/proxy.py", "caddy"): "a kind of proxy",
    ("commands/proxy.py", "caddy"): "Caddy's program",
    ("engine/roles.py", "redis"): "an image a cache runs",
    ("hybrid/plan.py", "redis"): "the redis:// URL scheme and its default port",
    ("commands/swarm.py", "worker"): "a swarm node's role (docker swarm join-token worker)",
}


def string_literals(path: pathlib.Path) -> list[tuple[int, str]]:
    """The string constants of a module, but its docstrings (they may name an example)."""
    tree = ast.parse(path.read_text())
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings
    ]


@pytest.mark.parametrize(("name", "path"), modules(), ids=[m for m, _ in modules()])
def test_no_service_of_the_reference_app_is_named_in_the_toolkit(name, path):
    rel = str(path.relative_to(SRC))
    for line, value in string_literals(path):
        if value in REFERENCE_SERVICES and (rel, value) not in NOT_A_SERVICE:
            pytest.fail(f"{rel}:{line} names service {value!r} of the reference app: read it from the roles instead")


def test_the_literal_name_test_sees_literals_but_not_docstrings(tmp_path):
    module = tmp_path / "m.py"
    module.write_text('"""Deploys api."""\n\ndef f():\n    """The worker."""\n    return ("worker", "web")\n')
    assert string_literals(module) == [(5, "worker"), (5, "web")]
