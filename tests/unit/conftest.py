"""Unit and adapter tiers: no Docker, and no STACKYARD_* variable leaking in from the shell."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _clean_stackyard_environ(monkeypatch):
    for name in ("STACKYARD_ENV", "STACKYARD_PROJECT"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(autouse=True)
def _no_engine(request, monkeypatch):
    """Never reach a real Docker engine: tasks.session() gives the Session the
    local engine's socket, and Session.containers() would read it directly."""
    if request.module.__name__.endswith("engine.test_api"):
        return
    from stackyard.engine import api as engine

    monkeypatch.setattr(engine, "local_socket", lambda environ=None: None)
