"""secrets.mask: values of secret-named variables never reach the screen."""

from __future__ import annotations

import dataclasses

import pytest

from stackyard.env.masking import MASK, is_secret_name, mask, rendered_secrets
from tests.unit.fakes import real_project, tmp_env


@pytest.fixture
def env(tmp_path):
    (tmp_path / "base.env").write_text("POSTGRES_USER=app\nLOG_LEVEL=debug\n")
    (tmp_path / "qa.env").write_text(
        "POSTGRES_PASSWORD=pg-s3cret-value\nAPI_KEY='key-1234-abcd'\nDB_PORT=5432\nTOKEN=\n"
    )
    return tmp_env(tmp_path, "qa", env_files=(tmp_path / "base.env", tmp_path / "qa.env"))


def test_values_from_env_files_are_masked(env):
    text = "user: app\npassword: pg-s3cret-value\nkey: key-1234-abcd\nlevel: debug\nport: 5432\n"
    assert mask(text, env, environ={}) == f"user: app\npassword: {MASK}\nkey: {MASK}\nlevel: debug\nport: 5432\n"


def test_values_from_the_environment_are_masked(env):
    environ = {"REDIS_PASSWORD": "from-environ-pw", "HOME": "/home/someone"}
    assert mask("redis: from-environ-pw home: /home/someone", env, environ) == f"redis: {MASK} home: /home/someone"


def test_the_process_environment_is_read_by_default(env, monkeypatch):
    monkeypatch.setenv("DEPLOY_TOKEN", "tok-from-process")
    assert mask("t=tok-from-process", env) == f"t={MASK}"
    assert mask("t=tok-from-process", env, environ={}) == "t=tok-from-process"


def test_the_environment_overrides_the_env_files(env):
    # The env file's value is not the one in use; the environment's is.
    out = mask("a=pg-s3cret-value b=override-value", env, {"POSTGRES_PASSWORD": "override-value"})
    assert out == f"a=pg-s3cret-value b={MASK}"


def test_longest_value_first(tmp_path):
    # "abcd" first would leave "****-efgh": part of the longer secret.
    environ = {"SHORT_SECRET": "abcd", "LONG_SECRET": "abcd-efgh"}
    assert mask("x=abcd-efgh y=abcd", tmp_env(tmp_path), environ) == f"x={MASK} y={MASK}"


def test_values_shorter_than_four_characters_are_left(tmp_path):
    assert mask("pw=abc", tmp_env(tmp_path), {"PASSWORD": "abc"}) == "pw=abc"


def test_a_secret_of_the_real_dev_project_is_masked():
    dev = real_project().environments["dev"]
    dev = dataclasses.replace(dev, env_files=tuple(f for f in dev.env_files if f.name == "dev.env"))
    text = "POSTGRES_PASSWORD: s3cr3t-from-the-shell\nPOSTGRES_USER: app\n"
    environ = {"POSTGRES_PASSWORD": "s3cr3t-from-the-shell"}
    assert mask(text, dev, environ=environ) == f"POSTGRES_PASSWORD: {MASK}\nPOSTGRES_USER: app\n"


@pytest.mark.parametrize(
    ("name", "secret"),
    [
        ("POSTGRES_PASSWORD", True),
        ("REDIS_PASSWORD", True),
        ("API_KEY", True),
        ("KEY", True),
        ("SIGNING_KEY", True),
        ("GITHUB_TOKEN", True),
        ("SSH_PRIVATE_FILE", True),
        ("AWS_SECRET_ACCESS_KEY", True),
        ("db_password", True),
        ("POSTGRES_USER", False),
        ("LOG_LEVEL", False),
        ("MONKEY", False),
        ("KEYBOARD_LAYOUT", False),
        ("API_PORT", False),
    ],
)
def test_is_secret_name(name, secret):
    assert is_secret_name(name) is secret


def test_rendered_secrets_are_the_secret_named_values_of_every_service():
    services = {
        "db": {"environment": {"POSTGRES_PASSWORD": "throwaway-pg-value", "POSTGRES_USER": "app"}},
        "api": {"environment": {"DATABASE_URL": "postgresql://app:throwaway-pg-value@db/app", "API_TOKEN": "tok"}},
        "redis": {"environment": None},
    }
    # "tok" is too short to mask safely (it would eat ordinary words).
    assert rendered_secrets(services) == {"throwaway-pg-value"}


def test_extra_values_are_masked_too(env):
    text = "url: postgresql://app:throwaway-pg-value@127.0.0.1/app pw: pg-s3cret-value"
    assert (
        mask(text, env, environ={}, extra={"throwaway-pg-value"})
        == f"url: postgresql://app:{MASK}@127.0.0.1/app pw: {MASK}"
    )
