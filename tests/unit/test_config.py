"""config: conventions first, [tool.stackyard] for the rest; errors name the key."""

from __future__ import annotations

import pathlib

import pytest

from stackyard import config
from stackyard.errors import ConfigError

from .fakes import ROOT


def make_project(
    tmp_path: pathlib.Path, envs=("dev", "qa"), pyproject: str | None = None, name: str = "shop"
) -> pathlib.Path:
    root = tmp_path / name
    (root / "compose").mkdir(parents=True)
    (root / "compose" / "compose.yaml").write_text("services: {}\n")
    for e in envs:
        (root / "compose" / f"compose.{e}.yaml").write_text("services: {}\n")
    if pyproject is not None:
        (root / "pyproject.toml").write_text(pyproject)
    return root


def error_of(root: pathlib.Path) -> str:
    with pytest.raises(ConfigError) as info:
        config.load(root)
    return str(info.value)


# --- conventions -------------------------------------------------------------


def test_conventions_without_tool_stackyard(tmp_path):
    root = make_project(tmp_path)
    project = config.load(root)
    assert sorted(project.environments) == ["dev", "qa"]
    assert project.name == "shop"
    assert project.default_env == "dev"
    qa = project.environments["qa"]
    assert qa.project == "shop-qa"
    assert project.environments["dev"].project == "shop-dev"
    assert qa.files == (root / "compose" / "compose.yaml", root / "compose" / "compose.qa.yaml")
    assert qa.profiles == () and qa.url is None and qa.health_path == "/health"
    assert not qa.protected


def test_pyproject_without_the_table_uses_the_conventions(tmp_path):
    root = make_project(tmp_path, pyproject='[project]\nname = "x"\n')
    assert sorted(config.load(root).environments) == ["dev", "qa"]


def test_prod_is_protected_by_default_and_can_be_unprotected(tmp_path):
    root = make_project(tmp_path, envs=("dev", "prod"))
    assert config.load(root).environments["prod"].protected
    assert not config.load(root).environments["dev"].protected
    (root / "pyproject.toml").write_text("[tool.stackyard.environments.prod]\nprotected = false\n")
    assert not config.load(root).environments["prod"].protected


def test_settings_override_the_conventions(tmp_path):
    root = make_project(
        tmp_path,
        pyproject="""
[tool.stackyard]
name = "web"
compose_dir = "deploy"
env_dir = "settings"
default_env = "qa"

[tool.stackyard.environments.qa]
files = ["base.yaml", "qa.yaml"]
profiles = ["tools"]
project = "web-qa-1"
url = "https://qa.example.org/"
health_path = "/ping"
protected = true
""",
    )
    (root / "deploy").mkdir()
    for f in ("base.yaml", "qa.yaml"):
        (root / "deploy" / f).write_text("services: {}\n")
    project = config.load(root)
    qa = project.environment(None)
    assert qa.name == "qa"
    assert qa.files == (root / "deploy" / "base.yaml", root / "deploy" / "qa.yaml")
    assert qa.profiles == ("tools",)
    assert qa.project == "web-qa-1"
    assert qa.url == "https://qa.example.org/"
    assert qa.health_path == "/ping"
    assert qa.protected
    # compose/ is not the compose_dir any more: its dev file defines nothing.
    assert sorted(project.environments) == ["qa"]


def test_the_real_project():
    project = config.load(ROOT)
    assert sorted(project.environments) == ["dev", "prod", "single", "staging", "swarm"]
    staging = project.environments["staging"]
    assert [f.name for f in staging.files] == ["compose.yaml", "compose.prod.yaml", "compose.staging.yaml"]
    assert all(f.parent == ROOT / "compose" for f in staging.files)
    assert staging.protected and project.environments["prod"].protected
    assert not project.environments["dev"].protected
    assert project.environments["dev"].entry == "api"
    assert project.environments["prod"].url == "https://localhost"
    assert ROOT / "env" / "dev.env" in project.environments["dev"].env_files


def test_find_root_walks_up(tmp_path):
    root = make_project(tmp_path)
    deep = root / "a" / "b"
    deep.mkdir(parents=True)
    assert config.find_root(deep) == root.resolve()


# --- env files ----------------------------------------------------------------


def test_env_files_lowest_precedence_first(tmp_path):
    for f in ("qa.local.env", "local.env", "qa.env", "base.env", "dev.env"):
        (tmp_path / f).write_text("")
    # The personal local.env wins over every committed file; qa's own local file over it.
    assert config.env_files(tmp_path, "qa") == (
        tmp_path / "base.env",
        tmp_path / "qa.env",
        tmp_path / "local.env",
        tmp_path / "qa.local.env",
    )


def test_env_files_lists_only_existing_ones(tmp_path):
    (tmp_path / "qa.env").write_text("")
    assert config.env_files(tmp_path, "qa") == (tmp_path / "qa.env",)
    assert config.env_files(tmp_path, "dev") == ()


def test_environment_gets_its_env_files(tmp_path):
    root = make_project(tmp_path)
    (root / "env").mkdir()
    (root / "env" / "base.env").write_text("")
    (root / "env" / "qa.local.env").write_text("")
    assert config.load(root).environments["qa"].env_files == (root / "env" / "base.env", root / "env" / "qa.local.env")


def test_composes_own_env_file_is_the_lowest_layer(tmp_path):
    (tmp_path / "env").mkdir()
    for f in ("env/qa.env", "env/base.env", ".env"):
        (tmp_path / f).write_text("")
    layers = config.layer_files(tmp_path / "env", "qa", tmp_path, project_dir=tmp_path)
    assert [(la.label, la.local, la.dotenv) for la in layers] == [
        (".env", True, True),
        ("env/base.env", False, False),
        ("env/qa.env", False, False),
        ("env/local.env", True, False),
        ("env/qa.local.env", True, False),
    ]
    assert config.env_files(tmp_path / "env", "qa", tmp_path) == (
        tmp_path / ".env",
        tmp_path / "env" / "base.env",
        tmp_path / "env" / "qa.env",
    )


def test_without_a_project_directory_there_is_no_dotenv_layer(tmp_path):
    (tmp_path / ".env").write_text("")
    assert config.layer_files(tmp_path / "env", "qa", tmp_path)[0].label == "env/base.env"


def test_the_env_file_is_looked_for_where_compose_looks_the_first_compose_files_directory(tmp_path):
    root = make_project(tmp_path)
    (root / ".env").write_text("")  # next to pyproject: not Compose's project directory here
    assert config.load(root).environments["qa"].env_files == ()
    (root / "compose" / ".env").write_text("")
    env = config.load(root).environments["qa"]
    assert env.env_files == (root / "compose" / ".env",)
    assert config.compose_project_dir(env) == root / "compose"


def test_files_at_the_root_make_the_root_the_project_directory(tmp_path):
    root = make_project(tmp_path, pyproject='[tool.stackyard.environments.qa]\nfiles = ["../compose.yml"]\n')
    (root / "compose.yml").write_text("services: {}\n")
    (root / ".env").write_text("")
    (root / "env").mkdir()
    (root / "env" / "qa.env").write_text("")
    env = config.load(root).environments["qa"]
    assert [f.resolve() for f in env.env_files] == [(root / ".env").resolve(), root / "env" / "qa.env"]


def test_the_reference_project_has_no_dotenv_layer():
    for env in config.load(ROOT).environments.values():
        assert all(f.name != ".env" for f in env.env_files)


# --- choosing an environment ------------------------------------------------------


def test_unknown_environment_lists_the_known_ones():
    with pytest.raises(ConfigError) as info:
        config.load(ROOT).environment("qa")
    assert "unknown environment 'qa'" in str(info.value)
    assert "known: dev, prod, single, staging, swarm" in str(info.value)


def test_stackyard_env_chooses_the_default(tmp_path, monkeypatch):
    project = config.load(make_project(tmp_path))
    assert project.environment(None).name == "dev"
    monkeypatch.setenv("STACKYARD_ENV", "qa")
    assert project.environment(None).name == "qa"
    assert project.environment("dev").name == "dev"  # an explicit name wins


def test_stackyard_project_overrides_the_project_name(tmp_path, monkeypatch):
    project = config.load(make_project(tmp_path))
    monkeypatch.setenv("STACKYARD_PROJECT", "sy-test-123")
    assert project.environment("qa").project == "sy-test-123"
    assert project.environments["qa"].project == "shop-qa"  # the loaded Project is unchanged


def test_choosing_an_environment_whose_compose_file_is_missing(tmp_path):
    root = make_project(tmp_path, pyproject='[tool.stackyard.environments.qa]\nfiles = ["compose.yaml", "nope.yaml"]\n')
    project = config.load(root)  # loading lists what is configured; choosing checks the files
    with pytest.raises(ConfigError) as info:
        project.environment("qa")
    assert "compose file compose/nope.yaml of environment 'qa' not found" in str(info.value)


# --- errors ------------------------------------------------------------------------


def test_unknown_top_level_key_suggests_the_nearest(tmp_path):
    msg = error_of(make_project(tmp_path, pyproject="[tool.stackyard]\nenvironment = {}\n"))
    assert "[tool.stackyard] unknown key 'environment'" in msg
    assert "did you mean 'environments'?" in msg


def test_unknown_environment_key_suggests_the_nearest(tmp_path):
    msg = error_of(make_project(tmp_path, pyproject='[tool.stackyard.environments.qa]\nfile = ["a.yaml"]\n'))
    assert "[tool.stackyard.environments.qa] unknown key 'file'" in msg
    assert "did you mean 'files'?" in msg


def test_unknown_key_with_nothing_near_lists_the_keys(tmp_path):
    msg = error_of(make_project(tmp_path, pyproject="[tool.stackyard.environments.qa]\nzzz = 1\n"))
    assert "unknown key 'zzz'" in msg
    assert (
        "known keys: build_on, entry, files, health_path, host, nodes, orchestrator, profiles, project, protected, registry, url"
        in msg
    )


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ('files = "compose.yaml"', "files must be a list, not string"),
        ('protected = "yes"', "protected must be a boolean, not string"),
        ("url = 8000", "url must be a string, not integer"),
        ("files = [1, 2]", "files must be a list of strings"),
    ],
)
def test_wrong_types_name_the_key_and_the_type(tmp_path, line, expected):
    msg = error_of(make_project(tmp_path, pyproject=f"[tool.stackyard.environments.qa]\n{line}\n"))
    assert "[tool.stackyard.environments.qa]" in msg
    assert expected in msg


def test_environment_must_be_a_table(tmp_path):
    msg = error_of(make_project(tmp_path, pyproject='[tool.stackyard.environments]\nqa = "x"\n'))
    assert "[tool.stackyard.environments.qa] must be a table" in msg


def test_environment_name_must_be_lower_case(tmp_path):
    msg = error_of(make_project(tmp_path, pyproject="[tool.stackyard.environments.QA]\n"))
    assert "environment name 'QA'" in msg


def test_invalid_toml_is_a_config_error(tmp_path):
    msg = error_of(make_project(tmp_path, pyproject="[tool.stackyard\nname = \n"))
    assert msg.startswith("pyproject.toml: ")
    assert "fix the TOML syntax" in msg


# --- [tool.stackyard.db]: what runs after a restore ---------------------------


def test_after_restore_hooks_are_read_in_order(tmp_path):
    root = make_project(
        tmp_path,
        pyproject=(
            "[[tool.stackyard.db.after_restore]]\n"
            'service = "cache"\ncommand = ["sh", "-c", "redis-cli FLUSHDB"]\n'
            "[[tool.stackyard.db.after_restore]]\n"
            'service = "search"\ncommand = ["reindex", "--all"]\n'
        ),
    )
    assert config.load(root).after_restore == (
        config.Hook("cache", ("sh", "-c", "redis-cli FLUSHDB")),
        config.Hook("search", ("reindex", "--all")),
    )


def test_no_db_table_means_no_hook(tmp_path):
    assert config.load(make_project(tmp_path)).after_restore == ()


def test_the_reference_stack_drops_its_item_cache_after_a_restore():
    (hook,) = config.load(ROOT).after_restore
    assert hook.service == "redis"
    # the cached items only (not Celery's queue), the password read inside the container
    assert '"item:*"' in hook.command[2] and "-n 0" in hook.command[2]
    assert "FLUSHALL" not in " ".join(hook.command)
    # from the secret file Compose mounts: redis has no password in its environment
    assert 'REDISCLI_AUTH="$(cat "$REDIS_PASSWORD_FILE")"' in hook.command[2]


def test_keep_backups_defaults_to_10_and_is_read(tmp_path):
    assert config.load(make_project(tmp_path)).keep_backups == 10
    kept = make_project(tmp_path, pyproject="[tool.stackyard.db]\nkeep_backups = 0\n", name="all")
    assert config.load(kept).keep_backups == 0


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("-1", "keep_backups must be a whole number, 0 or more, not -1"),
        ("true", "keep_backups must be a whole number, 0 or more, not True"),
        ('"10"', "keep_backups must be a integer, not string"),
    ],
)
def test_keep_backups_mistakes_are_named(tmp_path, value, expected):
    error = error_of(make_project(tmp_path, pyproject=f"[tool.stackyard.db]\nkeep_backups = {value}\n"))
    assert error.startswith(f"pyproject.toml: [tool.stackyard.db] {expected}")


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        (
            "[tool.stackyard.db]\nafter_restor = []\n",
            "pyproject.toml: [tool.stackyard.db] unknown key 'after_restor': did you mean 'after_restore'?",
        ),
        (
            '[[tool.stackyard.db.after_restore]]\nservce = "redis"\ncommand = ["true"]\n',
            "pyproject.toml: [tool.stackyard.db.after_restore #1] unknown key 'servce': did you mean 'service'?",
        ),
        (
            '[tool.stackyard.db]\nafter_restore = ["redis-cli FLUSHDB"]\n',
            "pyproject.toml: [tool.stackyard.db] after_restore must be a list of tables",
        ),
        (
            '[tool.stackyard.db]\nafter_restore = {service = "redis"}\n',
            "pyproject.toml: [tool.stackyard.db] after_restore must be a list of tables, not table",
        ),
        (
            '[[tool.stackyard.db.after_restore]]\nservice = "redis"\ncommand = "redis-cli FLUSHDB"\n',
            "pyproject.toml: [tool.stackyard.db.after_restore #1] command must be a list, not string",
        ),
        (
            '[[tool.stackyard.db.after_restore]]\nservice = "redis"\n',
            "pyproject.toml: [tool.stackyard.db.after_restore #1] needs a service and a command: "
            'e.g. {service = "cache", command = ["sh", "-c", "..."]}',
        ),
    ],
)
def test_after_restore_mistakes_name_the_key(tmp_path, toml, expected):
    assert error_of(make_project(tmp_path, pyproject=toml)) == expected


# --- targets: host and build_on ----------------------------------------------------


def test_an_environment_names_its_target_engine_and_where_a_deploy_builds(tmp_path):
    toml = '[tool.stackyard.environments.qa]\nhost = "ssh://deploy@example.com"\nbuild_on = "host"\n'
    envs = config.load(make_project(tmp_path, pyproject=toml)).environments
    assert (envs["qa"].host, envs["qa"].build_on) == ("ssh://deploy@example.com", "host")
    assert (envs["dev"].host, envs["dev"].build_on) == (None, "local")  # the docker CLI's default; build here


@pytest.mark.parametrize("host", ["ssh://deploy@example.com:2222", "tcp://10.0.0.5:2376", "unix:///run/docker.sock"])
def test_every_docker_host_scheme_is_a_target(tmp_path, host):
    toml = f'[tool.stackyard.environments.qa]\nhost = "{host}"\n'
    assert config.load(make_project(tmp_path, pyproject=toml)).environments["qa"].host == host


@pytest.mark.parametrize("host", ["deploy@example.com", "example.com", "http://example.com", "ssh://"])
def test_a_host_that_is_no_engine_address_names_the_file_and_the_key(tmp_path, host):
    msg = error_of(make_project(tmp_path, pyproject=f'[tool.stackyard.environments.qa]\nhost = "{host}"\n'))
    assert msg.startswith(f"pyproject.toml: [tool.stackyard.environments.qa] host {host!r} is not a Docker engine")
    assert 'e.g. "ssh://deploy@example.com"' in msg


def test_a_host_must_be_a_string(tmp_path):
    msg = error_of(make_project(tmp_path, pyproject="[tool.stackyard.environments.qa]\nhost = 22\n"))
    assert msg == "pyproject.toml: [tool.stackyard.environments.qa] host must be a string, not integer"


def test_build_on_is_local_or_host(tmp_path):
    msg = error_of(make_project(tmp_path, pyproject='[tool.stackyard.environments.qa]\nbuild_on = "remote"\n'))
    assert msg.startswith("pyproject.toml: [tool.stackyard.environments.qa] build_on 'remote' is not a place to build")
    assert '"local": on this machine\'s engine' in msg and '"host": on the target\'s engine' in msg


def test_an_environment_names_its_orchestrator(tmp_path):
    (tmp_path / "compose").mkdir()
    swarm = config.build(tmp_path, {"environments": {"s": {"orchestrator": "swarm"}, "c": {}}})
    assert swarm.environments["s"].orchestrator == "swarm" and swarm.environments["c"].orchestrator == "compose"
    with pytest.raises(config.ConfigError) as err:
        config.build(tmp_path, {"environments": {"k": {"orchestrator": "kubernetes"}}})
    assert str(err.value) == (
        "pyproject.toml: [tool.stackyard.environments.k] orchestrator: 'kubernetes' is not an orchestrator: "
        "use one of: compose, swarm"
    )


def test_a_swarm_environment_names_the_engines_of_its_other_nodes(tmp_path):
    (tmp_path / "compose").mkdir()
    found = config.build(tmp_path, {"environments": {"s": {"orchestrator": "swarm", "nodes": ["ssh://deploy@w1"]}}})
    assert found.environments["s"].nodes == ("ssh://deploy@w1",)
    with pytest.raises(config.ConfigError, match=r"nodes 'w1' is not a Docker engine address"):
        config.build(tmp_path, {"environments": {"s": {"nodes": ["w1"]}}})


def test_a_swarm_environment_may_name_the_registry_its_nodes_pull_from(tmp_path):
    (tmp_path / "compose").mkdir()
    found = config.build(
        tmp_path, {"environments": {"s": {"orchestrator": "swarm", "registry": "registry.example.com:5000/team/"}}}
    )
    assert found.environments["s"].registry == "registry.example.com:5000/team"
    assert config.build(tmp_path, {"environments": {"s": {"orchestrator": "swarm"}}}).environments["s"].registry is None


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"registry": "r.example.com"}, r"\[tool.stackyard.environments.s\] registry: only a swarm environment"),
        (
            {"orchestrator": "swarm", "registry": "r.example.com", "nodes": ["ssh://w1"]},
            r"both nodes and registry are set: with a registry every node pulls the images from it: remove nodes",
        ),
        ({"orchestrator": "swarm", "registry": "https://r.example.com"}, r"'https://r.example.com' is not a registry"),
        ({"orchestrator": "swarm", "registry": "R.example.com/Team"}, r"in lower case"),
        ({"orchestrator": "swarm", "registry": "r.example.com/team:1"}, r"no scheme, no tag"),
    ],
)
def test_a_registry_is_refused_where_it_cannot_serve_or_is_not_an_address(tmp_path, table, message):
    (tmp_path / "compose").mkdir()
    with pytest.raises(config.ConfigError, match=message):
        config.build(tmp_path, {"environments": {"s": table}})
