"""hybrid: the pure plan of `inv hybrid` (which containers stop, start and run
once, which variables point at published ports, which commands run), its text,
its compose argv, and the [tool.stackyard.hybrid] table. No Docker."""

from __future__ import annotations

import io
import os
import pathlib

import pytest

from stackyard import config
from stackyard.config import HostProcess, Hybrid
from stackyard.core.command import Command
from stackyard.errors import ConfigError, StackyardError
from stackyard.hybrid import plan as hybrid
from stackyard.hybrid import run as hybrid_run
from stackyard.hybrid.plan import Rewrite, _Unpublished, rewrite_value
from stackyard.session import Session
from tests.unit.fakes import FakeRunner, after_base, tmp_env

PG = "p%40ss"  # POSTGRES_PASSWORD "p@ss", as it stands in a URL
REDIS = "r3dis-secret"


def mask(text: str) -> str:
    return text.replace(PG, "****").replace(REDIS, "****")


def port(target: int, published: str, host_ip: str = "127.0.0.1") -> dict:
    return {"mode": "ingress", "host_ip": host_ip, "target": target, "published": published, "protocol": "tcp"}


APP_DEPS = {
    "db": {"condition": "service_healthy", "required": True},
    "redis": {"condition": "service_healthy", "required": True},
    "migrate": {"condition": "service_completed_successfully", "required": True},
}


def app_env() -> dict:
    return {
        "APP_ENV": "dev",
        "DATABASE_URL": f"postgresql://app:{PG}@db:5432/app?sslmode=disable",
        "REDIS_URL": f"redis://:{REDIS}@redis:6379/0",
        "CELERY_BROKER_URL": f"redis://:{REDIS}@redis:6379/1",
        "CELERY_RESULT_BACKEND": f"redis://:{REDIS}@redis:6379/2",
        "CACHE_TTL": "300",
    }


def dev_services() -> dict:
    """Shaped like `docker compose config --format json` of the reference stack's
    dev environment, with DB_PORT=15432 and REDIS_PORT=16379."""
    return {
        "db": {"environment": {"POSTGRES_USER": "app"}, "ports": [port(5432, "15432")]},
        "redis": {"environment": {"REDIS_PASSWORD": REDIS}, "ports": [port(6379, "16379")]},
        "migrate": {"environment": app_env(), "depends_on": {"db": APP_DEPS["db"]}},
        "api": {"environment": app_env(), "depends_on": APP_DEPS, "ports": [port(8000, "8000")]},
        "worker": {"environment": app_env(), "depends_on": APP_DEPS},
        "listener": {"environment": app_env(), "depends_on": APP_DEPS},
    }


def make_hybrid(cwd: pathlib.Path, requirements=("app/requirements.txt", "app/requirements-dev.txt")) -> Hybrid:
    return Hybrid(
        cwd=cwd,
        before=("migrate",),
        default=("api", "worker"),
        requirements=tuple(requirements),
        processes={
            "api": HostProcess(
                "api", ("uvicorn", "refapp.api:app", "--port", "${API_PORT:-8000}"), "${API_PORT:-8000}"
            ),
            "worker": HostProcess("worker", ("watchfiles", "celery -A refapp.worker worker", "refapp")),
            "listener": HostProcess("listener", ("watchfiles", "python -m refapp.listener", "refapp")),
        },
    )


@pytest.fixture
def env(tmp_path):
    return tmp_env(tmp_path)


@pytest.fixture
def cwd(tmp_path):
    return tmp_path / "app"


def plan_for(env, cwd, host=("api", "worker"), lookup=None, services=None, **kw):
    return hybrid.make_plan(
        env, services or dev_services(), make_hybrid(cwd), list(host), {} if lookup is None else lookup, **kw
    )


# --- rewrite_value -------------------------------------------------------------

DB = {"db": {5432: ("127.0.0.1", 15432)}}


def test_rewrite_keeps_credentials_and_query():
    value, used = rewrite_value("postgresql://app:p%40ss@db:5432/app?sslmode=disable", DB)
    assert value == "postgresql://app:p%40ss@127.0.0.1:15432/app?sslmode=disable"
    assert used == {"db"}


def test_rewrite_redis_with_empty_user_and_db_index():
    targets = {"redis": {6379: ("127.0.0.1", 16379)}}
    assert rewrite_value("redis://:pw@redis:6379/2", targets) == ("redis://:pw@127.0.0.1:16379/2", {"redis"})


def test_rewrite_several_hosts_in_one_value():
    db = {"db": {5432: ("127.0.0.1", 15432), 5433: ("127.0.0.1", 15433)}}
    assert rewrite_value("db:5432,db:5433", db) == ("127.0.0.1:15432,127.0.0.1:15433", {"db"})
    kafka = {"kafka": {9092: ("127.0.0.1", 19092)}, "kafka2": {9092: ("127.0.0.1", 29092)}}
    assert rewrite_value("kafka:9092,kafka2:9092", kafka) == ("127.0.0.1:19092,127.0.0.1:29092", {"kafka", "kafka2"})


@pytest.mark.parametrize(
    "value",
    [
        "mydb:5432",
        "postgresql://app:pw@mydb:5432/app",
        "db.example.com:5432",
        "replica.db:5432",
        "db-replica:5432",
        "db_old:5432",
        "db:54321",
    ],
)
def test_a_host_that_merely_contains_the_service_name_is_left_alone(value):
    assert rewrite_value(value, DB) == (value, set())


def test_a_port_the_service_does_not_have_is_left_alone():
    assert rewrite_value("postgresql://db:6000/app", DB) == ("postgresql://db:6000/app", set())


def test_user_and_password_are_not_a_host_and_port():
    # User "db" with the numeric password 5432: only the host after "@" is rewritten.
    assert rewrite_value("postgresql://db:5432@db:5432/app", DB) == ("postgresql://db:5432@127.0.0.1:15432/app", {"db"})


def test_an_unpublished_port_raises():
    with pytest.raises(_Unpublished) as info:
        rewrite_value("postgresql://app:pw@db:5432/app", {"db": {5432: None}})
    assert (info.value.service, info.value.port) == ("db", 5432)


# --- dependents and published ----------------------------------------------------


def test_dependents_are_transitive_and_exclude_the_roots():
    services = {
        "db": {},
        "api": {"depends_on": {"db": {}}},
        "caddy": {"depends_on": {"api": {}}},
        "proxy": {"depends_on": {"caddy": {}}},
        "worker": {"depends_on": {"db": {}}},
        "docs": {},
    }
    assert hybrid.dependents(services, {"api"}) == {"caddy", "proxy"}
    assert hybrid.dependents(services, {"db"}) == {"api", "caddy", "proxy", "worker"}
    assert hybrid.dependents(services, {"docs"}) == set()


def test_published_ports_on_every_address_are_reached_on_loopback():
    services = {
        "a": {"ports": [port(1, "1001", ""), port(2, "1002", "0.0.0.0"), port(3, "1003", "::")]},
        "b": {"ports": [port(4, "1004", "192.168.1.5")]},
        "c": {"ports": [port(5, "8000-8001"), {"target": 6, "protocol": "tcp"}, port(7, "")]},
        "d": {},
    }
    assert hybrid.published(services) == {
        ("a", 1): ("127.0.0.1", 1001),
        ("a", 2): ("127.0.0.1", 1002),
        ("a", 3): ("127.0.0.1", 1003),
        ("b", 4): ("192.168.1.5", 1004),
    }


# --- make_plan ---------------------------------------------------------------------


def kinds_and_lines(plan) -> list[tuple[str, str]]:
    return [(type(step).__name__, step.what) for step in plan.steps]


def test_plan_stops_host_services_and_starts_the_rest(env, cwd):
    plan = plan_for(env, cwd)
    assert plan.env_name == "dev"
    assert kinds_and_lines(plan) == [
        ("CheckInstalled", "check uvicorn, watchfiles are installed on the host"),
        ("RunCompose", "stop containers that run on the host instead: api, worker"),
        ("RunCompose", "start in containers, wait until healthy: db, listener, redis"),
        ("RunCompose", "run migrate once in a container (migrations) and wait for it to succeed"),
        ("CheckPort", "check host port 8000 is free for api"),
        ("StartProcess", f"start api on the host, in {cwd}: uvicorn refapp.api:app --port 8000"),
        ("StartProcess", f"start worker on the host, in {cwd}: watchfiles 'celery -A refapp.worker worker' refapp"),
        (
            "Supervise",
            "wait for Ctrl-C or a host process to exit, then stop every host process; the containers keep running",
        ),
    ]
    assert [p.name for p in plan.processes] == ["api", "worker"]


def test_plan_stops_what_depends_on_a_host_service(env, cwd):
    services = dev_services()
    services["caddy"] = {"depends_on": {"api": {}}, "ports": [port(443, "8443")]}
    services["proxy"] = {"depends_on": {"caddy": {}}}
    plan = plan_for(env, cwd, services=services)
    stop, up = plan.steps[1:3]
    assert after_base(stop.command.argv) == ("stop", "api", "caddy", "proxy", "worker")
    assert after_base(up.command.argv)[-3:] == ("db", "listener", "redis")


def test_a_host_process_that_is_no_compose_service_stops_nothing(env, cwd):
    services = dev_services()
    del services["listener"]
    plan = plan_for(env, cwd, host=("listener",), services=services)
    assert [type(step).__name__ for step in plan.steps] == [
        "CheckInstalled",
        "RunCompose",  # up: nothing to stop first
        "RunCompose",
        "StartProcess",
        "Supervise",
    ]
    assert after_base(plan.steps[1].command.argv)[0] == "up"


def test_no_up_without_containers_and_no_one_shot_that_is_no_service(env, cwd):
    services = {"api": {"environment": {"APP_ENV": "dev"}}}
    plan = plan_for(env, cwd, host=("api",), services=services)
    assert [type(step).__name__ for step in plan.steps] == [
        "CheckInstalled",
        "RunCompose",
        "CheckPort",
        "StartProcess",
        "Supervise",
    ]
    assert after_base(plan.steps[1].command.argv) == ("stop", "api")


def test_processes_get_the_published_addresses(env, cwd):
    plan = plan_for(env, cwd)
    for p in plan.processes:
        assert p.env["DATABASE_URL"] == f"postgresql://app:{PG}@127.0.0.1:15432/app?sslmode=disable"
        assert p.env["REDIS_URL"] == f"redis://:{REDIS}@127.0.0.1:16379/0"
        assert p.env["CELERY_BROKER_URL"] == f"redis://:{REDIS}@127.0.0.1:16379/1"
        assert p.env["CELERY_RESULT_BACKEND"] == f"redis://:{REDIS}@127.0.0.1:16379/2"
        assert p.env["APP_ENV"] == "dev" and p.env["CACHE_TTL"] == "300"
        assert p.cwd == str(cwd)


def test_rewrites_are_recorded(env, cwd):
    plan = plan_for(env, cwd, host=("api",))
    assert plan.rewrites == (
        Rewrite(
            "api",
            "DATABASE_URL",
            f"postgresql://app:{PG}@db:5432/app?sslmode=disable",
            f"postgresql://app:{PG}@127.0.0.1:15432/app?sslmode=disable",
            ("db",),
        ),
        Rewrite(
            "api", "REDIS_URL", f"redis://:{REDIS}@redis:6379/0", f"redis://:{REDIS}@127.0.0.1:16379/0", ("redis",)
        ),
        Rewrite(
            "api",
            "CELERY_BROKER_URL",
            f"redis://:{REDIS}@redis:6379/1",
            f"redis://:{REDIS}@127.0.0.1:16379/1",
            ("redis",),
        ),
        Rewrite(
            "api",
            "CELERY_RESULT_BACKEND",
            f"redis://:{REDIS}@redis:6379/2",
            f"redis://:{REDIS}@127.0.0.1:16379/2",
            ("redis",),
        ),
    )
    assert len(plan_for(env, cwd).rewrites) == 8


def test_pythonpath_starts_with_the_hybrid_cwd(env, cwd):
    assert plan_for(env, cwd).processes[0].env["PYTHONPATH"] == str(cwd)
    plan = plan_for(env, cwd, lookup={"PYTHONPATH": "/opt/lib"})
    assert plan.processes[0].env["PYTHONPATH"] == f"{cwd}{os.pathsep}/opt/lib"


def test_command_and_port_are_interpolated_from_the_lookup(env, cwd):
    api = plan_for(env, cwd, lookup={"API_PORT": "18000"}).processes[0]
    assert api.argv == ("uvicorn", "refapp.api:app", "--port", "18000")
    assert api.port == 18000
    api = plan_for(env, cwd).processes[0]
    assert api.argv == ("uvicorn", "refapp.api:app", "--port", "8000")
    assert api.port == 8000
    assert plan_for(env, cwd).processes[1].port is None


def test_numeric_password_of_a_user_named_like_the_service(env, cwd):
    # The official postgres image's user is "postgres", often also the service's name.
    services = {
        "postgres": {"ports": [port(5432, "15432")]},
        "api": {
            "depends_on": {"postgres": {}},
            "environment": {"DATABASE_URL": "postgresql://postgres:1234@postgres:5432/app"},
        },
    }
    plan = plan_for(env, cwd, host=("api",), services=services)
    assert plan.processes[0].env["DATABASE_URL"] == "postgresql://postgres:1234@127.0.0.1:15432/app"


def test_unknown_host_process_lists_the_known_ones(env, cwd):
    with pytest.raises(StackyardError) as info:
        plan_for(env, cwd, host=("api", "nope"))
    assert str(info.value) == (
        "no host command for nope: known: api, worker, listener ([tool.stackyard.hybrid.processes])"
    )


def test_a_dependency_without_a_published_port_is_explained(env, cwd):
    services = dev_services()
    del services["db"]["ports"]
    with pytest.raises(StackyardError) as info:
        plan_for(env, cwd, services=services, compose_file_hint="compose/compose.dev.yaml")
    assert str(info.value) == (
        "api's DATABASE_URL points at db:5432, but db publishes no port in dev: "
        'publish it in compose/compose.dev.yaml: ports: ["127.0.0.1:5432:5432"] under db'
    )
    assert PG not in str(info.value)


def test_a_port_that_is_not_a_number(env, cwd):
    with pytest.raises(StackyardError) as info:
        plan_for(env, cwd, lookup={"API_PORT": "eighty"})
    assert str(info.value) == (
        "[tool.stackyard.hybrid.processes.api] port '${API_PORT:-8000}' is not a number here ('eighty')"
    )


# --- Plan.text ----------------------------------------------------------------------


def test_plan_text_lists_the_steps_in_order(env, cwd):
    plan = plan_for(env, cwd, lookup={"API_PORT": "18000"})
    assert plan.text(mask) == "\n".join(
        [
            "hybrid plan for dev:",
            "  1. check uvicorn, watchfiles are installed on the host",
            "  2. stop containers that run on the host instead: api, worker",
            "  3. start in containers, wait until healthy: db, listener, redis",
            "  4. run migrate once in a container (migrations) and wait for it to succeed",
            "  5. check host port 18000 is free for api",
            f"  6. start api on the host, in {cwd}: uvicorn refapp.api:app --port 18000",
            f"  7. start worker on the host, in {cwd}: watchfiles 'celery -A refapp.worker worker' refapp",
            "  8. wait for Ctrl-C or a host process to exit, then stop every host process; the containers keep running",
            "rewritten for the host:",
            (
                "  api: DATABASE_URL: postgresql://app:****@db:5432/app?sslmode=disable"
                " -> postgresql://app:****@127.0.0.1:15432/app?sslmode=disable"
            ),
            "  api: REDIS_URL: redis://:****@redis:6379/0 -> redis://:****@127.0.0.1:16379/0",
            "  api: CELERY_BROKER_URL: redis://:****@redis:6379/1 -> redis://:****@127.0.0.1:16379/1",
            "  api: CELERY_RESULT_BACKEND: redis://:****@redis:6379/2 -> redis://:****@127.0.0.1:16379/2",
            (
                "  worker: DATABASE_URL: postgresql://app:****@db:5432/app?sslmode=disable"
                " -> postgresql://app:****@127.0.0.1:15432/app?sslmode=disable"
            ),
            "  worker: REDIS_URL: redis://:****@redis:6379/0 -> redis://:****@127.0.0.1:16379/0",
            "  worker: CELERY_BROKER_URL: redis://:****@redis:6379/1 -> redis://:****@127.0.0.1:16379/1",
            "  worker: CELERY_RESULT_BACKEND: redis://:****@redis:6379/2 -> redis://:****@127.0.0.1:16379/2",
        ]
    )


def test_plan_text_with_logs_and_down(env, cwd):
    text = plan_for(env, cwd, host=("worker",), logs=True, down=True).text(mask)
    assert text.splitlines()[1:] == [
        "  1. check watchfiles is installed on the host",
        "  2. stop containers that run on the host instead: worker",
        "  3. start in containers, wait until healthy: api, db, listener, redis",
        "  4. run migrate once in a container (migrations) and wait for it to succeed",
        f"  5. start worker on the host, in {cwd}: watchfiles 'celery -A refapp.worker worker' refapp",
        "  6. follow the containers' logs in the same stream",
        (
            "  7. wait for Ctrl-C or a host process to exit, then stop every host process"
            " and `down` the containers (volumes kept)"
        ),
        "rewritten for the host:",
        (
            "  worker: DATABASE_URL: postgresql://app:****@db:5432/app?sslmode=disable"
            " -> postgresql://app:****@127.0.0.1:15432/app?sslmode=disable"
        ),
        "  worker: REDIS_URL: redis://:****@redis:6379/0 -> redis://:****@127.0.0.1:16379/0",
        "  worker: CELERY_BROKER_URL: redis://:****@redis:6379/1 -> redis://:****@127.0.0.1:16379/1",
        "  worker: CELERY_RESULT_BACKEND: redis://:****@redis:6379/2 -> redis://:****@127.0.0.1:16379/2",
    ]


def test_plan_text_masks_secrets_in_commands_too(env, cwd):
    h = make_hybrid(cwd)
    h.processes["worker"] = HostProcess("worker", ("celery", "--broker", "${CELERY_BROKER_URL}"))
    plan = hybrid.make_plan(env, dev_services(), h, ["worker"], {})
    assert plan.processes[0].argv[-1] == f"redis://:{REDIS}@127.0.0.1:16379/1"
    text = plan.text(mask)
    assert REDIS not in text and PG not in text
    assert "celery --broker redis://:****@127.0.0.1:16379/1" in text
    assert REDIS in plan.text()  # no mask given: nothing masked


# --- --ide: processes you start from your IDE ------------------------------------------


def test_an_ide_process_leaves_its_container_and_is_handed_over_not_started(env, cwd):
    plan = plan_for(env, cwd, host=("worker",), ide=("api",), lookup={"API_PORT": "18000"}, ide_dir=cwd / "ide")
    assert plan.text(mask).splitlines()[1:9] == [
        "  1. check watchfiles is installed on the host",
        "  2. stop containers that run on the host instead: api, worker",
        "  3. start in containers, wait until healthy: db, listener, redis",
        "  4. run migrate once in a container (migrations) and wait for it to succeed",
        "  5. check host port 18000 is free for api",
        f"  6. hand api to your IDE: write its variables to {cwd}/ide/dev-api.env (mode 600), "
        "print its command, working directory and variables (secrets masked)",
        f"  7. start worker on the host, in {cwd}: watchfiles 'celery -A refapp.worker worker' refapp",
        "  8. wait for Ctrl-C or a host process to exit, then stop every host process; the containers keep running",
    ]
    assert [p.name for p in plan.processes] == ["worker"]
    [api] = plan.ide
    assert (api.argv, api.port) == (("uvicorn", "refapp.api:app", "--port", "18000"), 18000)
    assert api.env["DATABASE_URL"] == f"postgresql://app:{PG}@127.0.0.1:15432/app?sslmode=disable"
    [handed] = [step for step in plan.steps if isinstance(step, hybrid.HandToIde)]
    assert handed.env_file == cwd / "ide" / "dev-api.env"
    assert {r.key for r in handed.rewrites} == {
        "DATABASE_URL",
        "REDIS_URL",
        "CELERY_BROKER_URL",
        "CELERY_RESULT_BACKEND",
    }
    assert {r.process for r in handed.rewrites} == {"api"}


def test_with_every_process_in_the_ide_nothing_starts_and_ctrl_c_ends_it(env, cwd):
    plan = plan_for(env, cwd, host=(), ide=("api", "worker"), down=True)
    assert [type(step).__name__ for step in plan.steps] == [
        "RunCompose",
        "RunCompose",
        "RunCompose",
        "CheckPort",
        "HandToIde",
        "HandToIde",
        "Supervise",
    ]
    assert plan.processes == () and [p.name for p in plan.ide] == ["api", "worker"]
    assert plan.steps[-1].what == "wait for Ctrl-C, then `down` the containers (volumes kept)"
    assert plan_for(env, cwd, host=(), ide=("api",)).steps[-1].what == "wait for Ctrl-C; the containers keep running"


def test_an_ide_process_stops_what_depends_on_it(env, cwd):
    services = dev_services()
    services["web"] = {"depends_on": {"api": {"condition": "service_healthy"}}}
    plan = plan_for(env, cwd, host=(), ide=("api",), services=services)
    assert plan.steps[0].what == "stop containers that run on the host instead: api, web"


def test_a_process_cannot_be_both_on_the_host_and_in_the_ide(env, cwd):
    with pytest.raises(StackyardError) as info:
        plan_for(env, cwd, host=("api", "worker"), ide=("api",))
    assert str(info.value) == (
        "api given to both --host and --ide: each runs in one place: on the host (stackyard starts it) "
        "or in your IDE (you do)"
    )


def test_an_unknown_ide_process_lists_the_known_ones(env, cwd):
    with pytest.raises(StackyardError, match=r"no host command for apii: known: api, worker, listener"):
        plan_for(env, cwd, host=(), ide=("apii",))


# --- what each step carries ----------------------------------------------------------


def test_the_compose_steps_carry_their_commands(env, cwd):
    plan = plan_for(env, cwd)
    commands = [step.command for step in plan.steps if isinstance(step, hybrid.RunCompose)]
    assert [after_base(c.argv) for c in commands] == [
        ("stop", "api", "worker"),
        ("up", "--detach", "--build", "--wait", "--wait-timeout", "180", "db", "listener", "redis"),
        ("run", "--rm", "--no-deps", "--no-TTY", "migrate"),
    ]
    assert commands[0].argv[:4] == ("docker", "compose", "--project-name", "demo-dev")
    assert plan.steps[-1] == hybrid.Supervise(down=None)


def test_logs_and_down_steps_carry_their_commands(env, cwd):
    *_, logs, supervise = plan_for(env, cwd, logs=True, down=True).steps
    assert after_base(logs.command.argv) == (
        "logs",
        "--timestamps",
        "--follow",
        "--tail",
        "0",
        "--no-color",
        "db",
        "listener",
        "redis",
    )
    assert after_base(supervise.down.argv) == ("down", "--remove-orphans", "--timeout", "10")


def test_the_start_steps_carry_the_process_and_its_command(env, cwd):
    starts = [step for step in plan_for(env, cwd).steps if isinstance(step, hybrid.StartProcess)]
    api = starts[0].process
    assert api.command == Command(api.argv, env=api.env, cwd=str(cwd))
    assert api.command.env["DATABASE_URL"] == f"postgresql://app:{PG}@127.0.0.1:15432/app?sslmode=disable"
    assert [s.process for s in starts] == list(plan_for(env, cwd).processes)


def test_the_install_check_names_each_program_once_and_how_to_install(env, cwd):
    check = plan_for(env, cwd, host=("api", "worker", "listener")).steps[0]
    assert check == hybrid.CheckInstalled(
        ("uvicorn", "watchfiles"),
        "install the app's packages on the host: pip install -r app/requirements.txt -r app/requirements-dev.txt",
    )
    plan = hybrid.make_plan(env, dev_services(), make_hybrid(cwd, requirements=()), ["api"], {})
    assert plan.steps[0].hint == "install the app's packages on the host"


# --- print_env -----------------------------------------------------------------------


def test_print_env_for_an_ide(env, cwd, tmp_path):
    project = config.Project(tmp_path, "demo", tmp_path / "compose", tmp_path / "env", "dev")
    s = Session(project, env, FakeRunner(), out=io.StringIO())
    hybrid_run.print_env(s, plan_for(env, cwd), mask)
    out = s.out.getvalue()
    assert PG not in out and REDIS not in out
    api, worker, rest = out.split("\n\n")
    assert rest == ""
    assert api.splitlines() == [
        f"# api (on the host), in {cwd}: uvicorn refapp.api:app --port 8000",
        "# secrets are masked here; `inv hybrid --ide api` writes the real values to .stackyard/hybrid/dev-api.env (mode 600)",
        "APP_ENV=dev",
        "CACHE_TTL=300",
        "CELERY_BROKER_URL=redis://:****@127.0.0.1:16379/1    # was redis://:****@redis:6379/1",
        "CELERY_RESULT_BACKEND=redis://:****@127.0.0.1:16379/2    # was redis://:****@redis:6379/2",
        (
            "DATABASE_URL=postgresql://app:****@127.0.0.1:15432/app?sslmode=disable"
            "    # was postgresql://app:****@db:5432/app?sslmode=disable"
        ),
        f"PYTHONPATH={cwd}",
        "REDIS_URL=redis://:****@127.0.0.1:16379/0    # was redis://:****@redis:6379/0",
    ]
    assert (
        worker.splitlines()[0]
        == f"# worker (on the host), in {cwd}: watchfiles 'celery -A refapp.worker worker' refapp"
    )


def test_print_env_covers_the_ide_processes_too(env, cwd, tmp_path):
    project = config.Project(tmp_path, "demo", tmp_path / "compose", tmp_path / "env", "dev")
    s = Session(project, env, FakeRunner(), out=io.StringIO())
    hybrid_run.print_env(s, plan_for(env, cwd, host=("worker",), ide=("api",)), mask)
    heads = [line for line in s.out.getvalue().splitlines() if line.startswith("# ") and "), in " in line]
    assert heads == [
        f"# worker (on the host), in {cwd}: watchfiles 'celery -A refapp.worker worker' refapp",
        f"# api (in your IDE), in {cwd}: uvicorn refapp.api:app --port 8000",
    ]
    assert "DATABASE_URL=postgresql://app:****@127.0.0.1:15432/app" in s.out.getvalue().split("# api (in your IDE)")[1]


# --- [tool.stackyard.hybrid] ------------------------------------------------------------


def hybrid_of(tmp_path, table: dict) -> Hybrid | None:
    return config.build(tmp_path, {"hybrid": table}).hybrid


def config_error(tmp_path, table: dict) -> str:
    with pytest.raises(ConfigError) as info:
        hybrid_of(tmp_path, table)
    return str(info.value)


def test_hybrid_table_defaults(tmp_path):
    assert config.build(tmp_path, {}).hybrid is None
    h = hybrid_of(
        tmp_path,
        {"processes": {"api": {"command": ["uvicorn", "x:app"], "port": "8000"}, "worker": {"command": ["celery"]}}},
    )
    assert h.cwd == tmp_path / "."
    assert h.before == () and h.requirements == ()
    assert h.default == ("api", "worker")
    assert h.processes["api"] == HostProcess("api", ("uvicorn", "x:app"), "8000")
    assert h.processes["worker"].port is None


def test_hybrid_table_as_configured(tmp_path):
    h = hybrid_of(
        tmp_path,
        {
            "cwd": "app",
            "before": ["migrate"],
            "default": ["worker"],
            "requirements": ["app/requirements.txt"],
            "processes": {"api": {"command": ["uvicorn"]}, "worker": {"command": ["celery"]}},
        },
    )
    assert h.cwd == tmp_path / "app"
    assert (h.before, h.default, h.requirements) == (("migrate",), ("worker",), ("app/requirements.txt",))


def test_unknown_key_in_the_hybrid_table(tmp_path):
    assert config_error(tmp_path, {"befor": ["migrate"]}) == (
        "pyproject.toml: [tool.stackyard.hybrid] unknown key 'befor': did you mean 'before'?"
    )


def test_unknown_key_in_a_process_table(tmp_path):
    message = config_error(tmp_path, {"processes": {"api": {"command": ["x"], "ports": "8000"}}})
    assert message.startswith("pyproject.toml: [tool.stackyard.hybrid.processes.api] unknown key 'ports'")


def test_a_process_without_a_command(tmp_path):
    assert config_error(tmp_path, {"processes": {"api": {"port": "8000"}}}) == (
        "pyproject.toml: [tool.stackyard.hybrid.processes.api] needs a command (a list of strings)"
    )


def test_default_naming_an_undefined_process(tmp_path):
    assert config_error(tmp_path, {"default": ["api", "web"], "processes": {"api": {"command": ["x"]}}}) == (
        "pyproject.toml: [tool.stackyard.hybrid] default names 'web', which has no "
        "[tool.stackyard.hybrid.processes.web]"
    )


# --- secrets as files: a host process gets a file of its own where its container had /run/secrets/<name> ---

SECRETS = {
    "postgres_password": {"name": "demo-dev_postgres_password", "environment": "POSTGRES_PASSWORD"},
    "redis_password": {"name": "demo-dev_redis_password", "environment": "REDIS_PASSWORD"},
}


def file_services() -> dict:
    """The reference stack's shape since secrets became files: no password in any
    URL, the *_FILE variables naming where Compose mounts them."""
    services = dev_services()
    for name in ("migrate", "api", "worker", "listener"):
        services[name]["environment"] = {
            "DATABASE_URL": "postgresql://app@db:5432/app",
            "POSTGRES_PASSWORD_FILE": "/run/secrets/postgres_password",
            "REDIS_URL": "redis://redis:6379/0",
            "REDIS_PASSWORD_FILE": "/run/secrets/redis_password",
        }
        services[name]["secrets"] = [
            {"source": "postgres_password", "target": "/run/secrets/postgres_password"},
            {"source": "redis_password", "target": "/run/secrets/redis_password"},
        ]
    return services


SECRET_VALUES = {"POSTGRES_PASSWORD": "pg-Secret-1", "REDIS_PASSWORD": "redis-Secret-2"}


def test_a_secret_path_becomes_a_file_written_for_the_host_processes(env, cwd, tmp_path):
    plan = plan_for(env, cwd, lookup=SECRET_VALUES, services=file_services(), secrets=SECRETS, ide_dir=tmp_path / "h")
    directory = tmp_path / "h" / "dev-secrets"
    api = plan.processes[0]
    assert api.env["POSTGRES_PASSWORD_FILE"] == str(directory / "postgres_password")
    assert api.env["REDIS_PASSWORD_FILE"] == str(directory / "redis_password")
    assert api.env["DATABASE_URL"] == "postgresql://app@127.0.0.1:15432/app"  # ports still rewritten
    write = plan.secrets
    assert write.directory == directory and write.readers == ("api", "worker")
    # one file per secret, whoever reads it, with its variable's value
    assert [(f.name, f.path, f.value) for f in write.files] == [
        ("postgres_password", directory / "postgres_password", "pg-Secret-1"),
        ("redis_password", directory / "redis_password", "redis-Secret-2"),
    ]
    assert "pg-Secret-1" not in repr(write) and "pg-Secret-1" not in plan.text()
    kinds = [type(step).__name__ for step in plan.steps]
    # after every check, before anything that may read them
    assert kinds.index("WriteSecrets") == kinds.index("CheckPort") + 1
    assert kinds.index("WriteSecrets") < kinds.index("StartProcess")
    assert f"  api: POSTGRES_PASSWORD_FILE: /run/secrets/postgres_password -> {directory}/postgres_password" in (
        plan.text().splitlines()
    )


def test_a_secret_at_its_own_target_or_from_a_volume_is_found_too(env, cwd, tmp_path):
    services = file_services()
    services["api"]["secrets"] = [{"source": "postgres_password", "target": "/etc/app/db-password"}, "redis_password"]
    services["api"]["environment"] = {
        "DB_PASSWORD_PATH": "/etc/app/db-password",  # its own target
        "REDIS_PASSWORD_FILE": "/run/secrets/redis_password",  # the short syntax
        "OTHER_FILE": "/run/secrets/not-a-secret",  # no such secret: left alone
    }
    services["worker"].pop("secrets")  # mounted another way (compose.prod.yaml's volume): the default path
    plan = plan_for(env, cwd, lookup=SECRET_VALUES, services=services, secrets=SECRETS, ide_dir=tmp_path)
    api, worker = plan.processes
    assert api.env["DB_PASSWORD_PATH"] == str(tmp_path / "dev-secrets" / "postgres_password")
    assert api.env["REDIS_PASSWORD_FILE"] == str(tmp_path / "dev-secrets" / "redis_password")
    assert api.env["OTHER_FILE"] == "/run/secrets/not-a-secret"
    assert worker.env["POSTGRES_PASSWORD_FILE"] == str(tmp_path / "dev-secrets" / "postgres_password")


def test_file_and_content_secrets_are_copied_and_written(env, cwd, tmp_path):
    secrets = {
        "postgres_password": {"file": str(tmp_path / "pg.txt")},
        "redis_password": {"content": "inline-redis-secret"},
    }
    plan = plan_for(env, cwd, host=("api",), services=file_services(), secrets=secrets, ide_dir=tmp_path)
    pg, redis = plan.secrets.files
    assert (pg.source, pg.value) == (tmp_path / "pg.txt", None)
    assert (redis.source, redis.value) == (None, "inline-redis-secret")


def test_no_secret_path_no_step(env, cwd):
    plan = plan_for(env, cwd, secrets=SECRETS)  # URLs with passwords, as before: nothing to write
    assert plan.secrets is None
    assert not any(isinstance(step, hybrid.WriteSecrets) for step in plan.steps)


@pytest.mark.parametrize(
    ("secret", "lookup", "message"),
    [
        (
            {"environment": "POSTGRES_PASSWORD"},
            {},
            "api's POSTGRES_PASSWORD_FILE is the secret postgres_password, whose variable POSTGRES_PASSWORD is not "
            "set: set POSTGRES_PASSWORD in an env file or the shell (`inv env.init` writes the local env file)",
        ),
        (
            {"external": True},
            SECRET_VALUES,
            "api's POSTGRES_PASSWORD_FILE is the secret postgres_password, which has no environment, file or content "
            "here: give secrets.postgres_password a source a host process can read (`environment: VAR` or `file: PATH`)",
        ),
    ],
)
def test_a_secret_a_host_process_cannot_get_is_named(env, cwd, secret, lookup, message):
    secrets = {**SECRETS, "postgres_password": secret}
    with pytest.raises(StackyardError) as info:
        plan_for(env, cwd, host=("api",), lookup=lookup, services=file_services(), secrets=secrets)
    assert str(info.value) == message
