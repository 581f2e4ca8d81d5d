"""host.check's verdicts: pure functions over facts already read."""

from __future__ import annotations

import pytest

from stackyard.engine.listeners import Listener
from stackyard.engine.state import Port
from stackyard.stack import host_checks as hc

GiB = 2**30

CONFIG = {
    "services": {
        "api": {
            "image": "shop-app:latest",
            "build": {"context": "."},
            "healthcheck": {"test": ["CMD", "true"], "start_interval": "1s"},
            "volumes": [{"type": "volume", "source": "secrets", "target": "/run/s", "volume": {"subpath": "a"}}],
        },
        "worker": {"image": "shop-app:latest", "volumes": [{"type": "volume", "source": "data", "target": "/d"}]},
        "db": {"image": "postgres:17", "healthcheck": {"test": ["CMD", "true"], "start_interval": "1s"}},
        "proxy": {"image": "registry.example.com:5000/proxy", "ports": [{"target": 443, "published": "443"}]},
    }
}


def server(api="1.45", version="26.1.5", os="linux", arch="amd64"):
    return {"ApiVersion": api, "Version": version, "Os": os, "Arch": arch}


# -- needs, engine, Compose ----------------------------------------------------------------


def test_needs_name_the_features_the_config_uses_and_their_services():
    base, interval, subpath = hc.needs(CONFIG)
    assert base == hc.BASE
    assert (interval.why, interval.api, interval.compose) == (
        "healthcheck start_interval (api, db)",
        (1, 44),
        (2, 24, 0),
    )
    assert (subpath.why, subpath.api, subpath.engine, subpath.compose) == (
        "volume subpath (api)",
        (1, 45),
        "26.0",
        (2, 26, 0),
    )
    assert hc.needs({"services": {"a": {}}}) == [hc.BASE]


def test_many_services_are_counted_not_listed():
    config = {"services": {n: {"healthcheck": {"start_interval": "1s"}} for n in "abcde"}}
    assert hc.needs(config)[1].why == "healthcheck start_interval (a, b, c +2)"


@pytest.mark.parametrize(("api", "verdict"), [("1.45", "ok"), ("1.47", "ok"), ("1.44", "fail"), ("1.41", "fail")])
def test_engine_version_against_the_highest_need(api, verdict):
    row = hc.check_engine(server(api=api), hc.needs(CONFIG))
    assert row.verdict == verdict
    assert "needs 26.0+ (API 1.45) for volume subpath (api)" in row.found
    assert ("upgrade Docker Engine on the host to 26.0 or newer" in row.todo) == (verdict == "fail")


def test_engine_without_features_needs_stackyards_base():
    row = hc.check_engine(server(api="1.41", version="20.10.24"), [hc.BASE])
    assert row.verdict == "fail"
    assert row.found == "Docker 20.10.24 (API 1.41); needs 23.0+ (API 1.42) for stackyard"


@pytest.mark.parametrize(
    ("text", "verdict"),
    [
        ('{"version":"v2.40.3"}', "ok"),
        ("2.26.0", "ok"),
        ("Docker Compose version v2.25.0", "fail"),
        (None, "fail"),
    ],
)
def test_compose_here_against_the_highest_need(text, verdict):
    row = hc.check_compose(text, hc.needs(CONFIG))
    assert row.verdict == verdict
    if text:
        assert row.found.endswith("needs 2.26.0+ for volume subpath (api)")


def test_a_tie_with_the_base_names_the_feature():
    only_interval = {"services": {"db": CONFIG["services"]["db"]}}
    assert hc.check_compose("2.24.0", hc.needs(only_interval)).found == (
        "Compose 2.24.0; needs 2.24.0+ for healthcheck start_interval (db)"
    )


def test_compose_on_the_host_is_information_only():
    assert hc.check_host_compose(None) == hc.Row(
        "compose (host)", "not installed: not needed (Compose runs here)", "info"
    )
    assert hc.check_host_compose("2.29.1\n").found == "Compose 2.29.1: not used by stackyard"
    assert hc.check_host_compose(None, "Permission denied (publickey).").found == (
        "unknown: ssh failed (Permission denied (publickey).)"
    )


def test_reach_is_slow_beyond_three_seconds():
    assert hc.check_reach("ssh://h", 0.4) == hc.Row("engine reachable", "ssh://h answered in 0.40 s", "ok")
    assert hc.check_reach("ssh://h", 4.0).verdict == "warn"


# -- platform, storage -------------------------------------------------------------------------

INFO = {"OperatingSystem": "Debian GNU/Linux 13 (trixie)", "NCPU": 4, "MemTotal": 8 * GiB, "Architecture": "x86_64"}


def test_same_architecture_is_ok():
    row = hc.check_platform(server(), INFO, "x86_64", hc.built_platforms(CONFIG))
    assert row == hc.Row("OS/arch", "linux/amd64, Debian GNU/Linux 13 (trixie), 4 CPUs, 8.0 GiB RAM", "ok")


def test_an_arm_host_warns_that_images_built_here_will_not_run():
    row = hc.check_platform(server(arch="arm64"), INFO, "x86_64", hc.built_platforms(CONFIG))
    assert row.verdict == "warn"
    assert row.found.endswith("images built here are linux/amd64")
    assert "will not run there (api)" in row.todo and "`platform: linux/arm64`" in row.todo


def test_a_platform_set_for_the_host_is_ok():
    config = {"services": {"api": {"build": {}, "platform": "linux/arm64"}}}
    assert hc.check_platform(server(arch="arm64"), INFO, "x86_64", hc.built_platforms(config)).verdict == "ok"


def test_pulled_images_only_are_ok_on_any_architecture():
    config = {"services": {"db": {"image": "postgres:17"}}}
    assert hc.check_platform(server(arch="arm64"), INFO, "x86_64", hc.built_platforms(config)).verdict == "ok"


def test_a_windows_engine_fails():
    assert hc.check_platform(server(os="windows"), INFO, "x86_64", {}).verdict == "fail"


@pytest.mark.parametrize(("driver", "verdict"), [("overlay2", "ok"), ("overlayfs", "ok"), ("vfs", "warn")])
def test_storage_driver(driver, verdict):
    assert hc.check_storage({"Driver": driver, "DockerRootDir": "/var/lib/docker"}).verdict == verdict


# -- disk ----------------------------------------------------------------------------------

DF = "Filesystem     1024-blocks     Used Available Capacity Mounted on\n/dev/vda 264212084 27750176 78640736 27% /\n"


def test_parse_df():
    assert hc.parse_df(DF) == (78640736 * 1024, 264212084 * 1024)
    assert hc.parse_df("") is None
    assert hc.parse_df("df: /nope: No such file or directory\n") is None


@pytest.mark.parametrize(
    ("free", "total", "verdict"),
    [
        (60 * GiB, 200 * GiB, "ok"),
        (4 * GiB, 20 * GiB, "warn"),  # below 5 GiB
        (20 * GiB, 500 * GiB, "warn"),  # below 10 %
        (0.5 * GiB, 20 * GiB, "fail"),
    ],
)
def test_disk_thresholds(free, total, verdict):
    row = hc.check_disk("/var/lib/docker", (int(free), int(total)))
    assert row.verdict == verdict
    assert ("docker system prune" in row.todo) == (verdict != "ok")


def test_disk_found_says_free_total_and_share():
    assert hc.check_disk("/d", (60 * GiB, 200 * GiB)).found == "60.0 GiB free of 200.0 GiB (30%) on /d"


def test_unknown_free_space_warns_with_why():
    row = hc.check_disk("/var/lib/docker", None, "Permission denied")
    assert (row.verdict, row.found) == ("warn", "free space of /var/lib/docker unknown (Permission denied)")


def test_repositories_of_the_environment():
    assert hc.repositories(CONFIG) == {"shop-app", "postgres", "registry.example.com:5000/proxy"}


def test_space_counts_the_environments_images_and_volumes():
    usage = {
        "Images": [
            {"RepoTags": ["shop-app:latest", "shop-app:r1"], "Size": 500 * 2**20, "SharedSize": 100 * 2**20},
            {"RepoTags": ["shop-app:r0"], "Size": 450 * 2**20, "SharedSize": 100 * 2**20},
            {"RepoTags": ["other:latest"], "Size": 900 * 2**20, "SharedSize": 0},
            {"RepoTags": None, "Size": 10, "SharedSize": 0},
        ],
        "Volumes": [
            {"Labels": {"com.docker.compose.project": "shop-prod"}, "UsageData": {"Size": 30 * 2**20}},
            {"Labels": {"com.docker.compose.project": "shop-prod"}, "UsageData": {"Size": -1}},
            {"Labels": {"com.docker.compose.project": "other"}, "UsageData": {"Size": 2**30}},
        ],
        "BuildCache": [{"Size": 2 * GiB, "InUse": False}, {"Size": GiB, "InUse": True}],
    }
    row = hc.check_space(usage, hc.repositories(CONFIG), "shop-prod")
    assert row == hc.Row(
        "space used",
        "shop-prod: 2 images ~850 MiB, 2 volumes 30 MiB; build cache not in use: 2.0 GiB",
        "info",
    )


# -- ports ---------------------------------------------------------------------------------

HTTPS = Port("proxy", "0.0.0.0", 443, 443)
LOCAL_API = Port("api", "127.0.0.1", 8000, 8000)
VARS = {("proxy", 443): "HTTPS_PORT"}


def container(name, project, port, ip="0.0.0.0", proto="tcp"):
    return {
        "Names": [f"/{name}"],
        "Labels": {"com.docker.compose.project": project} if project else {},
        "Ports": [{"IP": ip, "PrivatePort": 80, "PublicPort": port, "Type": proto}],
    }


def test_a_free_port_is_ok():
    rows = hc.check_ports([HTTPS], "shop-prod", [], [Listener("tcp", "0.0.0.0", 22)], VARS)
    assert rows == [hc.Row("port 443/tcp", "0.0.0.0:443 for proxy: free", "ok")]


def test_a_port_held_by_this_projects_own_container_is_ok():
    rows = hc.check_ports([HTTPS], "shop-prod", [container("shop-prod-proxy-1", "shop-prod", 443)], [], VARS)
    assert rows == [hc.Row("port 443/tcp", "0.0.0.0:443 for proxy: held by this project's shop-prod-proxy-1", "ok")]


def test_a_port_held_by_another_container_fails_naming_it_and_the_variable():
    holders = [container("shop-prod-proxy-1", "shop-prod", 443), container("web", "blog", 443, ip="::")]
    (row,) = hc.check_ports([HTTPS], "shop-prod", holders, [], VARS)
    assert row.verdict == "fail"
    assert row.found == "0.0.0.0:443 for proxy: taken by container web (project blog)"
    assert row.todo == "stop that container (`docker stop web` on the host), or set HTTPS_PORT to a free port"


def test_a_container_outside_compose_is_named_as_such():
    (row,) = hc.check_ports([HTTPS], "shop-prod", [container("squatter", "", 443)], [], {})
    assert row.found.endswith("taken by container squatter (no compose project)")
    assert row.todo.endswith("or publish it on another port")


def test_a_host_process_fails_with_its_name_when_known():
    listeners = [Listener("tcp", "::", 443, "nginx pid 812")]
    (row,) = hc.check_ports([HTTPS], "shop-prod", [], listeners, VARS)
    assert (row.verdict, row.found) == ("fail", "0.0.0.0:443 for proxy: taken by a process on the host (nginx pid 812)")
    (row,) = hc.check_ports([HTTPS], "shop-prod", [], [Listener("tcp", "0.0.0.0", 443)], VARS)
    assert row.found.endswith("(listening on 0.0.0.0; not named: see ss)")
    assert "sudo ss -ltnp 'sport = :443'" in row.todo


@pytest.mark.parametrize(
    ("holder", "collides"),
    [
        (Listener("tcp", "127.0.0.1", 8000), True),
        (Listener("tcp", "0.0.0.0", 8000), True),
        (Listener("tcp", "::", 8000), True),
        (Listener("tcp", "10.0.0.5", 8000), False),  # another address of the host
        (Listener("udp", "127.0.0.1", 8000), False),  # another protocol
        (Listener("tcp", "127.0.0.1", 8001), False),
    ],
)
def test_which_bindings_collide(holder, collides):
    (row,) = hc.check_ports([LOCAL_API], "shop-dev", [], [holder], {})
    assert (row.verdict == "fail") == collides


def test_a_container_on_another_address_does_not_collide():
    (row,) = hc.check_ports([LOCAL_API], "shop-dev", [container("x", "o", 8000, ip="10.0.0.5")], [], {})
    assert row.verdict == "ok"


def test_unknown_host_processes_warn():
    (row,) = hc.check_ports([HTTPS], "shop-prod", [], None, VARS, "reached over tcp://")
    assert row.verdict == "warn"
    assert row.found == "0.0.0.0:443 for proxy: no container holds it; host processes unknown (reached over tcp://)"


# -- clock, ssh, the table ---------------------------------------------------------------------

T0 = 1_795_000_000.0  # 2026-11-18T11:06:40Z


@pytest.mark.parametrize(
    ("system_time", "sent", "received", "verdict", "shown"),
    [
        ("2026-11-18T11:06:40.250000000Z", T0, T0 + 0.5, "ok", "+0.00 s"),
        ("2026-11-18T11:06:45.000000000Z", T0, T0 + 0.2, "warn", "+4.90 s"),
        ("2026-11-18T11:06:37.5Z", T0, T0 + 0.2, "warn", "-2.60 s"),
        ("2026-11-18T11:08:40.1Z", T0, T0 + 0.2, "fail", "+120.00 s"),
        ("2026-11-18T12:06:40.1+01:00", T0, T0 + 0.2, "ok", "+0.00 s"),
    ],
)
def test_clock_skew(system_time, sent, received, verdict, shown):
    row = hc.check_clock(system_time, sent, received)
    assert row.verdict == verdict
    assert f"host clock {shown} from this machine's" in row.found
    assert ("timedatectl set-ntp true" in row.todo) == (verdict != "ok")


def test_a_skew_within_the_round_trip_is_not_judged():
    # 3 s off at the middle, but the request took 4 s: the skew may be under 2 s.
    assert hc.check_clock("2026-11-18T11:06:45Z", T0, T0 + 4).verdict == "ok"
    assert hc.check_clock("2026-11-18T11:06:45Z", T0, T0 + 4).found.endswith("(± 2.00 s: half the round trip)")


def test_an_unreadable_engine_time_warns():
    assert hc.check_clock("", T0, T0).verdict == "warn"


SSH_G = "user deploy\nhostname example.com\ncontrolmaster auto\ncontrolpath /home/a/.ssh/cm-%C\ncontrolpersist 60\n"


def test_ssh_options():
    assert hc.parse_ssh_options(SSH_G)["controlpath"] == "/home/a/.ssh/cm-%C"


def test_ssh_with_a_shared_connection():
    row = hc.check_ssh(hc.parse_ssh_options(SSH_G), "example.com", 0.31, 0.02)
    assert row == hc.Row(
        "ssh",
        "shared connection (ControlMaster auto, ControlPersist 60): a call 0.02 s, 0.31 s with a new connection",
        "info",
    )


def test_ssh_without_one_says_what_to_add():
    row = hc.check_ssh({"controlmaster": "no", "controlpath": "none"}, "example.com", 0.31, 0.3)
    assert row.found == "no shared connection: each docker call opens one (0.31 s measured)"
    assert "`Host example.com` with `ControlMaster auto`" in row.todo


def test_ssh_as_ssh_G_prints_a_master_turned_off():
    options = hc.parse_ssh_options("controlmaster false\ncontrolpath /home/a/.ssh/cm-%C\n")
    assert hc.check_ssh(options, "h", 0.31, 0.3).found.startswith("no shared connection")
    assert hc.check_ssh(hc.parse_ssh_options("controlpath none\n"), "h", 0.31, 0.3).todo.startswith("in ~/.ssh/config")


def test_ssh_master_without_persist_says_so():
    options = hc.parse_ssh_options(SSH_G.replace("controlpersist 60", "controlpersist no"))
    assert "ControlPersist 60" in hc.check_ssh(options, "h", 0.3, 0.3).todo


def test_ssh_where_only_the_shared_connection_works_warns():
    row = hc.check_ssh(hc.parse_ssh_options(SSH_G), "h", None, 0.01, "kex_exchange_identification: Connection closed")
    assert row.verdict == "warn"
    assert (
        row.found
        == "a new connection fails (kex_exchange_identification: Connection closed); only the shared one works"
    )


def test_render_and_failed():
    rows = [hc.Row("disk", "60 GiB free", "ok"), hc.Row("port 80/tcp", "taken by container web", "fail", "stop it")]
    assert hc.render(rows).splitlines() == [
        "CHECK        FOUND                   VERDICT  WHAT TO DO",
        "disk         60 GiB free             OK",
        "port 80/tcp  taken by container web  FAIL     stop it",
    ]
    assert hc.failed(rows) == rows[1:]
