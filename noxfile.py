"""Nox sessions: `nox` runs the default set (the README's test command)."""

import nox

nox.options.sessions = ["unit", "integration"]
nox.options.reuse_existing_virtualenvs = True

TEST_DEPS = ["-e", ".[test]"]


@nox.session(python="3.11")
def unit(session: nox.Session) -> None:
    """Unit and adapter tests: no Docker needed, a few seconds."""
    session.install(*TEST_DEPS)
    session.run("pytest", "-m", "not integration", *session.posargs)


@nox.session(python="3.11")
def integration(session: nox.Session) -> None:
    """Integration tests against a real Docker engine (builds and runs the reference stack)."""
    session.install(*TEST_DEPS)
    session.run("pytest", "-m", "integration", *session.posargs)
