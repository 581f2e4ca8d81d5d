"""The proxy's argv builders, and the files they write (commands/proxy.py)."""

from __future__ import annotations

from stackyard.commands import proxy
from tests.unit.fakes import after_base, tmp_env


def test_a_file_is_written_beside_then_renamed_over_from_stdin(tmp_path):
    cmd = proxy.write_file(tmp_env(tmp_path, "prod"), "edge", "/config/pin")
    assert after_base(cmd.argv) == (
        "exec", "--no-TTY", "edge", "sh", "-c", 'cat > "$1.new" && mv "$1.new" "$1"', "sh", "/config/pin",
    )  # fmt: skip


def test_nginx_is_tested_before_it_reloads(tmp_path):
    cmd = proxy.nginx_reload(tmp_env(tmp_path, "prod"), "proxy")
    assert after_base(cmd.argv) == ("exec", "--no-TTY", "proxy", "sh", "-c", "nginx -t -q && exec nginx -s reload")


def test_the_nginx_upstream_and_the_traefik_service_name_the_container():
    assert proxy.nginx_upstream("shop_web", "p-web-2:8080") == "upstream shop_web {\n    server p-web-2:8080;\n}\n"
    assert proxy.traefik_service("shop", "p-web-2:8080") == (
        'http:\n  services:\n    shop:\n      loadBalancer:\n        servers:\n          - url: "http://p-web-2:8080"\n'
    )
