"""The proxy's argv builders and each switch adapter's calls (deploy/proxy.py)."""

from __future__ import annotations

from stackyard.commands import proxy
from stackyard.config import Proxy
from stackyard.deploy.proxy import Caddy, Call, Nginx, Traefik, adapter
from tests.unit.fakes import after_base, tmp_env


def test_caddy_reloads_with_the_upstream_in_a_variable(tmp_path):
    env = tmp_env(tmp_path, "prod")
    [call] = Caddy("edge").switch(env, "p-web-2", 8080)
    assert call.stdin is None
    assert after_base(call.cmd.argv) == (
        "exec", "--no-TTY", "--env", "UPSTREAM=p-web-2:8080", "edge",
        "caddy", "reload", "--config", "/etc/caddy/Caddyfile", "--adapter", "caddyfile",
    )  # fmt: skip


def test_nginx_gets_its_upstream_file_on_stdin_then_tests_and_reloads(tmp_path):
    env = tmp_env(tmp_path, "prod")
    write, reload = Nginx("proxy", "web").switch(env, "p-web-2", 8080)
    assert after_base(write.cmd.argv) == (
        "exec", "--no-TTY", "proxy", "sh", "-c", 'cat > "$1.new" && mv "$1.new" "$1"', "sh",
        "/etc/nginx/conf.d/upstream.conf",
    )  # fmt: skip
    assert write.stdin == "upstream web {\n    server p-web-2:8080;\n}\n"
    assert reload == Call(proxy.nginx_reload(env, "proxy"))
    assert after_base(reload.cmd.argv) == (
        "exec", "--no-TTY", "proxy", "sh", "-c", "nginx -t -q && exec nginx -s reload",
    )  # fmt: skip


def test_traefik_gets_its_dynamic_config_and_watches_it(tmp_path):
    env = tmp_env(tmp_path, "prod")
    [write] = Traefik("traefik", "shop", "/dyn/shop.yml").switch(env, "p-web-2", 8080)
    assert after_base(write.cmd.argv)[-1] == "/dyn/shop.yml"
    assert write.stdin == (
        'http:\n  services:\n    shop:\n      loadBalancer:\n        servers:\n          - url: "http://p-web-2:8080"\n'
    )


def test_the_adapter_follows_the_proxy_role():
    assert adapter(Proxy("edge", "caddy", "/srv/Caddyfile"), "web") == Caddy("edge", "/srv/Caddyfile")
    assert adapter(Proxy("edge", "nginx"), "web") == Nginx("edge", "web", "/etc/nginx/conf.d/upstream.conf")
    assert adapter(Proxy("edge", "nginx", upstream="app"), "web") == Nginx(
        "edge", "app", "/etc/nginx/conf.d/upstream.conf"
    )
    assert adapter(Proxy("t", "traefik"), "web") == Traefik("t", "web", "/etc/traefik/dynamic/stackyard.yml")
