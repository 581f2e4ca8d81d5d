"""The argv of the builders a deploy uses: Caddy's reload, a command for a
release's images, and a command as a plan shows it."""

from __future__ import annotations

from stackyard.commands import compose, docker, proxy
from stackyard.core.command import Command
from tests.unit.fakes import tmp_env


def test_caddy_reload_sets_the_upstream_in_the_proxy_container(tmp_path):
    env = tmp_env(tmp_path, "prod", project="shop-prod")
    cmd = proxy.caddy_reload(env, "caddy", "shop-prod-api-2:8000")
    assert cmd.argv == (
        *compose.base(env),
        "exec",
        "--no-TTY",
        "--env",
        "UPSTREAM=shop-prod-api-2:8000",
        "caddy",
        "caddy",
        "reload",
        "--config",
        "/etc/caddy/Caddyfile",
        "--adapter",
        "caddyfile",
    )
    assert cmd.env == {}


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
