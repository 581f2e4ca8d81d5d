"""envcheck: each rule fires on a bad fixture and stays quiet on a good one,
and no finding ever contains a secret's value. The git rules run against a
real throw-away repository made in tmp_path."""

from __future__ import annotations

import pathlib
import subprocess

import pytest

from stackyard.config import layer_files
from stackyard.core.runner import Runner
from stackyard.env import check as envcheck
from stackyard.env import schema as envschema
from stackyard.env.check import secret_problems

SCHEMA = """\
# [secret] [required] Database password.
POSTGRES_PASSWORD=
# Database user.
POSTGRES_USER=app
# [required] Public name.
SITE_ADDRESS=
# Debug switch of the app.
DEBUG=false
# Log level.
LOG_LEVEL=info
"""

# Made once by secrets.token_urlsafe(32) (a fixed value: the suite must not be flaky).
STRONG = "pmkdv-ECv35B1W73B5XvJKuSvwGXFzgFaxUjkocnbNY"
PLACEHOLDERS = ["changeme", "Password123!", "my-secret-example", "CHANGE_ME_PLEASE_0000", "test-test-test-test"]
WEAK = ["a" * 40, "abc" * 14, "xK9#mQ2$", "s3cr3tvalue"]
# Every secret value a fixture uses: no finding may contain one.
SECRETS = [STRONG, *PLACEHOLDERS, *WEAK]

GOOD_COMMITTED = "POSTGRES_USER=app\nSITE_ADDRESS=shop.example.com\n"


def project(root: pathlib.Path, files: dict[str, str], compose: str = "services: {}\n") -> pathlib.Path:
    (root / "env").mkdir(parents=True, exist_ok=True)
    (root / "compose").mkdir(exist_ok=True)
    (root / ".env.example").write_text(SCHEMA)
    (root / "compose" / "compose.yaml").write_text(compose)
    for name, text in files.items():
        (root / name).write_text(text)
    return root


def findings(root: pathlib.Path, env: str = "prod", protected: bool = True, environ=None, git=None):
    found = envcheck.check(
        root,
        env,
        protected,
        layer_files(root / "env", env, root),
        envschema.load(root),
        environ or {},
        [root / "compose" / "compose.yaml"],
        git,
    )
    for f in found:
        for value in SECRETS:
            assert value not in str(f), f"{f.rule} shows a secret value"
    return found


def rules(found) -> set[str]:
    return {f.rule for f in found}


def good_files(secret: str = STRONG) -> dict[str, str]:
    return {"env/prod.env": GOOD_COMMITTED, "env/prod.local.env": f"POSTGRES_PASSWORD={secret}\n"}


def test_a_good_environment_has_no_findings(tmp_path):
    assert findings(project(tmp_path, good_files())) == []


def test_a_strong_random_secret_passes_every_value_rule():
    assert secret_problems(STRONG) == []


# --- where a finding points, and how it prints ------------------------------------------


def test_a_finding_has_file_and_line_and_prints_as_lint_does(tmp_path):
    files = good_files()
    files["env/prod.env"] += "POSTGRES_USR=app\nLOG_LEVEL=debug\n"
    found = {f.rule: f for f in findings(project(tmp_path, files))}
    assert (found["ENV003"].file, found["ENV003"].line) == ("env/prod.env", 3)
    assert str(found["ENV003"]) == "env/prod.env:3: ENV003: unknown variable POSTGRES_USR (did you mean POSTGRES_USER?)"
    assert str(found["ENV013"]) == "env/prod.env:4: ENV013: LOG_LEVEL is debug in a protected environment (warning)"


def test_a_value_finding_points_at_the_line_that_wins(tmp_path):
    local = f"POSTGRES_PASSWORD={STRONG}\n# again, later in the same file:\nPOSTGRES_PASSWORD=changeme\n"
    files = {"env/prod.env": GOOD_COMMITTED, "env/prod.local.env": local}
    found = [f for f in findings(project(tmp_path, files)) if f.rule == "ENV007"]
    assert [(f.file, f.line) for f in found] == [("env/prod.local.env", 3)]


def test_a_value_from_the_process_environment_has_no_line(tmp_path):
    root = project(tmp_path, good_files())
    [f] = findings(root, environ={"DEBUG": "true"})
    assert (f.rule, f.file, f.line) == ("ENV013", "process environment", 0)


def test_env001_a_file_that_is_not_text_is_the_whole_file(tmp_path):
    root = project(tmp_path, good_files())
    (root / "env" / "prod.local.env").write_bytes(b"\xff\xfe\x00")
    [f] = [f for f in findings(root) if f.rule == "ENV001"]
    assert (f.file, f.line, f.message) == ("env/prod.local.env", 0, "not UTF-8 text")


# --- file rules ------------------------------------------------------------------


def test_env001_a_malformed_line_without_its_value(tmp_path):
    files = good_files()
    files["env/prod.local.env"] += "\nBROKEN s3cr3tvalue\n"
    [f] = [f for f in findings(project(tmp_path, files)) if f.rule == "ENV001"]
    assert (f.severity, f.where) == ("error", "env/prod.local.env:3")
    assert "KEY=VALUE" in f.message


def test_env001_a_malformed_line_hides_nothing_after_it(tmp_path):
    # Line 2 is broken; line 3 sets the required secret, line 4 an unknown variable.
    local = f"# prod secrets\nBROKEN s3cr3tvalue\nPOSTGRES_PASSWORD={STRONG}\nPOSTGRES_USR=app\n"
    files = {
        "env/prod.env": "POSTGRES_USER=app\n='s3cr3tvalue'\nSITE_ADDRESS=shop.example.com\n",
        "env/prod.local.env": local,
    }
    found = findings(project(tmp_path, files))
    assert [(f.where, f.rule) for f in found] == [
        ("env/prod.env:2", "ENV001"),
        ("env/prod.local.env:2", "ENV001"),
        ("env/prod.local.env:4", "ENV003"),
    ]
    # Neither the secret of line 3 nor SITE_ADDRESS after the bad line of prod.env is "required but not set".
    assert "ENV004" not in rules(found)


def test_env002_a_divergence_is_a_warning(tmp_path):
    files = good_files()
    files["env/prod.env"] += "LOG_LEVEL=$HOME\n"
    [f] = [f for f in findings(project(tmp_path, files)) if f.rule == "ENV002"]
    assert (f.severity, f.where) == ("warning", "env/prod.env:3")
    assert f.message.startswith("LOG_LEVEL: unbraced $VAR")


def test_env003_an_unknown_variable_suggests_the_nearest_name(tmp_path):
    files = good_files()
    files["env/prod.env"] += "POSTGRES_USR=app\nCOMPLETELY_DIFFERENT=1\n"
    found = [f for f in findings(project(tmp_path, files)) if f.rule == "ENV003"]
    assert [(f.where, f.message) for f in found] == [
        ("env/prod.env:3", "unknown variable POSTGRES_USR (did you mean POSTGRES_USER?)"),
        ("env/prod.env:4", "unknown variable COMPLETELY_DIFFERENT (add it to .env.example if the stack reads it)"),
    ]


def test_env004_required_but_missing(tmp_path):
    found = findings(project(tmp_path, {"env/prod.env": "POSTGRES_USER=app\nSITE_ADDRESS=\n"}))
    assert sorted((f.where, f.severity) for f in found if f.rule == "ENV004") == [
        ("POSTGRES_PASSWORD", "error"),
        ("SITE_ADDRESS", "error"),
    ]
    assert "env/prod.local.env" in str(found[0])


def test_env004_the_process_environment_can_supply_it(tmp_path):
    root = project(tmp_path, {"env/prod.env": GOOD_COMMITTED})
    assert findings(root, environ={"POSTGRES_PASSWORD": STRONG}) == []


@pytest.mark.parametrize(
    ("value", "rule"),
    [
        ("xK9#mQ2$", "ENV005"),
        ("s3cr3tvalue", "ENV005"),
        ("a" * 40, "ENV006"),
        ("abc" * 14, "ENV006"),
        *[(p, "ENV007") for p in PLACEHOLDERS],
    ],
)
def test_weak_secrets(tmp_path, value, rule):
    found = [f for f in findings(project(tmp_path, good_files(value))) if f.rule == rule]
    assert [(f.severity, f.where) for f in found] == [("error", "env/prod.local.env:1")]
    assert "POSTGRES_PASSWORD" in found[0].message


def test_weak_secrets_are_warnings_when_unprotected(tmp_path):
    root = project(tmp_path, {"env/dev.env": GOOD_COMMITTED, "env/dev.local.env": "POSTGRES_PASSWORD=changeme\n"})
    found = findings(root, env="dev", protected=False)
    assert rules(found) == {"ENV005", "ENV006", "ENV007"}
    assert {f.severity for f in found} == {"warning"}


@pytest.mark.parametrize(("protected", "severity"), [(True, "error"), (False, "warning")])
def test_env008_a_secret_in_a_committed_file(tmp_path, protected, severity):
    files = {"env/prod.env": GOOD_COMMITTED + f"POSTGRES_PASSWORD={STRONG}\n"}
    found = findings(project(tmp_path, files), protected=protected)
    assert [(f.rule, f.severity, f.where) for f in found] == [("ENV008", severity, "env/prod.env:3")]
    assert "env/prod.local.env" in found[0].message


def test_env008_quiet_for_local_files_and_empty_values(tmp_path):
    files = good_files()
    files["env/base.env"] = "POSTGRES_PASSWORD=\n"
    files["env/local.env"] = f"POSTGRES_PASSWORD={STRONG}\n"
    assert "ENV008" not in rules(findings(project(tmp_path, files)))


# --- protected-environment and compose rules -----------------------------------------


@pytest.mark.parametrize("value", ["true", "1", "yes", "ON"])
def test_env013_debug_on_in_a_protected_environment(tmp_path, value):
    files = good_files()
    files["env/prod.env"] += f"DEBUG={value}\n"
    root = project(tmp_path, files)
    assert [(f.rule, f.severity, f.where) for f in findings(root)] == [("ENV013", "error", "env/prod.env:3")]
    assert findings(root, protected=False) == []


def test_env013_debug_off_and_log_level_debug(tmp_path):
    files = good_files()
    files["env/prod.env"] += "DEBUG=false\nLOG_LEVEL=debug\n"
    root = project(tmp_path, files)
    assert [(f.rule, f.severity) for f in findings(root)] == [("ENV013", "warning")]
    assert findings(root, protected=False) == []


def test_env014_a_compose_file_reads_an_undeclared_variable(tmp_path):
    compose = (
        "services:\n"
        "  db:\n"
        "    image: postgres\n"
        "    # ${IN_A_COMMENT} is not read\n"
        "    environment:\n"
        "      USER: ${POSTGRES_USER:-app}\n"
        "      LITERAL: $${NOT_A_REFERENCE}\n"
        "      X: ${UNDECLARED:?set it}\n"
    )
    found = findings(project(tmp_path, good_files(), compose=compose))
    assert [(f.rule, f.severity, f.where) for f in found] == [("ENV014", "warning", "compose/compose.yaml:8")]
    assert "${UNDECLARED}" in found[0].message


# --- git rules, in a real repository ------------------------------------------------------


def sh_git(root: pathlib.Path, *args: str) -> None:
    subprocess.run(
        [
            "git",
            "-C",
            str(root),
            "-c",
            "user.email=t@example.com",
            "-c",
            "user.name=t",
            "-c",
            "commit.gpgsign=false",
            *args,
        ],
        check=True,
        capture_output=True,
    )


def repo(root: pathlib.Path, files: dict[str, str], gitignore: str | None = "env/*.local.env\nenv/local.env\n"):
    project(root, files)
    sh_git(root, "init", "-q")
    if gitignore is not None:
        (root / ".gitignore").write_text(gitignore)
    return root


def git_runner():
    """The git callable exactly as envops.run_checks builds it."""
    runner = Runner(echo=False)

    def git(cmd, stdin=None):
        return runner.run(cmd, check=False, quiet=True, stdin=stdin)

    return git


def git_findings(root: pathlib.Path):
    return [f for f in findings(root, git=git_runner()) if f.rule in {"ENV009", "ENV010", "ENV011", "ENV012"}]


def test_git_rules_quiet_on_a_good_repository(tmp_path):
    root = repo(tmp_path, good_files())
    sh_git(root, "add", "-A")
    sh_git(root, "commit", "-q", "-m", "init")
    assert git_findings(root) == []


def test_env009_a_local_file_not_ignored(tmp_path):
    root = repo(tmp_path, good_files(), gitignore="env/local.env\n")
    assert [(f.rule, f.where) for f in git_findings(root)] == [("ENV009", "env/prod.local.env")]


def test_env010_a_tracked_local_file(tmp_path):
    root = repo(tmp_path, good_files())
    sh_git(root, "add", "-f", "env/prod.local.env")
    found = git_findings(root)
    assert ("ENV010", "env/prod.local.env") in [(f.rule, f.where) for f in found]
    assert "ENV011" not in rules(found)
    # Its content is tracked too, but ENV010 says so: no ENV012 for the env file itself.
    assert "ENV012" not in rules(found)
    # A copy of the secret in another tracked file is ENV012.
    (root / "notes.txt").write_text((root / "env/prod.local.env").read_text())
    sh_git(root, "add", "notes.txt")
    assert ("ENV012", "notes.txt:1") in [(f.rule, f.where) for f in git_findings(root)]


def test_env011_a_local_file_committed_in_the_past(tmp_path):
    root = repo(tmp_path, good_files(), gitignore=None)
    sh_git(root, "add", "-A")
    sh_git(root, "commit", "-q", "-m", "oops")
    sh_git(root, "rm", "-q", "--cached", "env/prod.local.env")
    (root / ".gitignore").write_text("env/*.local.env\nenv/local.env\n")
    sh_git(root, "add", ".gitignore")
    sh_git(root, "commit", "-q", "-m", "ignore it")
    found = git_findings(root)
    assert [(f.rule, f.severity, f.where) for f in found] == [("ENV011", "error", "env/prod.local.env")]
    assert "rotate" in found[0].message


def test_env012_a_secret_copied_into_a_tracked_file(tmp_path):
    root = repo(tmp_path, good_files())
    (root / "notes.md").write_text(f"# notes\n\nthe db password is {STRONG}, do not share\n")
    sh_git(root, "add", "-A")
    found = git_findings(root)
    assert [(f.rule, f.where) for f in found] == [("ENV012", "notes.md:3")]
    assert "POSTGRES_PASSWORD" in found[0].message


# --- a plain Compose project: compose.yml + .env, no env/ folder, no .env.example ------------

COMPOSE_YML = "services:\n  app:\n    image: busybox\n    environment:\n      SECRET_KEY: ${SECRET_KEY}\n"


def plain(root: pathlib.Path, dotenv: str) -> pathlib.Path:
    (root / "compose.yml").write_text(COMPOSE_YML)
    (root / ".env").write_text(dotenv)
    return root


def plain_findings(root: pathlib.Path, env: str = "prod", protected: bool = True, environ=None, git=None):
    found = envcheck.check(
        root,
        env,
        protected,
        layer_files(root / "env", env, root, project_dir=root),
        {},  # no .env.example
        environ or {},
        [root / "compose.yml"],
        git,
    )
    for f in found:
        for value in [*SECRETS, "changethis"]:
            assert value not in str(f), f"{f.rule} shows a secret value"
    return found


@pytest.mark.parametrize("value", ["changethis", "changeme", "example", "password", "secret", "xxx", "todo"])
def test_a_placeholder_in_dotenv_is_found_by_the_name_rule(tmp_path, value):
    root = plain(tmp_path, f"POSTGRES_USER=app\nSECRET_KEY={value}\n")
    found = plain_findings(root)
    assert ("ENV007", ".env:2", "error") in [(f.rule, f.where, f.severity) for f in found]
    # POSTGRES_USER is no secret: nothing about it
    assert not [f for f in found if "POSTGRES_USER" in f.message]


def test_an_empty_secret_is_a_finding_and_a_strong_one_none(tmp_path):
    root = plain(tmp_path, f"SECRET_KEY=\nAPI_TOKEN={STRONG}\nLOG_LEVEL=info\n")
    assert [(f.rule, f.where, f.message) for f in plain_findings(root)] == [
        ("ENV007", ".env:1", "secret SECRET_KEY is empty: set a strong value")
    ]


def test_weak_secrets_in_dotenv_are_warnings_in_dev(tmp_path):
    root = plain(tmp_path, "DB_PASSWORD=s3cr3tvalue\n")
    found = plain_findings(root, env="dev", protected=False)
    assert {f.rule for f in found} >= {"ENV005", "ENV006"}
    assert {f.severity for f in found} == {"warning"}


def test_a_secret_in_a_committed_env_file_points_at_the_real_local_file(tmp_path):
    root = plain(tmp_path, "")
    (root / "env").mkdir()
    (root / "env" / "prod.env").write_text(f"API_TOKEN={STRONG}\n")
    found = plain_findings(root)
    assert [(f.rule, f.where, f.message) for f in found] == [
        ("ENV008", "env/prod.env:1", "secret API_TOKEN is set in a committed file; move it to env/prod.local.env")
    ]


def test_env004_names_dotenv_when_the_project_has_no_env_folder(tmp_path):
    root = plain(tmp_path, "POSTGRES_USER=app\n")
    schema = envschema.parse_text("# [required] Public name.\nSITE_ADDRESS=\n")
    found = envcheck.check(
        root, "prod", True, layer_files(root / "env", "prod", root, root), schema, {}, [root / "compose.yml"], None
    )
    assert [f.message for f in found if f.rule == "ENV004"] == ["required but not set: set it in .env"]


def plain_git_findings(root: pathlib.Path, env: str = "prod", protected: bool = True):
    rules_ = {"ENV009", "ENV010", "ENV011", "ENV012"}
    return [f for f in plain_findings(root, env, protected, git=git_runner()) if f.rule in rules_]


def test_a_committed_dotenv_with_a_secret_is_an_error_for_prod_with_the_fix(tmp_path):
    root = plain(tmp_path, f"POSTGRES_USER=app\nSECRET_KEY={STRONG}\n")
    sh_git(root, "init", "-q")
    sh_git(root, "add", "-A")
    sh_git(root, "commit", "-q", "-m", "init")
    found = plain_git_findings(root)
    assert [(f.rule, f.where, f.severity) for f in found] == [("ENV010", ".env", "error")]
    assert "`git rm --cached .env`, add `.env` to .gitignore" in found[0].message
    assert "SECRET_KEY" in found[0].message
    # In dev it is a warning.
    assert {f.severity for f in plain_git_findings(root, "dev", False) if f.rule == "ENV010"} == {"warning"}


def test_a_committed_dotenv_with_an_env_folder_sends_its_secrets_there(tmp_path):
    root = plain(tmp_path, f"SECRET_KEY={STRONG}\n")
    (root / "env").mkdir()
    sh_git(root, "init", "-q")
    sh_git(root, "add", "-A")
    found = plain_git_findings(root)
    assert "`git rm --cached .env`, move its secrets to env/prod.local.env" in found[0].message


def test_a_committed_dotenv_without_secrets_is_fine(tmp_path):
    # Compose's own docs commit a .env of defaults: no secret, no finding.
    root = plain(tmp_path, "POSTGRES_USER=app\nCOMPOSE_PROJECT_NAME=shop\n")
    sh_git(root, "init", "-q")
    sh_git(root, "add", "-A")
    assert plain_git_findings(root) == []


def test_an_ignored_dotenv_with_secrets_is_fine_unless_it_was_committed_once(tmp_path):
    root = plain(tmp_path, f"SECRET_KEY={STRONG}\n")
    sh_git(root, "init", "-q")
    (root / ".gitignore").write_text(".env\n")
    assert plain_git_findings(root) == []
    sh_git(root, "add", "-f", ".env")
    sh_git(root, "commit", "-q", "-m", "oops")
    sh_git(root, "rm", "-q", "--cached", ".env")
    sh_git(root, "commit", "-q", "-m", "untrack")
    assert [(f.rule, f.where) for f in plain_git_findings(root)] == [("ENV011", ".env")]


def test_a_dotenv_with_secrets_not_ignored(tmp_path):
    root = plain(tmp_path, f"SECRET_KEY={STRONG}\n")
    sh_git(root, "init", "-q")
    found = plain_git_findings(root)
    assert [(f.rule, f.where) for f in found] == [("ENV009", ".env")]
    assert "add `.env` to .gitignore" in found[0].message
