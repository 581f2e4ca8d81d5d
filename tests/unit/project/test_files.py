"""project/files.py: which compose files a project has, and the environments they make."""

from __future__ import annotations

import pytest

from stackyard.errors import ConfigError
from stackyard.project import files


def touch(root, *names):
    for name in names:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text("services: {}\n")


def test_finds_base_override_and_environment_files_at_the_root(tmp_path):
    touch(tmp_path, "compose.yml", "compose.override.yml", "docker-compose.prod.yml", "compose.staging.yaml", "x.yml")
    assert files.find(tmp_path) == files.Found(
        ".",
        "compose.yml",
        "compose.override.yml",
        {"prod": "docker-compose.prod.yml", "staging": "compose.staging.yaml"},
    )


def test_the_base_is_the_first_of_composes_own_names(tmp_path):
    touch(tmp_path, "docker-compose.yml", "compose.yaml")
    assert files.find(tmp_path).base == "compose.yaml"


def test_an_override_belongs_to_the_base_it_names(tmp_path):
    touch(tmp_path, "docker-compose.yml", "docker-compose.override.yml")
    found = files.find(tmp_path)
    assert (found.base, found.override, found.others) == ("docker-compose.yml", "docker-compose.override.yml", {})


def test_a_compose_folder_is_searched_when_the_root_has_no_base(tmp_path):
    touch(tmp_path, "compose/compose.yaml", "compose/compose.prod.yaml")
    assert files.find(tmp_path) == files.Found("compose", "compose.yaml", None, {"prod": "compose.prod.yaml"})


def test_no_compose_file_names_where_it_looked(tmp_path):
    with pytest.raises(
        ConfigError,
        match=rf"no compose file found in {tmp_path}, {tmp_path}/compose: stackyard needs one of compose.yaml",
    ):
        files.find(tmp_path)


def test_dev_is_base_and_override_then_one_environment_per_file():
    found = files.Found(".", "compose.yml", "compose.override.yml", {"prod": "docker-compose.prod.yml"})
    envs = files.environments(found)
    assert [(e.name, e.files) for e in envs] == [
        ("dev", ("compose.yml", "compose.override.yml")),
        ("prod", ("compose.yml", "docker-compose.prod.yml")),
    ]
    assert "docker compose up" in envs[0].why


def test_dev_without_an_override_is_the_base_alone_or_with_its_dev_file():
    assert files.environments(files.Found(".", "compose.yml"))[0].files == ("compose.yml",)
    with_dev = files.environments(files.Found(".", "compose.yml", None, {"dev": "compose.dev.yml"}))
    assert [(e.name, e.files) for e in with_dev] == [("dev", ("compose.yml", "compose.dev.yml"))]
