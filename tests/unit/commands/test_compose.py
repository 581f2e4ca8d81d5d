"""The exact `docker compose` argv of every builder, for the project's real
environments (dev, staging, prod as pyproject.toml defines them).

Their env files are pinned to env/<env>.env: a developer's own
env/<env>.local.env must not change these expectations (test_config.py covers
which env files are picked up)."""

from __future__ import annotations

import dataclasses

import pytest

from stackyard.commands import compose
from tests.unit.fakes import ROOT, real_project, tmp_env

C = ROOT / "compose"
FILES = {
    "dev": [C / "compose.yaml", C / "compose.dev.yaml"],
    "staging": [C / "compose.yaml", C / "compose.prod.yaml", C / "compose.staging.yaml"],
    "prod": [C / "compose.yaml", C / "compose.prod.yaml"],
}


def expected_base(name: str) -> list[str]:
    argv = ["docker", "compose", "--project-name", f"stackyard-{name}"]
    for f in FILES[name]:
        argv += ["--file", str(f)]
    return argv + ["--env-file", str(ROOT / "env" / f"{name}.env")]


@pytest.fixture(params=["dev", "staging", "prod"])
def env(request):
    real = real_project().environments[request.param]
    return dataclasses.replace(real, env_files=(ROOT / "env" / f"{request.param}.env",))


def argv(cmd) -> list[str]:
    return list(cmd.argv)


def test_base_names_project_files_in_order_and_env_file(env):
    assert compose.base(env) == expected_base(env.name)


def test_base_puts_env_files_then_profiles_after_the_files(tmp_path):
    env = tmp_env(tmp_path, "qa", env_files=(tmp_path / "base.env", tmp_path / "qa.env"), profiles=("tools", "debug"))
    assert compose.base(env) == [
        "docker",
        "compose",
        "--project-name",
        "demo-qa",
        "--file",
        str(tmp_path / "compose" / "compose.yaml"),
        "--file",
        str(tmp_path / "compose" / "compose.qa.yaml"),
        "--env-file",
        str(tmp_path / "base.env"),
        "--env-file",
        str(tmp_path / "qa.env"),
        "--profile",
        "tools",
        "--profile",
        "debug",
    ]


def test_base_without_env_files_or_profiles(tmp_path):
    env = tmp_env(tmp_path)
    assert "--env-file" not in compose.base(env)
    assert "--profile" not in compose.base(env)


@pytest.mark.parametrize(
    ("kwargs", "tail"),
    [
        ({}, ["up", "--detach", "--wait", "--wait-timeout", "180"]),
        ({"build": True}, ["up", "--detach", "--build", "--wait", "--wait-timeout", "180"]),
        (
            {"build": True, "timeout": 60, "services": ["api", "worker"]},
            ["up", "--detach", "--build", "--wait", "--wait-timeout", "60", "api", "worker"],
        ),
        ({"wait": False}, ["up", "--detach"]),
        ({"wait": False, "build": True, "services": ["db"]}, ["up", "--detach", "--build", "db"]),
        (
            {"no_deps": True, "services": ["api"]},
            ["up", "--detach", "--wait", "--wait-timeout", "180", "--no-deps", "api"],
        ),
    ],
)
def test_up(env, kwargs, tail):
    assert argv(compose.up(env, **kwargs)) == expected_base(env.name) + tail


def test_down_keeps_volumes_by_default(env):
    assert argv(compose.down(env)) == expected_base(env.name) + ["down", "--remove-orphans", "--timeout", "10"]


def test_down_with_volumes(env):
    assert argv(compose.down(env, volumes=True, timeout=3)) == expected_base(env.name) + [
        "down",
        "--remove-orphans",
        "--timeout",
        "3",
        "--volumes",
    ]


def test_ps_json(env):
    assert argv(compose.ps_json(env)) == expected_base(env.name) + ["ps", "--all", "--format", "json"]
    assert argv(compose.ps_json(env, all=False)) == expected_base(env.name) + ["ps", "--format", "json"]


def test_config_variants(env):
    assert argv(compose.config_json(env)) == expected_base(env.name) + ["config", "--format", "json"]
    assert argv(compose.config_services(env)) == expected_base(env.name) + ["config", "--services"]
    assert argv(compose.config_yaml(env)) == expected_base(env.name) + ["config"]


def test_logs_defaults_colour_and_timestamps(env):
    assert argv(compose.logs(env)) == expected_base(env.name) + ["--ansi", "always", "logs", "--timestamps"]


def test_logs_with_every_option_and_no_colour(env):
    cmd = compose.logs(env, ["api", "worker"], follow=True, since="10m", tail=5, color=False)
    assert argv(cmd) == expected_base(env.name) + [
        "--ansi",
        "never",
        "logs",
        "--timestamps",
        "--follow",
        "--since",
        "10m",
        "--tail",
        "5",
        "--no-color",
        "api",
        "worker",
    ]


def test_logs_tail_zero_is_kept(env):
    assert argv(compose.logs(env, tail=0))[-2:] == ["--tail", "0"]


@pytest.mark.parametrize(
    ("tty", "tail"),
    [
        (True, ["exec", "db", "psql", "-c", "select 1"]),
        (False, ["exec", "--no-TTY", "db", "psql", "-c", "select 1"]),
    ],
)
def test_exec(env, tty, tail):
    cmd = compose.exec_(env, "db", ["psql", "-c", "select 1"], tty=tty)
    assert argv(cmd) == expected_base(env.name) + tail
    assert str(cmd).endswith(" db psql -c 'select 1'")


def test_shell_prefers_bash_and_falls_back_to_sh(env):
    cmd = compose.shell(env, "api", tty=False)
    assert argv(cmd) == expected_base(env.name) + [
        "exec",
        "--no-TTY",
        "api",
        "sh",
        "-c",
        "if command -v bash >/dev/null 2>&1; then exec bash; else exec sh; fi",
    ]
    assert "--no-TTY" not in argv(compose.shell(env, "api", tty=True))


def test_build_and_restart(env):
    base = expected_base(env.name)
    assert argv(compose.build(env)) == base + ["build"]
    assert argv(compose.build(env, ["api", "worker"])) == base + ["build", "api", "worker"]
    assert argv(compose.restart(env)) == base + ["restart"]
    assert argv(compose.restart(env, ["worker"])) == base + ["restart", "worker"]


def test_version_needs_no_environment():
    assert argv(compose.version()) == ["docker", "compose", "version", "--format", "json"]


def test_builders_add_no_environment_variables(env):
    assert compose.up(env).env == {}
    assert compose.down(env).env == {}
    assert compose.up(env).cwd is None


def test_watch_starts_nothing_itself(env):
    # `inv dev --watch` has brought the stack up and waited for it: watch only watches.
    assert argv(compose.watch(env)) == expected_base(env.name) + ["watch", "--no-up"]
