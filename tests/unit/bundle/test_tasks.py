"""The bundle tasks as Invoke parses and runs them: `inv bundle` (the collection's
default task), its `--dry-run` as `inv --dry`, and `inv bundle.verify FILE`."""

from __future__ import annotations

import copy
import pathlib
from types import SimpleNamespace

import invoke
import pytest
from invoke.parser import Parser

from stackyard import tasks
from stackyard.bundle import archive, make
from stackyard.bundle.manifest import COMPOSE, Manifest


def parse(*argv: str) -> dict[str, dict]:
    namespace = copy.deepcopy(tasks.namespace)  # Invoke pops a task's help texts as it parses
    return {ctx.name: ctx.as_kwargs for ctx in Parser(contexts=namespace.to_contexts()).parse_argv(list(argv))}


def test_inv_bundle_is_the_write_task_with_its_options():
    assert tasks.namespace.collections["bundle"].default == "write"
    found = parse("bundle.write", "-e", "staging", "--output", "x.tar", "--dry-run")["bundle.write"]
    assert (found["env"], found["output"], found["dry_run"]) == ("staging", "x.tar", True)
    assert parse("bundle.write")["bundle.write"]["env"] == "prod"
    assert parse("bundle.verify", "b.tar")["bundle.verify"]["file"] == "b.tar"


def context(dry: bool = False) -> invoke.Context:
    return invoke.Context(invoke.Config(overrides={"run": {"dry": dry}}))


def test_dry_run_is_inv_dry(monkeypatch):
    seen = []
    monkeypatch.setattr(make, "run", lambda s, output: seen.append((s.dry, output)))
    monkeypatch.setattr(tasks, "session", lambda c, env: SimpleNamespace(dry=bool(c.config.run.dry), env=env))
    tasks.bundle_write(context(), output="b.tar", dry_run=True)
    tasks.bundle_write(context(dry=True))
    tasks.bundle_write(context())
    assert seen == [(True, pathlib.Path("b.tar")), (True, None), (False, None)]


def test_verify_prints_the_table(tmp_path, capsys):
    path = tmp_path / "b.tar"
    with archive.Writer(path, 0) as w:
        w.add(COMPOSE, [b"{}"])
        w.finish(Manifest("p", "prod", "r1", "t", (), tuple(w.members)))
    tasks.bundle_verify(context(), str(path))
    out = capsys.readouterr().out
    assert out.startswith("MEMBER") and "compose.json  2 B" in out and "release r1 of p (prod)" in out


def test_verify_of_a_broken_file_is_one_line_and_exit_1(tmp_path, capsys):
    path = tmp_path / "b.tar"
    path.write_bytes(b"nope")
    with pytest.raises(invoke.exceptions.Exit) as info:
        tasks.bundle_verify(context(), str(path))
    assert info.value.code == 1
    assert capsys.readouterr().err.startswith(f"stackyard: error: {path} is not a bundle (not a plain tar file: ")
