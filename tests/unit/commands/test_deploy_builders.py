"""The argv of the builders a deploy uses: a command for a release's images, a
command as a plan shows it, the old container stopped, the new one created then
started, attached to a network and detached from it."""

from __future__ import annotations

from stackyard.commands import compose, docker
from stackyard.core.command import Command
from tests.unit.fakes import after_base, tmp_env


def test_for_release_names_the_images_by_the_release_tag(tmp_path):
    env = tmp_env(tmp_path, "prod")
    built = compose.for_release(compose.build(env), "abc1234-20261122101010")
    assert built.argv == compose.build(env).argv
    assert built.env == {"APP_TAG": "abc1234-20261122101010", "APP_VERSION": "abc1234-20261122101010"}
    kept = compose.for_release(Command(("true",), {"X": "1"}, "/tmp"), "r1")
    assert (kept.env, kept.cwd) == ({"X": "1", "APP_TAG": "r1", "APP_VERSION": "r1"}, "/tmp")


def test_short_stands_for_the_project_options(tmp_path):
    env = tmp_env(tmp_path, "prod", env_files=(tmp_path / "env" / "prod.env",))
    assert compose.short(compose.run_once(env, "migrate"), env) == (
        "docker compose … run --rm --no-deps --no-TTY migrate"
    )
    assert compose.short(Command(("docker", "rm", "x y")), env) == "docker rm 'x y'"
    other = tmp_env(tmp_path, "staging")
    assert compose.short(compose.build(other), env) == str(compose.build(other))


def test_the_old_container_is_stopped_with_a_grace_period_then_removed():
    assert docker.stop("shop-prod-api-1", grace=30).argv == ("docker", "stop", "--time", "30", "shop-prod-api-1")
    assert docker.remove("shop-prod-api-1").argv == ("docker", "rm", "shop-prod-api-1")
    assert docker.remove("shop-prod-api-2", force=True).argv == ("docker", "rm", "--force", "shop-prod-api-2")


def test_a_container_joins_a_network_under_aliases_and_leaves_it():
    connect = docker.network_connect("shop_edge", "shop-prod-api-2", ("api",))
    assert connect.argv == ("docker", "network", "connect", "--alias=api", "shop_edge", "shop-prod-api-2")
    assert docker.network_connect("n", "c").argv == ("docker", "network", "connect", "n", "c")
    assert docker.network_disconnect("shop_edge", "shop-prod-api-2").argv == (
        "docker", "network", "disconnect", "shop_edge", "shop-prod-api-2",
    )  # fmt: skip


def test_one_more_web_container_is_started_or_only_created(tmp_path):
    env = tmp_env(tmp_path, "prod")
    rest = ("--no-deps", "--no-recreate", "--scale", "api=2", "api")
    assert after_base(compose.scale_up(env, "api", 2).argv) == ("up", "--detach", *rest)
    assert after_base(compose.scale_up(env, "api", 2, start=False).argv) == ("up", "--no-start", *rest)
