"""envops: the env.* tasks' bodies over a throw-away project (no Docker;
git only for the read-only queries of the secret checks)."""

from __future__ import annotations

import io
import json
import pathlib
import stat
import subprocess

import pytest

from stackyard import config
from stackyard.core.runner import Runner
from stackyard.env import ops as envops
from stackyard.errors import StackyardError
from stackyard.session import Session

EXAMPLE = """\
# [secret] [required] Database password (the name does not look secret: the tag decides).
DB_PASS=
# Database user.
DB_USER=app
# Log level.
LOG_LEVEL=info
# Public name.
SITE_ADDRESS=localhost
"""
# Made once by secrets.token_urlsafe(32).
STRONG = "fVoLqmH2nlhOW20CCDDoAa32jqA3jkENWTJJP3GpWxs"


@pytest.fixture
def root(tmp_path, monkeypatch) -> pathlib.Path:
    root = tmp_path / "shop"
    (root / "compose").mkdir(parents=True)
    (root / "env").mkdir()
    for name in ("compose.yaml", "compose.dev.yaml", "compose.prod.yaml"):
        (root / "compose" / name).write_text("services: {}\n")
    (root / ".env.example").write_text(EXAMPLE)
    write(root, "env/base.env", "LOG_LEVEL=info\n")
    write(root, "env/dev.env", "DB_USER=app\nLOG_LEVEL=debug\n")
    write(root, "env/prod.env", "DB_USER=app\nSITE_ADDRESS=shop.example.com\n")
    for name in ("DB_PASS", "DB_USER", "LOG_LEVEL", "SITE_ADDRESS", "API_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    # git never finds a repository above the project (tmp dirs can live inside one).
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    return root


def write(root: pathlib.Path, name: str, text: str) -> None:
    (root / name).write_text(text)


def session(root: pathlib.Path, env: str = "dev") -> Session:
    project = config.build(root, {})
    return Session(project, project.environment(env), Runner(echo=False), out=io.StringIO())


def output(s: Session) -> str:
    return s.out.getvalue()


def git(root: pathlib.Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True)


# --- show ------------------------------------------------------------------------------


def test_show_lists_every_key_with_its_layer_and_masks_secrets(root, monkeypatch):
    write(root, "env/dev.local.env", f"DB_PASS={STRONG}\nAPI_TOKEN=tok-abcdef-123456\n")
    monkeypatch.setenv("SITE_ADDRESS", "dev.example.com")
    s = session(root)
    envops.show(s)
    out = output(s)
    rows = {
        line.split()[0]: line.split(None, 1)[1]
        for line in out.splitlines()[1:]
        if line.strip() and not line.startswith(("dev:", "(unset):"))
    }
    assert set(rows) == {"DB_PASS", "DB_USER", "LOG_LEVEL", "SITE_ADDRESS", "API_TOKEN"}
    assert rows["DB_PASS"].split("  ")[0] == f"**** ({len(STRONG)} chars)"
    assert "env/dev.local.env:1" in rows["DB_PASS"]
    assert rows["LOG_LEVEL"].split() == ["debug", "env/dev.env:2", "env/base.env:1"]
    assert rows["SITE_ADDRESS"].split() == ["dev.example.com", "process", "environment", "-"]
    assert rows["API_TOKEN"].startswith("**** (17 chars)")  # a secret-looking name, not in the schema
    assert STRONG not in out and "tok-abcdef-123456" not in out
    assert out.splitlines()[-1] == (
        "dev: later layers win: env/base.env < env/dev.env < env/local.env < env/dev.local.env < process environment"
    )


def test_show_masks_a_secret_the_process_environment_overrides(root, monkeypatch):
    write(root, "env/dev.local.env", f"DB_PASS={STRONG}\n")
    monkeypatch.setenv("DB_PASS", "from-the-shell-pw")
    monkeypatch.setenv("SITE_ADDRESS", f"db.example.com/{STRONG}")  # holds the overridden secret
    s = session(root)
    envops.show(s)
    out = output(s)
    assert STRONG not in out and "from-the-shell-pw" not in out
    [row] = [line for line in out.splitlines() if line.startswith("SITE_ADDRESS ")]
    assert f"db.example.com/**** ({len(STRONG)} chars)" in row


def test_show_a_personal_local_env_wins_over_the_committed_env_file(root):
    write(root, "env/local.env", "LOG_LEVEL=warning\n")
    s = session(root)
    envops.show(s)
    [row] = [line for line in output(s).splitlines() if line.startswith("LOG_LEVEL ")]
    assert row.split() == ["LOG_LEVEL", "warning", "env/local.env:1", "env/base.env:1,", "env/dev.env:2"]


def test_show_json(root):
    write(root, "env/dev.local.env", f"DB_PASS={STRONG}\n")
    s = session(root)
    envops.show(s, as_json=True)
    rows = {r["key"]: r for r in json.loads(output(s))}
    assert rows["DB_PASS"] == {
        "key": "DB_PASS",
        "value": f"**** ({len(STRONG)} chars)",
        "from": "env/dev.local.env:1",
        "overrides": "-",
        "secret": True,
    }
    assert rows["SITE_ADDRESS"]["from"] == "-" and rows["SITE_ADDRESS"]["value"] == "(unset)"
    assert STRONG not in output(s)


# --- explain ---------------------------------------------------------------------------


def winner(out: str) -> str:
    [line] = [line for line in out.splitlines() if line.endswith("<- wins")]
    return line.split()[0]


def test_explain_marks_the_winning_layer(root):
    s = session(root)
    envops.explain(s, "LOG_LEVEL")
    out = output(s)
    assert out.startswith("LOG_LEVEL: Log level.\n")
    assert winner(out) == "env/dev.env:2"
    assert "env/local.env" in out and "(no such file)" in out
    assert out.rstrip().endswith("effective: debug")


def test_explain_the_process_environment_wins(root, monkeypatch):
    monkeypatch.setenv("LOG_LEVEL", "warning")
    s = session(root)
    envops.explain(s, "LOG_LEVEL")
    assert winner(output(s)) == "process"
    assert output(s).rstrip().endswith("effective: warning")


def test_explain_masks_a_secret(root):
    write(root, "env/dev.local.env", f"DB_PASS={STRONG}\n")
    s = session(root)
    envops.explain(s, "DB_PASS")
    assert winner(output(s)) == "env/dev.local.env:1"
    assert STRONG not in output(s)
    assert f"effective: **** ({len(STRONG)} chars)" in output(s)


def test_explain_an_unknown_key_suggests_the_nearest_name(root):
    with pytest.raises(StackyardError) as info:
        envops.explain(session(root), "LOG_LEVLE")
    assert "did you mean LOG_LEVEL?" in str(info.value)
    assert "LOG_LEVLE" in str(info.value)


# --- diff ------------------------------------------------------------------------------


def test_diff_lists_missing_and_different_keys_with_secrets_masked(root):
    write(root, "env/dev.local.env", f"DB_PASS={STRONG}\n")
    dev, prod = session(root, "dev"), session(root, "prod")
    envops.diff(dev, prod)
    out = output(dev)
    rows = {line.split()[0]: line for line in out.splitlines()}
    assert set(rows) == {"KEY", "DB_PASS", "LOG_LEVEL", "SITE_ADDRESS"}
    assert rows["KEY"].split() == ["KEY", "DEV", "PROD"]
    assert rows["DB_PASS"].split() == [
        "DB_PASS",
        "****",
        f"({len(STRONG)}",
        "chars)",
        "(unset)",
        "missing",
        "in",
        "prod",
    ]
    assert rows["LOG_LEVEL"].split() == ["LOG_LEVEL", "debug", "info", "different"]
    assert rows["SITE_ADDRESS"].split() == ["SITE_ADDRESS", "(unset)", "shop.example.com", "missing", "in", "dev"]
    assert STRONG not in out


def test_diff_of_equal_environments(root):
    write(root, "env/prod.env", "DB_USER=app\nLOG_LEVEL=debug\n")
    dev = session(root, "dev")
    envops.diff(dev, session(root, "prod"))
    assert output(dev) == "dev and prod set the same values\n"


# --- init ------------------------------------------------------------------------------


def test_init_writes_the_local_file_and_prints_no_secret(root):
    s = session(root)
    envops.init(s)
    path = root / "env" / "dev.local.env"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    [line] = [ln for ln in path.read_text().splitlines() if ln.startswith("DB_PASS=")]
    secret = line.split("=", 1)[1]
    assert len(secret) >= 43
    assert secret not in output(s)
    assert output(s) == "wrote env/dev.local.env (mode 600): 1 secret(s) generated; values are not shown\n"
    with pytest.raises(StackyardError, match="--force"):
        envops.init(session(root))


def test_init_under_dry_run_writes_nothing(root):
    s = session(root)
    s.runner.dry = True
    envops.init(s)
    assert not (root / "env" / "dev.local.env").exists()
    assert output(s) == "[dry-run] would write env/dev.local.env (mode 600): 1 secret(s) generated\n"
    (root / "env" / "dev.local.env").write_text("KEEP=1\n")
    envops.init(s, force=True)
    assert (root / "env" / "dev.local.env").read_text() == "KEEP=1\n"
    with pytest.raises(StackyardError, match="--force"):
        envops.init(s)


def test_init_warns_when_git_would_not_ignore_the_file(root):
    git(root, "init", "-q")
    s = session(root)
    envops.init(s)
    assert "warning: env/dev.local.env: ENV009: not ignored by git" in output(s)


# --- check -----------------------------------------------------------------------------


def test_check_fails_a_protected_environment_with_a_placeholder_secret(root):
    write(root, "env/prod.local.env", "DB_PASS=changeme-please-1234\n")
    s = session(root, "prod")
    with pytest.raises(StackyardError) as info:
        envops.check(s)
    assert info.value.exit_code == 1
    assert str(info.value).startswith("env.check --env prod: 1 problem(s), 1 warning(s)")
    out = output(s)
    assert "env/prod.local.env:1: ENV007: secret DB_PASS looks like a placeholder" in out
    assert "changeme-please-1234" not in out + str(info.value)


def test_check_passes_a_good_protected_environment(root):
    write(root, "env/prod.local.env", f"DB_PASS={STRONG}\n")
    s = session(root, "prod")
    envops.check(s)
    assert output(s).splitlines()[-1] == "env.check --env prod: ok (1 warning(s))"
    assert STRONG not in output(s)


def test_outside_a_git_repository_the_git_rules_are_skipped(root):
    # No .gitignore: inside a repository ENV009 would fire for the local files.
    findings = envops.run_checks(session(root), environ={"DB_PASS": STRONG})
    assert [(f.rule, f.severity, f.where) for f in findings] == [("ENV000", "warning", str(root))]


def test_inside_a_git_repository_the_git_rules_run(root):
    git(root, "init", "-q")
    findings = envops.run_checks(session(root), environ={})
    assert "ENV000" not in {f.rule for f in findings}
    assert [f.where for f in findings if f.rule == "ENV009"] == ["env/local.env", "env/dev.local.env"]


# --- a plain Compose project: compose.yml + .env, no env/ folder, no .env.example ------------


def plain_session(tmp_path, monkeypatch, dotenv: str, env: str = "dev") -> Session:
    root = tmp_path / "plain"
    root.mkdir()
    (root / "compose.yml").write_text("services: {}\n")
    (root / ".env").write_text(dotenv)
    for name in ("POSTGRES_PASSWORD", "POSTGRES_USER", "DATABASE_URL", "SECRET_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    project = config.build(root, {"compose_dir": ".", "environments": {env: {"files": ["compose.yml"]}}})
    return Session(project, project.environment(env), Runner(echo=False), out=io.StringIO())


DOTENV = (
    "POSTGRES_USER=app\n"
    f"POSTGRES_PASSWORD={STRONG}\n"
    "DATABASE_URL=postgresql://${POSTGRES_USER}:${POSTGRES_PASSWORD}@db/app\n"
    "SENTRY_URL=https://pub:url-only-pw@sentry.example.com/1\n"
)


def test_show_reads_composes_env_file_and_masks_by_name_and_in_urls(tmp_path, monkeypatch):
    s = plain_session(tmp_path, monkeypatch, DOTENV)
    envops.show(s, as_json=True)
    rows = {r["key"]: r for r in json.loads(output(s))}
    assert rows["POSTGRES_USER"] == {
        "key": "POSTGRES_USER",
        "value": "app",
        "from": ".env:1",
        "overrides": "-",
        "secret": False,
    }
    assert rows["POSTGRES_PASSWORD"]["value"] == f"**** ({len(STRONG)} chars)"
    assert rows["POSTGRES_PASSWORD"]["secret"] is True
    # The URL shows its shape, never the password (the secret value, or the URL's own).
    assert rows["DATABASE_URL"]["value"] == f"postgresql://app:**** ({len(STRONG)} chars)@db/app"
    assert rows["SENTRY_URL"]["value"] == "https://pub:**** (11 chars)@sentry.example.com/1"
    assert STRONG not in output(s) and "url-only-pw" not in output(s)


def test_show_names_dotenv_as_the_lowest_layer(tmp_path, monkeypatch):
    s = plain_session(tmp_path, monkeypatch, "POSTGRES_USER=app\n")
    envops.show(s)
    assert "dev: later layers win: .env < process environment" in output(s)


def test_explain_and_diff_mask_url_passwords(tmp_path, monkeypatch):
    s = plain_session(tmp_path, monkeypatch, DOTENV)
    envops.explain(s, "DATABASE_URL")
    assert STRONG not in output(s)
    assert ".env:3" in output(s) and "<- wins" in output(s)
    envops.diff(s, s)
    assert "dev and dev set the same values" in output(s)


def test_check_without_a_schema_finds_a_placeholder_secret_in_dotenv(tmp_path, monkeypatch):
    s = plain_session(tmp_path, monkeypatch, "SECRET_KEY=changethis\n")
    found = envops.run_checks(s, environ={})
    assert ("ENV007", ".env:1") in [(f.rule, f.where) for f in found]
    assert all("changethis" not in str(f) for f in found)


def test_the_reference_layout_shows_no_dotenv_layer(root):
    s = session(root)
    envops.show(s)
    assert "dev: later layers win: env/base.env < env/dev.env" in output(s)
