"""secrets.mask: values of secret-named variables never reach the screen."""

from __future__ import annotations

import dataclasses

import pytest

from stackyard.env.masking import MASK, is_secret_name, mask, mask_text, rendered_secrets
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


def test_a_secret_the_environment_overrides_is_still_masked(env):
    # The env file's value is not the one in use, but it is a secret all the same.
    out = mask("a=pg-s3cret-value b=override-value", env, {"POSTGRES_PASSWORD": "override-value"})
    assert out == f"a={MASK} b={MASK}"


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
        ("SSH_PRIVATE_KEY", True),
        ("SECRET_KEY_BASE", True),
        ("DBPASSWORD", True),
        ("DB_PASS", True),
        ("DB_PWD", True),
        ("SENTRY_DSN", True),
        ("BASIC_AUTH", True),
        ("SIGNING_SALT", True),
        ("GOOGLE_APPLICATION_CREDENTIALS_JSON", True),
        ("PASSPHRASE", True),
        # about a secret, not one: a path, a setting, an identifier, a public half
        ("POSTGRES_PASSWORD_FILE", False),
        ("SSH_PRIVATE_KEY_PATH", False),
        ("PASSWORD_MIN_LENGTH", False),
        ("TOKEN_TTL", False),
        ("AWS_ACCESS_KEY_ID", False),
        ("AUTH_URL", False),
        ("AUTH_ENABLED", False),
        ("JWT_PUBLIC_KEY", False),
        ("KEY_PREFIX", False),
        ("TOKENIZER", False),
        ("BYPASS_CACHE", False),
        ("PWD", False),
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


# --- URL passwords, and the one-pass masker ---------------------------------------------


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("postgresql://app:pw-1@db:5432/app", f"postgresql://app:{MASK}@db:5432/app"),
        ("redis://:only-a-password@cache:6379/0", f"redis://:{MASK}@cache:6379/0"),
        # "@" and "/" in a password (unescaped): masked whole, never a part left showing
        ("amqp://u:p@ss/w0rd@mq/vhost", f"amqp://u:{MASK}@mq/vhost"),
        ('{"DATABASE_URL": "postgres://u:pw12@db/x"}', f'{{"DATABASE_URL": "postgres://u:{MASK}@db/x"}}'),
        # no password: nothing to hide
        ("https://user@example.com/x", "https://user@example.com/x"),
        ("https://example.com:8443/health", "https://example.com:8443/health"),
        ("see http://host/a:b@c", "see http://host/a:b@c"),
    ],
)
def test_a_urls_password_and_only_it_is_masked(text, want):
    assert mask_text(text) == want


def test_with_length_each_secret_shows_its_length_in_one_pass():
    # The second value is a word of the first one's replacement: it must not be found there.
    text = "a=abcdefgh b=chars url=postgres://u:pw-123@db/x"
    assert mask_text(text, {"abcdefgh", "chars"}, with_length=True) == (
        f"a={MASK} (8 chars) b={MASK} (5 chars) url=postgres://u:{MASK} (6 chars)@db/x"
    )


def test_mask_covers_urls_with_no_env_file_at_all(tmp_path):
    # What print_last_logs prints on a failed deploy: a driver's error quoting its URL.
    line = "sqlalchemy: could not connect to postgresql://app:hunter2-pw@db:5432/app"
    assert (
        mask(line, tmp_env(tmp_path), environ={})
        == f"sqlalchemy: could not connect to postgresql://app:{MASK}@db:5432/app"
    )


def test_a_schema_secret_with_an_innocent_name_is_masked_when_named(tmp_path):
    (tmp_path / ".env").write_text("DB_CODE=s3cret-code-value\nLOG_LEVEL=debug\n")
    env = tmp_env(tmp_path, env_files=(tmp_path / ".env",))
    assert mask("c=s3cret-code-value", env, environ={}) == "c=s3cret-code-value"
    assert mask("c=s3cret-code-value l=debug", env, environ={}, names={"DB_CODE"}) == f"c={MASK} l=debug"


def test_the_dotenv_layers_secrets_are_masked(tmp_path):
    (tmp_path / ".env").write_text("SECRET_KEY=changethis-dotenv\n")
    env = tmp_env(tmp_path, env_files=(tmp_path / ".env",))
    assert mask("SECRET_KEY: changethis-dotenv", env, environ={}) == f"SECRET_KEY: {MASK}"
