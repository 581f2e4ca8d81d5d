"""What goes into a bundle, from the rendered config alone: the config as held (no
build, no extension fields), the images it runs, and the refusals: files from the
checkout, and a secret's value (named by its variable, never shown)."""

from __future__ import annotations

import json
import pathlib

import pytest

from stackyard.bundle import contents
from stackyard.errors import StackyardError

ROOT = pathlib.Path("/srv/shop")
R = "abc1234-20261122101010"
SECRET = "s3cr3t-Value-Of-The-Db-Password"


def rendered(**services) -> dict:
    """A rendered config like `docker compose config --format json` gives, with the
    reference stack's extension field that holds the secrets' values."""
    return {
        "name": "shop-prod",
        "services": {
            "api": {"image": f"shop-app:{R}", "environment": {"APP_VERSION": R}},
            "migrate": {"image": f"shop-app:{R}", "build": {"context": str(ROOT), "args": {"X": "1"}}},
            "caddy": {"image": f"shop-caddy:{R}", "build": {"context": str(ROOT / "docker/caddy")}},
            "db": {"image": "postgres:17", "volumes": [{"type": "volume", "source": "db-data", "target": "/d"}]},
            "redis": {"image": "redis:8"},
            "secrets-init": {"image": "redis:8"},
            **services,
        },
        "secrets": {"db_password": {"name": "shop-prod_db_password", "environment": "POSTGRES_PASSWORD"}},
        "volumes": {"db-data": {"name": "shop-prod_db-data"}},
        "x-required-secrets": [SECRET],
        "x-hardened": {"read_only": True},
    }


def test_the_bundle_holds_the_config_without_build_and_extension_fields():
    config = contents.for_bundle(rendered())
    assert list(config) == ["name", "services", "secrets", "volumes"]
    assert not any("build" in s for s in config["services"].values())
    assert config["services"]["migrate"] == {"image": f"shop-app:{R}"}
    assert config["secrets"] == rendered()["secrets"]  # the variable's name only
    assert SECRET not in contents.text(config)
    assert json.loads(contents.text(config)) == config


def test_the_images_built_ones_first_one_per_reference_with_their_services():
    assert contents.images(rendered(), R) == [
        contents.Ref(f"shop-app:{R}", True, ("api", "migrate")),
        contents.Ref(f"shop-caddy:{R}", True, ("caddy",)),
        contents.Ref("postgres:17", False, ("db",)),
        contents.Ref("redis:8", False, ("redis", "secrets-init")),
    ]


def test_a_built_image_without_the_release_tag_is_refused():
    config = rendered(web={"image": "shop-web:latest", "build": {"context": "."}})
    with pytest.raises(StackyardError) as info:
        contents.images(config, R)
    assert str(info.value) == (
        "service web builds image shop-web:latest, which does not carry the release's tag: "
        "name it with the tag a release sets: `image: NAME:${APP_TAG:-latest}`"
    )


def test_a_service_without_an_image_is_refused():
    with pytest.raises(StackyardError, match="service web names no image"):
        contents.images(rendered(web={"command": ["true"]}), R)


def test_files_from_the_checkout_are_found_not_the_hosts_own_paths():
    config = rendered(
        proxy={
            "image": "caddy:2",
            "volumes": [
                {"type": "bind", "source": str(ROOT / "config/caddy/Caddyfile"), "target": "/etc/caddy/Caddyfile"},
                {"type": "bind", "source": "/var/run/docker.sock", "target": "/var/run/docker.sock"},
                {"type": "volume", "source": "caddy-data", "target": "/data"},
            ],
        }
    )
    config["configs"] = {"inline": {"content": "x"}, "from_file": {"file": str(ROOT / "c.conf")}}
    assert contents.host_files(config, ROOT) == [
        "service proxy mounts config/caddy/Caddyfile",
        f"config from_file is the file {ROOT / 'c.conf'}",
    ]
    with pytest.raises(StackyardError) as info:
        contents.refuse_host_files(config, ROOT, "prod")
    assert info.value.message.startswith("the prod config takes files from this machine, which a bundle's host")
    assert "bake them into the image (COPY)" in (info.value.hint or "")
    contents.refuse_host_files(rendered(), ROOT, "prod")  # none: no error


def test_a_secret_in_the_config_is_refused_naming_its_variable_and_service_never_its_value():
    config = contents.for_bundle(rendered(worker={"image": "w:1", "environment": {"DB_URL": f"pg://u:{SECRET}@db"}}))
    with pytest.raises(StackyardError) as info:
        contents.refuse_secrets(config, {SECRET: "POSTGRES_PASSWORD", "other-secret": "API_KEY"}, "prod")
    assert info.value.message == (
        "the rendered prod config holds the value of the secret POSTGRES_PASSWORD (service worker): no bundle written"
    )
    assert "`environment: VAR`" in (info.value.hint or "")
    assert SECRET not in str(info.value)


def test_a_secret_is_found_as_json_escapes_it_too():
    value = 'quote"and\\slash'
    config = contents.for_bundle(rendered(worker={"image": "w:1", "labels": {"x": value}}))
    assert contents.leaked(contents.text(config), {value: "TOKEN"}) == {"TOKEN": value}
    with pytest.raises(StackyardError, match=r"secret TOKEN \(service worker\)"):
        contents.refuse_secrets(config, {value: "TOKEN"}, "prod")


def test_the_reference_stacks_extension_field_with_the_secrets_is_not_in_the_bundle():
    contents.refuse_secrets(contents.for_bundle(rendered()), {SECRET: "POSTGRES_PASSWORD"}, "prod")  # no error
    with pytest.raises(StackyardError, match="POSTGRES_PASSWORD: no bundle"):
        contents.refuse_secrets(rendered(), {SECRET: "POSTGRES_PASSWORD"}, "prod")  # as rendered, it would leak
