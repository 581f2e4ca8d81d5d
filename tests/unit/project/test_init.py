"""project/init.py: `inv init` detects, prints its reasons, and writes only what it may."""

from __future__ import annotations

import io
import json
import tomllib

import pytest

from stackyard import config
from stackyard.core.runner import Result
from stackyard.errors import ConfigError
from stackyard.project import init
from tests.unit.fakes import FakeRunner

HEALTH = ["CMD", "python", "-c", "urlopen('http://127.0.0.1:8080/healthz')"]
SERVICES = {
    "pg": {"image": "postgres:17"},
    "cache": {"image": "redis:8"},
    "setup": {"build": {"context": "./shop"}, "restart": "no", "depends_on": {"pg": {}}},
    "web": {
        "healthcheck": {"test": HEALTH},
        "expose": ["8080"],
        "depends_on": {"pg": {}, "setup": {"condition": "service_completed_successfully"}},
    },
    "jobs": {"depends_on": {"pg": {}, "cache": {}}},
}
DEV = {
    "services": {
        **SERVICES,
        "web": {**SERVICES["web"], "ports": [{"target": 8080, "published": "8080", "host_ip": "127.0.0.1"}]},
    }
}
PROD = {
    "services": {
        **SERVICES,
        "proxy": {
            "build": {"context": "./proxy"},
            "healthcheck": {"test": ["CMD", "curl", "http://127.0.0.1:8080/nginx-health"]},
            "command": ["nginx", "-g", "daemon off;"],
            "depends_on": {"web": {}},
            "ports": [{"target": 8080, "published": "8443", "host_ip": "127.0.0.1"}],
        },
    }
}


@pytest.fixture
def shop(tmp_path):
    for name in ("compose.yml", "compose.override.yml", "docker-compose.prod.yml"):
        (tmp_path / name).write_text("services: {}\n")
    return tmp_path


def runner(dry: bool = False) -> FakeRunner:
    return FakeRunner(
        {
            "docker-compose.prod.yml": Result(0, json.dumps(PROD)),
            " config --format json": Result(0, json.dumps(DEV)),
        },
        dry=dry,
    )


def run(root, **kwargs) -> str:
    out = io.StringIO()
    init.run(root, runner(kwargs.pop("dry", False)), out=out, **kwargs)
    return out.getvalue()


def test_it_prints_what_it_found_and_why(shop):
    out = run(shop)
    assert "compose files in the project root: compose.yml (base), compose.override.yml (override)" in out
    assert "  dev       compose.yml + compose.override.yml   (what a bare `docker compose up` reads)" in out
    assert "roles (from the prod config):" in out
    assert "  proxy     proxy: its healthcheck or command names nginx" in out
    assert "  web       web: the proxy proxy depends on it, with a healthcheck and HTTP port 8080" in out


def test_it_writes_a_section_that_config_loads_with_the_detected_roles(shop):
    run(shop)
    project = config.load(shop)
    assert [f.name for f in project.environments["prod"].files] == ["compose.yml", "docker-compose.prod.yml"]
    assert project.compose_dir == shop / "."
    assert project.environments["dev"].entry == "web"
    assert project.environments["prod"].entry == "proxy"
    assert project.environments["prod"].health_path == "/healthz"
    assert project.roles["web"] == {"service": "web", "port": 8080, "health_path": "/healthz"}
    assert project.roles["proxy"] == {"service": "proxy", "kind": "nginx"}
    assert project.roles["database"] == {"service": "pg", "kind": "postgres"}
    assert (project.roles["migrate"], project.roles["workers"]) == ("setup", ["jobs"])
    assert (shop / "tasks.py").read_text() == init.TASKS_PY


def test_a_role_naming_a_service_of_one_environment_only_is_left_commented(shop):
    run(shop)
    text = (shop / "pyproject.toml").read_text()
    assert '# images = ["proxy", "setup"]  # detected; proxy not in every environment' in text
    assert "images" not in config.load(shop).roles


def test_an_existing_section_is_kept_without_force(shop):
    (shop / "pyproject.toml").write_text('[tool.stackyard]\nname = "mine"\n')
    with pytest.raises(ConfigError, match=r"pyproject.toml has a \[tool.stackyard\] section: run `inv init --force`"):
        run(shop)
    assert (shop / "pyproject.toml").read_text() == '[tool.stackyard]\nname = "mine"\n'
    assert not (shop / "tasks.py").exists()


def test_force_replaces_only_the_stackyard_tables(shop):
    (shop / "pyproject.toml").write_text(
        '[project]\nname = "shop"\n\n[tool.stackyard]\nname = "old"\n\n'
        '[tool.stackyard.environments.qa]\nfiles = ["x.yml"]\n\n[tool.ruff]\nline-length = 99\n'
    )
    run(shop, force=True)
    data = tomllib.loads((shop / "pyproject.toml").read_text())
    assert data["project"] == {"name": "shop"}
    assert data["tool"]["ruff"] == {"line-length": 99}
    assert set(data["tool"]["stackyard"]["environments"]) == {"dev", "prod"}


def test_a_tasks_py_that_loads_stackyard_is_kept_and_another_is_not_replaced(shop):
    (shop / "tasks.py").write_text("from stackyard.tasks import namespace as ns\n")
    assert "tasks.py already loads stackyard's tasks: kept" in run(shop)
    assert (shop / "tasks.py").read_text() == "from stackyard.tasks import namespace as ns\n"

    (shop / "pyproject.toml").unlink()
    (shop / "tasks.py").write_text("from invoke import task\n")
    with pytest.raises(ConfigError, match=r"tasks\.py exists and does not load stackyard\.tasks"):
        run(shop)


def test_a_dry_run_prints_the_files_and_writes_nothing(shop):
    out = run(shop, dry=True)
    assert "dry run: pyproject.toml would get:\n[tool.stackyard]" in out
    assert not (shop / "pyproject.toml").exists() and not (shop / "tasks.py").exists()


def test_a_required_variable_nobody_set_gets_a_stand_in_for_the_render(shop, monkeypatch):
    (shop / "compose.yml").write_text(
        "services:\n  web:\n    environment:\n      KEY: ${SECRET_KEY?Variable not set}\n"
    )
    (shop / "docker-compose.prod.yml").write_text(
        "services:\n  web:\n    environment:\n      PW: ${PG_PASSWORD:?set it}\n"
    )
    monkeypatch.delenv("SECRET_KEY", raising=False)
    fake = runner()
    init.run(shop, fake, out=io.StringIO())
    assert init.required_variables([shop / "compose.yml", shop / "docker-compose.prod.yml"]) == {
        "SECRET_KEY",
        "PG_PASSWORD",
    }
    assert fake.env == {"SECRET_KEY": init.STAND_IN, "PG_PASSWORD": init.STAND_IN}
