"""Unit and adapter tiers: no Docker, no STACKYARD_* variable leaking in from the
shell, and nothing written into the checkout."""

from __future__ import annotations

import pathlib

import pytest

from stackyard.engine import api as engine
from stackyard.env import generate
from tests.unit.fakes import ROOT


@pytest.fixture(autouse=True)
def _clean_stackyard_environ(monkeypatch):
    for name in ("STACKYARD_ENV", "STACKYARD_PROJECT"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(autouse=True)
def _no_engine(request, monkeypatch):
    """Never reach a real Docker engine: a Session makes its Engine API client with
    engine.api.client(), which here finds none, so Session.containers() asks the
    FakeRunner's Compose. A test that needs the engine gives the Session a fake client."""
    if request.module.__name__.endswith("engine.test_api"):
        return

    def unreachable(environ):
        raise engine.Unreachable("Docker engine not reachable (unit tests use no engine)")

    monkeypatch.setattr(engine, "client", unreachable)


@pytest.fixture(autouse=True)
def _checkout_untouched(tmp_path, monkeypatch):
    """Tests over the real project (`inv dev`, `stack.up` of dev) make env/dev.local.env
    when the checkout has none (a fresh clone): env.init writes it under tmp_path
    instead. A test that still writes a local env file into the checkout fails."""
    real_write = generate.write

    def write(path: pathlib.Path, text: str, force: bool) -> None:
        if path.resolve().is_relative_to(ROOT):
            path = tmp_path / "checkout" / path.resolve().relative_to(ROOT)
        real_write(path, text, force)

    monkeypatch.setattr(generate, "write", write)
    before = set((ROOT / "env").glob("*.local.env"))
    yield
    created = set((ROOT / "env").glob("*.local.env")) - before
    for path in created:
        path.unlink()
    assert not created, f"a unit test wrote {sorted(str(p.relative_to(ROOT)) for p in created)} into the checkout"
