"""The Session's two engines: the target (`--host`, the environment's `host`) and the
local one (the docker CLI's default), for the Engine API as for commands."""

from __future__ import annotations

import pathlib

import pytest

from stackyard import session as session_module
from stackyard.core.runner import Runner
from stackyard.session import Session

from .fakes import tmp_env


@pytest.fixture
def clients(monkeypatch):
    """The environments the Engine API clients were made for (DOCKER_HOST, or None)."""
    made: list[str | None] = []

    def client(environ):
        made.append(environ.get("DOCKER_HOST"))
        return object()

    monkeypatch.setattr(session_module.api, "client", client)
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    return made


def session(target: str | None) -> Session:
    env = tmp_env(pathlib.Path("/nowhere"), "prod")
    return Session(None, env, Runner(echo=False, target=target, env={"HTTP_PORT": "8080"}))  # type: ignore[arg-type]


def test_the_target_and_the_local_engine_are_two_clients(clients):
    s = session("ssh://deploy@prod.example.com")
    assert s.remote
    target, local = s.engine(), s.local_engine()
    assert target is not local and clients == ["ssh://deploy@prod.example.com", None]
    assert s.engine() is target and s.local_engine() is local and len(clients) == 2  # each made once


def test_without_a_target_the_local_engine_is_the_target(clients):
    s = session(None)
    assert not s.remote and s.target is None
    assert s.local_engine() is s.engine() and clients == [None]


def test_a_target_that_is_the_process_docker_host_is_the_local_engine(clients, monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", "ssh://deploy@prod.example.com")
    s = session("ssh://deploy@prod.example.com")
    assert not s.remote and s.local_engine() is s.engine()
