"""Nox sessions. `nox` runs the default set: the README's test command.

`nox -l` lists them; slow ones run alone with `nox -s NAME`."""

import nox

nox.options.sessions = ["unit", "integration"]
nox.options.reuse_existing_virtualenvs = True

TEST_DEPS = ["-e", ".[test]"]


@nox.session(python="3.11")
def unit(session: nox.Session) -> None:
    """Unit and adapter tests: argv, plans, parsing, messages; no Docker, seconds."""
    session.install(*TEST_DEPS)
    session.run("pytest", "-m", "not integration", *session.posargs)


@nox.session(python="3.11")
def integration(session: nox.Session) -> None:
    """Integration tests on a real Docker engine: the reference stack, the tasks, hybrid runs."""
    session.install(*TEST_DEPS)
    # `inv hybrid` runs the app on the host: its packages must be there.
    session.install("-r", "app/requirements.txt", "-r", "app/requirements-dev.txt")
    session.run("pytest", "-m", "integration", *session.posargs)


@nox.session(python="3.11")
def bench(session: nox.Session) -> None:
    """Speed targets against raw `docker compose`, measured in the same run (not in the default set)."""
    session.install("-e", ".")
    session.install("-r", "app/requirements.txt", "-r", "app/requirements-dev.txt")  # bench/hybrid.py
    session.run("python", "bench/run.py", *session.posargs)
    session.run("python", "bench/hybrid.py")
