"""Each switch adapter's calls, in order (deploy/proxy.py): Caddy's by the network it
shares with the web service (never a reload), nginx's and Traefik's by a file."""

from __future__ import annotations

import re

import pytest

from stackyard.commands import docker, proxy
from stackyard.config import Proxy
from stackyard.deploy.proxy import (
    CADDY_DRAIN,
    Attached,
    Caddy,
    Call,
    Nginx,
    Traefik,
    adapter,
    service_networks,
    shared_network,
)
from stackyard.errors import StackyardError
from tests.conftest import ROOT
from tests.unit.fakes import tmp_env

NETWORKS = {"edge": ("p_edge",), "web": ("p_backend", "p_edge"), "db": ("p_backend",)}


def test_caddy_keeps_a_new_container_off_its_network_until_the_switch(tmp_path):
    caddy = Caddy("edge", "p_edge", "web")
    assert caddy.before_start("p-web-2") == (Call(docker.network_disconnect("p_edge", "p-web-2")),)


def test_caddy_switches_by_attaching_the_container_under_the_service_name_never_a_reload(tmp_path):
    env = tmp_env(tmp_path, "prod")
    [connect] = Caddy("edge", "p_edge", "web").switch(env, "p-web-2", 8080)
    # Only when it is not there yet: a container already on it (a first deploy's) is no switch to make.
    assert connect == Call(
        docker.network_connect("p_edge", "p-web-2", ("web",)), when=Attached("p-web-2", "p_edge", False)
    )
    assert connect.cmd.argv == ("docker", "network", "connect", "--alias=web", "p_edge", "p-web-2")


def test_caddys_switch_back_stops_the_new_container_so_that_it_finishes_its_requests(tmp_path):
    env = tmp_env(tmp_path, "prod")
    connect, stop = Caddy("edge", "p_edge", "web").switch_back(env, "p-web-1", 8080, "p-web-2")
    assert connect.when == Attached("p-web-1", "p_edge", False)
    # Stopped, not detached: a detach would reset the requests it serves.
    assert stop == Call(docker.stop("p-web-2", CADDY_DRAIN))


def test_caddy_waits_beyond_the_reference_caddyfiles_lookup_interval():
    caddyfile = (ROOT / "docker" / "caddy" / "Caddyfile").read_text()
    [refresh] = re.findall(r"refresh (\d+)s", caddyfile)
    assert Caddy("edge", "p_edge", "web").settle > int(refresh)
    assert "dynamic a {$UPSTREAM_NAME:api}" in caddyfile
    assert "caddy reload" not in caddyfile


def test_nginx_gets_its_upstream_file_on_stdin_then_tests_and_reloads(tmp_path):
    env = tmp_env(tmp_path, "prod")
    nginx = Nginx("proxy", "web")
    write, reload = nginx.switch(env, "p-web-2", 8080)
    assert write == Call(
        proxy.write_file(env, "proxy", "/etc/nginx/conf.d/upstream.conf"),
        "upstream web {\n    server p-web-2:8080;\n}\n",
    )
    assert reload == Call(proxy.nginx_reload(env, "proxy"))
    assert nginx.switch_back(env, "p-web-1", 8080, "p-web-2") == nginx.switch(env, "p-web-1", 8080)
    assert (nginx.before_start("p-web-2"), nginx.settle) == ((), 0)


def test_traefik_gets_its_dynamic_config_and_watches_it(tmp_path):
    env = tmp_env(tmp_path, "prod")
    traefik = Traefik("traefik", "shop", "/dyn/shop.yml")
    [write] = traefik.switch(env, "p-web-2", 8080)
    assert write == Call(
        proxy.write_file(env, "traefik", "/dyn/shop.yml"), proxy.traefik_service("shop", "p-web-2:8080")
    )
    assert traefik.switch_back(env, "p-web-1", 8080, "p-web-2") == traefik.switch(env, "p-web-1", 8080)
    assert traefik.before_start("p-web-2") == ()


def test_the_adapter_follows_the_proxy_role():
    assert adapter(Proxy("edge", "caddy"), "web", NETWORKS) == Caddy("edge", "p_edge", "web")
    assert adapter(Proxy("edge", "nginx"), "web") == Nginx("edge", "web", "/etc/nginx/conf.d/upstream.conf")
    assert adapter(Proxy("edge", "nginx", upstream="app"), "web") == Nginx(
        "edge", "app", "/etc/nginx/conf.d/upstream.conf"
    )
    assert adapter(Proxy("t", "traefik"), "web") == Traefik("t", "web", "/etc/traefik/dynamic/stackyard.yml")


def test_the_networks_are_their_engine_side_names_from_compose_config():
    config = {
        "networks": {"edge": {"name": "shop_edge"}, "backend": {"name": "shop_backend"}, "ext": {"name": "shared"}},
        "services": {
            "web": {"networks": {"edge": None, "backend": {"aliases": ["w"]}}},
            "proxy": {"networks": {"edge": None, "ext": None}},
            "host": {"network_mode": "host"},
        },
    }
    assert service_networks(config) == {
        "web": ("shop_backend", "shop_edge"),
        "proxy": ("shared", "shop_edge"),
        "host": (),
    }


@pytest.mark.parametrize(
    ("networks", "said", "fix"),
    [
        ({"edge": ("p_edge",), "web": ("p_backend",)}, "edge and web share no network", "put both on one network"),
        ({"edge": ("p_edge",)}, "edge and web share no network", "put both on one network"),
        ({"edge": ("p_a", "p_b"), "web": ("p_a", "p_b", "p_c")}, "share 2 networks (p_a, p_b)", "keep one network"),
        ({"edge": ("p_edge",), "web": ("p_edge",)}, "web's only network is p_edge", "put web on a second network"),
    ],
)
def test_a_caddy_switch_needs_one_network_shared_and_another_for_the_web_service(networks, said, fix):
    with pytest.raises(StackyardError) as err:
        shared_network(networks, "edge", "web")
    assert said in err.value.message and "caddy switch" in err.value.message
    assert fix in (err.value.hint or "")


def test_the_shared_network_is_the_one_left_when_the_web_service_has_another():
    assert shared_network(NETWORKS, "edge", "web") == "p_edge"
