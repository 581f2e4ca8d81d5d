"""Unit and adapter tiers: no Docker, and no STACKYARD_* variable leaking in from the shell."""

from __future__ import annotations

import pytest

from stackyard.engine import api as engine


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
