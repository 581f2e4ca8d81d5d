"""Adapter tier: the Invoke tasks produce the expected compose commands.

The real `tasks.session()` runs (project loaded from the repo root, environment
chosen, `inv --dry` honoured); only the Runner is replaced by a FakeRunner that
records Commands and answers with canned Compose output. No Docker."""

from __future__ import annotations

import json
import secrets
import shutil
import subprocess
import sys

import invoke
import pytest
from invoke.exceptions import Exit

import stackyard.core.runner
from stackyard import cli, tasks
from stackyard.core.runner import Result
from stackyard.deploy import plan
from stackyard.stack import execs

from .fakes import ROOT, FakeRunner, after_base

C = ROOT / "compose"
FILES = {
    "dev": [C / "compose.yaml", C / "compose.dev.yaml"],
    "staging": [C / "compose.yaml", C / "compose.prod.yaml", C / "compose.staging.yaml"],
    "prod": [C / "compose.yaml", C / "compose.prod.yaml"],
}
LOG_LINES = [
    "2026-01-01T10:00:00Z api-1  | GET /health 200\n",
    "2026-01-01T10:00:01Z db-1   | checkpoint starting\n",
    "2026-01-01T10:00:02Z api-1  | \x1b[32mGET /HEALTH\x1b[0m 200\n",
]
# Made at run time: a literal would sit in this tracked file, and env.check's
# ENV012 (a secret's value in a tracked file) would rightly refuse it.
SECRETS = {key: secrets.token_urlsafe(32) for key in ("POSTGRES_PASSWORD", "REDIS_PASSWORD", "GRAFANA_ADMIN_PASSWORD")}
ENGINE = '{"Client":{"Version":"27.3.1"},"Server":{"Version":"27.3.1","ApiVersion":"1.47"}}'
# The rendered config of the stack PS_JSON_LINES shows: api and db running, migrate (a
# one-shot api waits for) done, and migrate builds the image api runs.
STACK_CONFIG = json.dumps(
    {
        "services": {
            "api": {
                "image": "stackyard-app:dev",
                "depends_on": {"migrate": {"condition": "service_completed_successfully"}},
                "ports": [{"host_ip": "127.0.0.1", "target": 8000, "published": "8000", "protocol": "tcp"}],
            },
            "db": {
                "image": "pgvector/pgvector:pg17",
                "ports": [{"host_ip": "127.0.0.1", "target": 5432, "published": "5432", "protocol": "tcp"}],
            },
            "migrate": {"image": "stackyard-app:dev", "build": {"context": ".."}},
        }
    }
)


@pytest.fixture
def fake(monkeypatch):
    """The FakeRunner every task in the test gets; the cwd is the repo root, as for `inv`."""
    monkeypatch.chdir(ROOT)
    runner = FakeRunner({" config --format json": Result(0, STACK_CONFIG)}, log_lines=LOG_LINES)

    def make_runner(dry: bool = False, **kwargs):
        runner.dry = dry
        return runner

    monkeypatch.setattr(stackyard.core.runner, "Runner", make_runner)
    monkeypatch.setattr(execs, "has_tty", lambda: False)  # as in CI
    # Strong secrets in the process environment, so that the env.check that
    # gates staging and prod passes (its own tests are test_envcheck.py).
    for key, value in SECRETS.items():
        monkeypatch.setenv(key, value)
    return runner


@pytest.fixture
def c():
    return invoke.Context()


def files_of(argv) -> list[str]:
    return [argv[i + 1] for i, a in enumerate(argv) if a == "--file"]


def project_of(argv) -> str:
    return argv[argv.index("--project-name") + 1]


def assert_targets(cmd, env: str) -> None:
    assert cmd.argv[:2] == ("docker", "compose")
    assert project_of(cmd.argv) == f"stackyard-{env}"
    assert files_of(cmd.argv) == [str(f) for f in FILES[env]]
    assert str(ROOT / "env" / f"{env}.env") in cmd.argv


def test_dev_builds_starts_and_waits_then_shows_the_status(fake, c, capsys):
    tasks.dev(c, env="dev")
    up, *status = fake.compose_commands()  # (a fresh clone's first run also asks git)
    assert_targets(up, "dev")
    assert after_base(up.argv) == ("up", "--detach", "--build", "--wait", "--wait-timeout", "180")
    assert fake.modes[fake.commands.index(up)] == "stream"
    # the containers and the config (which services should run), read side by side
    assert sorted(after_base(cmd.argv) for cmd in status) == [
        ("config", "--format", "json"),
        ("ps", "--all", "--format", "json"),
    ]
    assert "dev is up: http://127.0.0.1:8000" in capsys.readouterr().out


def test_dev_uses_the_default_environment_and_timeout(fake, c):
    tasks.dev(c, timeout="60")
    assert_targets(fake.compose_commands()[0], "dev")
    assert after_base(fake.compose_commands()[0].argv)[-2:] == ("--wait-timeout", "60")


def test_stackyard_env_chooses_the_environment(fake, c, monkeypatch):
    monkeypatch.setenv("STACKYARD_ENV", "staging")
    tasks.up(c)
    assert_targets(fake.compose_commands()[0], "staging")


def test_up_prod(fake, c, capsys):
    tasks.up(c, env="prod")
    assert_targets(fake.compose_commands()[0], "prod")
    assert after_base(fake.compose_commands()[0].argv) == (
        "up",
        "--detach",
        "--build",
        "--wait",
        "--wait-timeout",
        "180",
    )
    assert "prod is up: https://localhost" in capsys.readouterr().out


def test_up_some_services_without_build(fake, c):
    tasks.up(c, services="api,worker", no_build=True)
    check, up = fake.compose_commands()[:2]
    assert after_base(check.argv) == ("config", "--services")
    assert after_base(up.argv) == ("up", "--detach", "--wait", "--wait-timeout", "180", "api", "worker")


def test_down_keeps_volumes(fake, c):
    tasks.down(c, env="prod")
    (down,) = fake.commands
    assert_targets(down, "prod")
    assert after_base(down.argv) == ("down", "--remove-orphans", "--timeout", "10")


def test_down_volumes_on_prod_is_refused_and_runs_nothing(fake, c, capsys):
    with pytest.raises(Exit) as info:
        tasks.down(c, env="prod", volumes=True)
    assert info.value.code == 1
    assert fake.commands == []
    err = capsys.readouterr().err
    assert err.startswith("stackyard: error: refusing to delete the volumes")
    assert "--confirm-data-loss" in err


def test_down_volumes_on_prod_with_confirm_data_loss(fake, c):
    tasks.down(c, env="prod", volumes=True, confirm_data_loss=True)
    (down,) = fake.commands
    assert_targets(down, "prod")
    assert after_base(down.argv) == ("down", "--remove-orphans", "--timeout", "10", "--volumes")


def test_down_volumes_on_dev_needs_no_confirmation(fake, c):
    tasks.down(c, volumes=True)
    assert after_base(fake.commands[0].argv)[-1] == "--volumes"


def test_ps_json_prints_json(fake, c, capsys):
    tasks.ps_(c, json=True)
    (ps,) = fake.commands
    assert after_base(ps.argv) == ("ps", "--all", "--format", "json")
    rows = json.loads(capsys.readouterr().out)
    assert [r["service"] for r in rows] == ["api", "db", "migrate"]
    assert rows[0] == {
        "service": "api",
        "name": "stackyard-dev-api-1",
        "state": "running",
        "health": "healthy",
        "exit_code": 0,
        "urls": ["http://127.0.0.1:8000"],
    }


def test_ps_prints_a_table(fake, c, capsys):
    tasks.ps_(c)
    out = capsys.readouterr().out
    assert out.splitlines()[0].split() == ["SERVICE", "STATE", "HEALTH", "PUBLISHED"]
    assert "migrate  exited (0)" in out


@pytest.mark.parametrize("services", ["api,migrate", "api, migrate", "api migrate"])
def test_build_services_builds_the_service_that_builds_their_image(fake, c, services, capsys):
    tasks.build(c, services=services)
    # api runs the image migrate builds: migrate is built, once
    assert fake.subcommands() == [("config", "--format", "json"), ("build", "migrate")]
    assert "api runs stackyard-app:dev, which migrate builds: building migrate" in capsys.readouterr().out


def test_build_everything(fake, c):
    tasks.build(c)
    assert fake.subcommands() == [("build",)]


def test_restart(fake, c):
    tasks.restart(c, services="worker,listener", env="staging")
    assert fake.subcommands() == [("config", "--services"), ("restart", "worker", "listener")]
    assert_targets(fake.commands[1], "staging")
    assert fake.modes[1] == "stream"


def test_logs_options_and_grep(fake, c, capsys):
    tasks.logs(c, services="api", follow=True, since="10m", tail="5", grep="health")
    logs = fake.commands[-1]
    assert fake.modes[-1] == "lines"
    # stdout is not a terminal here: no colours asked for
    assert after_base(logs.argv) == (
        "logs",
        "--timestamps",
        "--follow",
        "--since",
        "10m",
        "--tail",
        "5",
        "--no-color",
        "api",
    )
    assert logs.argv[logs.argv.index("--ansi") + 1] == "never"
    assert capsys.readouterr().out == LOG_LINES[0] + LOG_LINES[2]


def test_logs_without_grep_prints_every_line(fake, c, capsys):
    tasks.logs(c)
    assert fake.subcommands() == [("ps", "--all", "--format", "json"), ("logs", "--timestamps", "--no-color")]
    assert capsys.readouterr().out == "".join(LOG_LINES)


def test_logs_of_a_stopped_environment_says_so_and_exits_1(fake, c, capsys):
    fake.responses = {" ps --all --format json": Result(0, "")}
    with pytest.raises(Exit) as info:
        tasks.logs(c)
    assert info.value.code == 1
    assert capsys.readouterr().err == (
        "stackyard: error: no containers in project stackyard-dev (dev): no logs to show: start it with `inv up`\n"
    )


def test_exec_with_the_words_after_double_dash(fake, c, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["inv", "exec", "db", "--", "psql", "-c", "select 1"])
    tasks.exec_(c, "db")
    ps, exec_ = fake.commands
    assert after_base(ps.argv) == ("ps", "--all", "--format", "json")  # db runs
    assert after_base(exec_.argv) == ("exec", "--no-TTY", "db", "psql", "-c", "select 1")
    assert str(exec_).endswith("exec --no-TTY db psql -c 'select 1'")
    assert fake.modes[1] == "interactive"


def test_exec_falls_back_to_invokes_remainder(fake, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["inv", "exec", "db"])
    tasks.exec_(invoke.Context(remainder="psql -c 'select 1'"), "db")
    assert after_base(fake.commands[-1].argv) == ("exec", "--no-TTY", "db", "psql", "-c", "select 1")


def test_exec_without_a_command_says_how(fake, c, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["inv", "exec", "db"])
    with pytest.raises(Exit) as info:
        tasks.exec_(c, "db")
    assert info.value.code == 1
    assert "usage: inv exec db -- COMMAND" in capsys.readouterr().err
    assert fake.commands == []


def test_exec_exits_with_the_commands_code_and_adds_no_line(fake, c, monkeypatch, capsys):
    fake.responses = {" exec ": Result(7), **fake.responses}
    monkeypatch.setattr(sys, "argv", ["inv", "exec", "db", "--", "sh", "-c", "exit 7"])
    with pytest.raises(Exit) as info:
        tasks.exec_(c, "db")
    assert info.value.code == 7
    assert capsys.readouterr().err == ""  # the command's own output said why


def test_exec_in_a_stopped_service_says_so_and_runs_nothing(fake, c, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["inv", "exec", "migrate", "--", "true"])
    with pytest.raises(Exit) as info:
        tasks.exec_(c, "migrate")
    assert info.value.code == 1
    assert capsys.readouterr().err == (
        "stackyard: error: service migrate is not running in dev (project stackyard-dev; its container is exited): "
        "start it with `inv up -s migrate`\n"
    )
    assert not [cmd for cmd in fake.subcommands() if cmd[0] == "exec"]


def test_shell_exits_with_the_shells_code(fake, c):
    fake.responses = {" exec ": Result(3), **fake.responses}
    with pytest.raises(Exit) as info:
        tasks.shell(c, "api")
    assert info.value.code == 3


def test_shell(fake, c):
    tasks.shell(c, "api")
    assert after_base(fake.commands[-1].argv)[:5] == ("exec", "--no-TTY", "api", "sh", "-c")


def test_unknown_service_lists_the_services(fake, c, capsys):
    with pytest.raises(Exit) as info:
        tasks.logs(c, services="api,apii")
    assert info.value.code == 1
    assert capsys.readouterr().err == (
        "stackyard: error: unknown service 'apii': services: api, db, listener, migrate, redis, worker\n"
    )
    assert fake.subcommands() == [("config", "--services")]  # no logs command


def test_unknown_environment_lists_the_known_ones(fake, c, capsys):
    with pytest.raises(Exit) as info:
        tasks.up(c, env="qa")
    assert info.value.code == 1
    err = capsys.readouterr().err
    assert err.startswith("stackyard: error: unknown environment 'qa'")
    assert "known: dev, prod, single, staging, swarm" in err
    assert fake.commands == []


def test_verbose_adds_the_traceback(fake, c, capsys):
    with pytest.raises(Exit):
        tasks.up(c, env="qa", verbose=True)
    err = capsys.readouterr().err
    assert "Traceback" in err and err.rstrip().endswith(
        "(add compose/compose.qa.yaml or [tool.stackyard.environments.qa])"
    )


def test_config_masks_the_secrets(fake, c, capsys):
    secret = SECRETS["POSTGRES_PASSWORD"]
    fake.responses = {" config": Result(0, f"services:\n  db:\n    environment:\n      POSTGRES_PASSWORD: {secret}\n")}
    tasks.config(c)
    out = capsys.readouterr().out
    assert f"POSTGRES_PASSWORD: **** ({len(secret)} chars)" in out and secret not in out


def doctor_runner(monkeypatch, tmp_path) -> FakeRunner:
    fake = FakeRunner(
        {
            "docker version": Result(0, ENGINE),
            "compose version": Result(0, '{"version":"2.29.7"}'),
            "docker info": Result(0, str(tmp_path) + "\n"),
        }
    )
    monkeypatch.chdir(ROOT)
    monkeypatch.setattr(stackyard.core.runner, "Runner", lambda dry=False, **_: fake)
    monkeypatch.setattr(shutil, "which", lambda name: "/usr/bin/" + name)
    monkeypatch.setattr(shutil, "disk_usage", lambda path: shutil._ntuple_diskusage(100 * 2**30, 0, 100 * 2**30))
    return fake


def test_doctor_all_ok(c, monkeypatch, tmp_path, capsys):
    monkeypatch.delenv("DOCKER_BUILDKIT", raising=False)
    doctor_runner(monkeypatch, tmp_path)
    tasks.doctor(c)
    out = capsys.readouterr().out
    rows = [line.split(None, 2) for line in out.splitlines()[1:]]
    assert rows[0] == ["OK", "engine", "Docker 27.3.1 (API 1.47)"]
    assert [r[1] for r in rows] == ["engine", "compose", "buildkit", "watch", "port", "port", "disk"]
    # api's and db's ports are held by this stack's own containers (ps): fine
    assert "127.0.0.1:8000 for api: in use by this stack" in out
    assert "FAIL" not in out


def test_doctor_before_env_init_names_the_fix(c, monkeypatch, tmp_path, capsys):
    monkeypatch.delenv("DOCKER_BUILDKIT", raising=False)
    monkeypatch.delenv("POSTGRES_PASSWORD", raising=False)
    fake = doctor_runner(monkeypatch, tmp_path)
    missing = (
        "error while interpolating services.db.environment.POSTGRES_PASSWORD: required variable "
        "POSTGRES_PASSWORD is missing a value: set POSTGRES_PASSWORD (see .env.example)\n"
    )
    fake.responses[" config --format json"] = Result(1, "", missing)
    with pytest.raises(Exit):
        tasks.doctor(c, env="prod")
    line = next(ln for ln in capsys.readouterr().out.splitlines() if "variables" in ln)
    assert line.split()[:2] == ["FAIL", "variables"]
    assert "POSTGRES_PASSWORD is not set for prod  -> `inv env.init --env prod` writes env/prod.local.env" in line


def test_doctor_failing_check_exits_non_zero(c, monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("DOCKER_BUILDKIT", "0")
    doctor_runner(monkeypatch, tmp_path)
    with pytest.raises(Exit) as info:
        tasks.doctor(c)
    assert info.value.code == 1
    captured = capsys.readouterr()
    assert "FAIL  buildkit" in captured.out
    assert "stackyard: error: 1 check(s) failed: buildkit" in captured.err


# --- `inv --dry`: the real Runner prints the command lines and runs nothing ---


class ReadOnlyPopen(subprocess.Popen):
    """Lets the reads of a dry run start (git for env.check, `compose config` for
    the services); any other process fails the test."""

    def __init__(self, argv, *args, **kwargs):
        line = " ".join(argv) + " "
        if argv[0] != "git" and " config " not in line:
            raise AssertionError(f"a process was started in dry-run: {line}")
        super().__init__(argv, *args, **kwargs)


@pytest.fixture
def read_only(monkeypatch):
    """The real Runner, from the repo root, allowed to start only ReadOnlyPopen's reads."""
    monkeypatch.chdir(ROOT)
    for key, value in SECRETS.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(subprocess, "Popen", ReadOnlyPopen)


@pytest.fixture
def dry(read_only):
    return invoke.Context(config=invoke.Config(overrides={"run": {"dry": True}}))


@pytest.mark.parametrize("env", ["dev", "staging", "prod"])
def test_dry_up_prints_the_command_line(dry, capsys, env):
    tasks.up(dry, env=env)
    files = " ".join(f"--file {f}" for f in FILES[env])
    named = present_env_files(env)
    local = ROOT / "env" / "dev.local.env"
    if env == "dev" and local not in named:  # a fresh clone: the dry run names the file the real run makes
        named.append(local)
    env_files = " ".join(f"--env-file {f}" for f in named)
    assert capsys.readouterr().err == (
        f"[dry-run] $ docker compose --project-name stackyard-{env} {files} {env_files} "
        "up --detach --build --wait --wait-timeout 180\n"
    )


@pytest.mark.parametrize("env", ["dev", "staging", "prod"])
def test_dry_down_volumes_prints_and_runs_nothing(dry, capsys, env):
    tasks.down(dry, env=env, volumes=True, confirm_data_loss=True)
    line = capsys.readouterr().err
    assert line.startswith(f"[dry-run] $ docker compose --project-name stackyard-{env} --file {C / 'compose.yaml'} ")
    assert line.endswith(" down --remove-orphans --timeout 10 --volumes\n")


def test_dry_run_through_the_invoke_program(read_only, capsys):
    """`inv --dry up --env staging --services api,worker`, parsed by Invoke itself."""
    program = invoke.Program(namespace=tasks.namespace, version="test")
    program.run(["inv", "--dry", "up", "--env", "staging", "--services", "api,worker"], exit=False)
    line = capsys.readouterr().err
    assert line.startswith("[dry-run] $ docker compose --project-name stackyard-staging ")
    assert f"--file {C / 'compose.staging.yaml'}" in line
    assert line.endswith(" up --detach --build --wait --wait-timeout 180 api worker\n")


def present_env_files(env: str) -> list:
    """env/<env>.env, plus a developer's base.env and <env>.local.env when they exist."""
    names = ["base.env", f"{env}.env", f"{env}.local.env"]
    found = [ROOT / "env" / n for n in names if (ROOT / "env" / n).exists()]
    assert ROOT / "env" / f"{env}.env" in found
    return found


# --- every task: --verbose with its help, and the one-line errors ---


# Invoke hands each help text over once (it pops them while parsing): a fresh
# process reads them, as `inv TASK --help` does.
VERBOSE_OF_EVERY_TASK = """
import json
from stackyard import tasks

def walk(collection, prefix=""):
    for name, t in collection.tasks.items():
        args = {a.name: a for a in t.get_arguments()}
        yield prefix + name, sorted(args["verbose"].names), args["verbose"].help
    for name, sub in collection.collections.items():
        yield from walk(sub, prefix + name + ".")

print(json.dumps(list(walk(tasks.namespace))))
"""


def test_every_task_has_verbose_with_its_help():
    proc = subprocess.run([sys.executable, "-c", VERBOSE_OF_EVERY_TASK], capture_output=True, text=True, check=True)
    found = {name: (names, text) for name, names, text in json.loads(proc.stdout)}
    assert len(found) == 32
    assert {text for _, text in found.values()} == {cli.VERBOSE_HELP}
    assert found["up"][0] == ["v", "verbose"]
    assert found["prod-deploy"][0] == ["verbose"]  # auto_shortflags=False: the long flag only


def test_verbose_through_the_invoke_program(fake, capsys):
    program = invoke.Program(namespace=tasks.namespace, version="test")
    with pytest.raises(SystemExit) as info:
        program.run(["inv", "up", "--env", "qa", "--verbose"])
    assert info.value.code == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and "stackyard: error: unknown environment 'qa'" in err


def test_prod_deploy_help_states_the_plans_health_timeout():
    # A fresh process: Invoke consumes a task's help texts when it parses its arguments.
    code = "from stackyard import tasks; print(tasks.prod_deploy.help['health_timeout'])"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert f"(default {plan.HEALTH_TIMEOUT})" in proc.stdout


# --- `inv TASK --help` and `-h`: every task, positional arguments or not ---

# Each task's name and option help texts, read in a fresh process (Invoke hands them over once).
HELP_OF_EVERY_TASK = """
import json
from stackyard import tasks

def walk(collection, prefix=""):
    for name, t in collection.tasks.items():
        yield prefix + name, {a.name: a.help for a in t.get_arguments()}
    for name, sub in collection.collections.items():
        yield from walk(sub, prefix + name + ".")

print(json.dumps(dict(walk(tasks.namespace))))
"""


def squeezed(text: str) -> str:
    """Text without whitespace: Invoke wraps long help texts (and may break at a hyphen)."""
    return "".join(text.split())


def listed_tasks() -> list[str]:
    out = subprocess.run(
        [sys.executable, "-m", "invoke", "--list", "--list-format", "json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout

    def names(coll, prefix=""):
        for t in coll["tasks"]:
            yield prefix + t["name"]
        for sub in coll["collections"]:
            yield from names(sub, prefix + sub["name"] + ".")

    return list(names(json.loads(out)))


def test_every_task_answers_help_with_its_usage_and_options():
    helps = json.loads(
        subprocess.run([sys.executable, "-c", HELP_OF_EVERY_TASK], capture_output=True, text=True, check=True).stdout
    )
    names = listed_tasks()
    assert sorted(names) == sorted(helps) and len(names) == 32
    # these wait for a positional argument: where Invoke took --help for its value
    assert {"exec", "shell", "env.explain", "env.diff", "db.restore"} <= set(names)
    runs = {
        name: subprocess.Popen(
            [sys.executable, "-m", "invoke", name, "--help"],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
        )
        for name in names
    }
    for name, proc in runs.items():
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, f"inv {name} --help: {err}"
        assert out.startswith(f"Usage: inv[oke] [--core-opts] {name} "), f"inv {name} --help: {out}"
        for option, text in helps[name].items():
            assert squeezed(text) in squeezed(out), f"inv {name} --help: no help for --{option}"


# `inv TASK -h` for every task, in one fresh process: each run parses a copy of the
# namespace, whose help texts Invoke has not handed over yet.
SHORT_HELP_OF_EVERY_TASK = """
import contextlib, copy, io, json, sys
import invoke
from stackyard import tasks

out = {}
for name in sys.argv[1:]:
    program = invoke.Program(namespace=copy.deepcopy(tasks.namespace), version="test")
    text = io.StringIO()
    with contextlib.redirect_stdout(text):
        try:
            program.run(["inv", name, "-h"])
            code = None
        except SystemExit as exc:
            code = exc.code
    out[name] = [code, text.getvalue()]
print(json.dumps(out))
"""


def test_every_task_answers_h_as_help():
    helps = json.loads(
        subprocess.run([sys.executable, "-c", HELP_OF_EVERY_TASK], capture_output=True, text=True, check=True).stdout
    )
    proc = subprocess.run(
        [sys.executable, "-c", SHORT_HELP_OF_EVERY_TASK, *helps], cwd=ROOT, capture_output=True, text=True, check=True
    )
    for name, (code, out) in json.loads(proc.stdout).items():
        assert code == 0, f"inv {name} -h: {out}"
        assert out.startswith(f"Usage: inv [--core-opts] {name} "), f"inv {name} -h: {out}"
        for option, text in helps[name].items():
            assert squeezed(text) in squeezed(out), f"inv {name} -h: no help for --{option}"


def test_help_after_a_missing_positional_through_the_invoke_program(capsys):
    program = invoke.Program(namespace=tasks.namespace, version="test")
    with pytest.raises(SystemExit) as info:
        program.run(["inv", "env.diff", "--help"])
    assert info.value.code == 0
    assert capsys.readouterr().out.startswith("Usage: inv [--core-opts] env.diff [--options]")


def test_a_core_flag_after_the_task_is_read_as_one_not_as_its_argument(fake, monkeypatch):
    """`inv exec --dry db -- true` is a dry run in db (pyinvoke/invoke#1084: --dry became the service)."""
    monkeypatch.setattr(sys, "argv", ["inv", "exec", "--dry", "db", "--", "true"])
    program = invoke.Program(namespace=tasks.namespace, version="test")
    program.run(["inv", "exec", "--dry", "db", "--", "true"], exit=False)
    assert fake.dry is True
    assert after_base(fake.commands[-1].argv) == ("exec", "--no-TTY", "db", "true")


def test_no_task_takes_h_for_itself():
    # hybrid's --host would have taken -h: it is -o
    code = "from stackyard import tasks; print(sorted(next(a for a in tasks.hybrid.get_arguments() if a.name == 'host').names))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == "['host', 'o']"


def test_the_db_tasks_state_their_default_environment():
    code = "from stackyard import tasks; print(tasks.restore.help['env']); print(tasks.backup.help['env'])"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.splitlines() == [tasks.DB_ENV_HELP] * 2
    assert "default: dev, or $STACKYARD_ENV" in tasks.DB_ENV_HELP and "--env prod" in tasks.DB_ENV_HELP


def test_the_parser_fix_is_in_place_and_would_not_be_installed_twice():
    # what the guard asks before installing it: true now, on this Invoke, thanks to it
    assert cli._invoke_reads_help_first()
