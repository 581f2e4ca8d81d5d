"""Each switch adapter's calls, in order (deploy/proxy.py): every kind pins the
container it switches to, so that the proxy comes back on it after a restart."""

from __future__ import annotations

import pathlib
import subprocess

from stackyard.commands import proxy
from stackyard.config import Proxy
from stackyard.deploy.proxy import CADDY_PIN_FILE, Caddy, Call, Nginx, Traefik, adapter
from tests.conftest import ROOT
from tests.unit.fakes import after_base, tmp_env


def test_caddy_pins_the_upstream_on_its_volume_then_reloads_with_it(tmp_path):
    env = tmp_env(tmp_path, "prod")
    pin, reload = Caddy("edge").switch(env, "p-web-2", 8080)
    # The pin first: one that cannot be written fails the switch before the traffic moves.
    assert pin == Call(proxy.write_file(env, "edge", "/config/stackyard-upstream"), "p-web-2:8080\n")
    assert reload == Call(proxy.caddy_reload(env, "edge", "p-web-2:8080", "/etc/caddy/Caddyfile"))
    assert after_base(reload.cmd.argv)[:5] == ("exec", "--no-TTY", "--env", "UPSTREAM=p-web-2:8080", "edge")


def test_nginx_gets_its_upstream_file_on_stdin_then_tests_and_reloads(tmp_path):
    env = tmp_env(tmp_path, "prod")
    write, reload = Nginx("proxy", "web").switch(env, "p-web-2", 8080)
    assert write == Call(
        proxy.write_file(env, "proxy", "/etc/nginx/conf.d/upstream.conf"),
        "upstream web {\n    server p-web-2:8080;\n}\n",
    )
    assert reload == Call(proxy.nginx_reload(env, "proxy"))


def test_traefik_gets_its_dynamic_config_and_watches_it(tmp_path):
    env = tmp_env(tmp_path, "prod")
    [write] = Traefik("traefik", "shop", "/dyn/shop.yml").switch(env, "p-web-2", 8080)
    assert write == Call(
        proxy.write_file(env, "traefik", "/dyn/shop.yml"), proxy.traefik_service("shop", "p-web-2:8080")
    )


def test_the_adapter_follows_the_proxy_role():
    assert adapter(Proxy("edge", "caddy", "/srv/Caddyfile"), "web") == Caddy("edge", "/srv/Caddyfile")
    assert adapter(Proxy("edge", "caddy"), "web") == Caddy("edge", "/etc/caddy/Caddyfile", CADDY_PIN_FILE)
    assert adapter(Proxy("edge", "nginx"), "web") == Nginx("edge", "web", "/etc/nginx/conf.d/upstream.conf")
    assert adapter(Proxy("edge", "nginx", upstream="app"), "web") == Nginx(
        "edge", "app", "/etc/nginx/conf.d/upstream.conf"
    )
    assert adapter(Proxy("t", "traefik"), "web") == Traefik("t", "web", "/etc/traefik/dynamic/stackyard.yml")


ENTRYPOINT = ROOT / "docker" / "caddy" / "pinned-upstream.sh"


def start(tmp_path: pathlib.Path, pin: str | None, resolves: bool) -> subprocess.CompletedProcess:
    """The reference Caddy image's entrypoint, run with its pin file and `getent`
    replaced by stand-ins under tmp_path; the command it starts prints UPSTREAM."""
    if pin is not None:
        (tmp_path / "pin").write_text(pin)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, body in (("getent", f"exit {0 if resolves else 2}"), ("sleep", "exit 0")):
        (bin_dir / name).write_text(f"#!/bin/sh\n{body}\n")
        (bin_dir / name).chmod(0o755)
    script = ENTRYPOINT.read_text().replace("PIN=/config/stackyard-upstream", f"PIN={tmp_path / 'pin'}")
    return subprocess.run(
        ["sh", "-c", script, "pinned-upstream", "sh", "-c", 'echo "UPSTREAM=${UPSTREAM-unset}"'],
        env={"PATH": f"{bin_dir}:/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    )


def test_the_reference_caddy_starts_on_the_pin_its_adapter_writes(tmp_path):
    assert f"PIN={CADDY_PIN_FILE}\n" in ENTRYPOINT.read_text()
    done = start(tmp_path, proxy.caddy_pin("p-web-2:8080"), resolves=True)
    assert done.stdout == "UPSTREAM=p-web-2:8080\n"


def test_the_reference_caddy_starts_on_its_default_without_a_pin_or_with_a_gone_one(tmp_path):
    (tmp_path / "none").mkdir()
    (tmp_path / "gone").mkdir()
    assert start(tmp_path / "none", None, resolves=True).stdout == "UPSTREAM=unset\n"
    gone = start(tmp_path / "gone", "p-web-9:8080\n", resolves=False)
    # Unset, not empty: Caddy's {$UPSTREAM:default} takes the default only for an unset variable.
    assert gone.stdout == "UPSTREAM=unset\n"
    assert "p-web-9:8080" in gone.stderr and "default" in gone.stderr
