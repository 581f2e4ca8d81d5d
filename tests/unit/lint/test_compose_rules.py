"""lint.compose_rules: each SY rule fires on a service made bad in one way and
only there; a compliant service (shaped like `docker compose config --format
json` output) passes; the exemption labels work; locate() finds the line.
SY013 (ports from internal networks only) looks at the whole config, in any
environment: its own tests and fixture are below."""

from __future__ import annotations

import copy
import pathlib
import re

import pytest
import yaml

from stackyard.lint import compose_rules
from stackyard.lint.compose_rules import (
    HOST_FILES_FIX,
    RULES,
    SOCKET,
    check,
    check_service,
    locate,
    one_shots,
    unreachable,
)

FIXTURES = pathlib.Path(__file__).resolve().parents[2] / "fixtures" / "lint"

# A compliant prod service, as `docker compose config --format json` renders it.
GOOD = {
    "image": "example/app:2.1",
    "user": "10001:10001",
    "read_only": True,
    "tmpfs": ["/tmp:size=64m,mode=1777"],
    "cap_drop": ["ALL"],
    "security_opt": ["no-new-privileges:true"],
    "deploy": {"resources": {"limits": {"cpus": 1.0, "memory": "536870912", "pids": 256}}},
    "volumes": [{"type": "volume", "source": "app-data", "target": "/data", "volume": {}}],
    "ports": [{"mode": "ingress", "host_ip": "127.0.0.1", "target": 8000, "published": "8000", "protocol": "tcp"}],
    "healthcheck": {"test": ["CMD", "python", "-m", "refapp.health"], "interval": "5s", "retries": 5},
    "labels": {"com.example.team": "shop"},
    "depends_on": {"db": {"condition": "service_healthy", "required": True}},
}
RAW_IMAGE = "${APP_IMAGE:-example/app:2.1}"
SOCKET_RO = {"type": "bind", "source": SOCKET, "target": SOCKET, "read_only": True, "bind": {}}
SOCKET_RW = {"type": "bind", "source": SOCKET, "target": SOCKET, "bind": {}}


def good() -> dict:
    return copy.deepcopy(GOOD)


def rules(svc: dict, one_shot: bool = False, raw_image: str | None = RAW_IMAGE) -> list[str]:
    return [rule for rule, _ in check_service("svc", svc, one_shot, raw_image)]


def limits(svc: dict) -> dict:
    return svc["deploy"]["resources"]["limits"]


# One way to break each rule: (change to a copy of GOOD, raw image).
def _root(s):
    s["user"] = "root"


def _writable(s):
    s["read_only"] = False


def _caps(s):
    del s["cap_drop"]


def _escalation(s):
    s["security_opt"] = ["seccomp=unconfined"]


def _memory(s):
    del limits(s)["memory"]


def _pids(s):
    del limits(s)["pids"]


def _privileged(s):
    s["privileged"] = True


def _host_network(s):
    s["network_mode"] = "host"


def _socket(s):
    s["volumes"].append(SOCKET_RW)


def _world_port(s):
    s["ports"].append({"mode": "ingress", "host_ip": "0.0.0.0", "target": 443, "published": "443", "protocol": "tcp"})


def _no_health(s):
    del s["healthcheck"]


def _same(s):
    pass


BREAK = {
    "SY001": (_root, RAW_IMAGE),
    "SY002": (_writable, RAW_IMAGE),
    "SY003": (_caps, RAW_IMAGE),
    "SY004": (_escalation, RAW_IMAGE),
    "SY005": (_memory, RAW_IMAGE),
    "SY006": (_pids, RAW_IMAGE),
    "SY007": (_privileged, RAW_IMAGE),
    "SY008": (_host_network, RAW_IMAGE),
    "SY009": (_socket, RAW_IMAGE),
    "SY010": (_world_port, RAW_IMAGE),
    "SY011": (_no_health, RAW_IMAGE),
    "SY012": (_same, "example/app:2.1"),
}


def test_every_rule_has_a_bad_fixture():
    # SY013 judges a service with the networks of the whole config, and SY014's
    # message names the paths it found: test_sy013_* and test_sy014_* below.
    assert set(BREAK) | {"SY013", "SY014"} == set(RULES)


def test_compliant_service_passes():
    assert check_service("api", good(), False, RAW_IMAGE) == []


@pytest.mark.parametrize("rule", sorted(BREAK))
def test_rule_fires_alone_on_its_bad_fixture(rule):
    change, raw_image = BREAK[rule]
    svc = good()
    change(svc)
    assert check_service("svc", svc, False, raw_image) == [(rule, RULES[rule])]


def test_messages_say_what_to_do():
    for rule, message in RULES.items():
        assert re.fullmatch(r"SY\d{3}", rule)
        assert message and message == message.strip()


# ---- SY001 user -------------------------------------------------------------------


@pytest.mark.parametrize("user", [None, "", "root", "0", "0:0", "root:root"])
def test_root_users(user):
    svc = good()
    if user is None:
        del svc["user"]
    else:
        svc["user"] = user
    assert rules(svc) == ["SY001"]


@pytest.mark.parametrize("user", ["10001:10001", "postgres", "472:0", "redis", "1000"])
def test_non_root_users(user):
    svc = good()
    svc["user"] = user
    assert rules(svc) == []


@pytest.mark.parametrize("user", ["0:1000", "root:1000"])
def test_root_uid_with_another_group_is_root(user):
    svc = good()
    svc["user"] = user
    assert rules(svc) == ["SY001"]


def test_root_exempt_label():
    svc = good()
    del svc["user"]
    svc["labels"]["dev.stackyard.root-exempt"] = "reads the root-owned Docker socket"
    assert rules(svc) == []


# ---- SY002 .. SY006 -------------------------------------------------------------


def test_read_only_missing_fires_and_the_label_exempts():
    svc = good()
    del svc["read_only"]
    assert rules(svc) == ["SY002"]
    svc["labels"]["dev.stackyard.read-only-exempt"] = "socket directory must be owned by postgres"
    assert rules(svc) == []


@pytest.mark.parametrize("caps", [[], ["NET_RAW"], ["CHOWN", "SETUID"]])
def test_cap_drop_without_all(caps):
    svc = good()
    svc["cap_drop"] = caps
    assert rules(svc) == ["SY003"]


def test_cap_drop_all_in_lower_case():
    svc = good()
    svc["cap_drop"] = ["all"]
    assert rules(svc) == []


@pytest.mark.parametrize(
    "caps", [["NET_ADMIN"], ["SYS_ADMIN"], ["SYS_PTRACE"], ["ALL"], ["cap_sys_module"], ["NET_ADMN"]]
)
def test_cap_drop_all_with_a_dangerous_cap_add_fires(caps):
    svc = good()
    svc["cap_add"] = ["NET_BIND_SERVICE", *caps]
    [(rule, message)] = check_service("svc", svc, False, RAW_IMAGE)
    name = caps[0].upper().removeprefix("CAP_")
    assert rule == "SY003"
    assert message.startswith(f"cap_add gives {name}, beyond Docker's default capabilities: remove it")


def test_every_dangerous_cap_is_named_once_in_order():
    svc = good()
    svc["cap_add"] = ["SYS_PTRACE", "NET_ADMIN", "CAP_NET_ADMIN", "CHOWN"]
    [(_, message)] = check_service("svc", svc, False, RAW_IMAGE)
    assert "gives NET_ADMIN, SYS_PTRACE, beyond" in message


@pytest.mark.parametrize("caps", [["NET_BIND_SERVICE"], ["CAP_NET_BIND_SERVICE"], ["CHOWN", "SETUID", "SETGID"]])
def test_cap_drop_all_with_default_caps_added_back_passes(caps):
    svc = good()
    svc["cap_add"] = caps
    assert rules(svc) == []


def test_a_dangerous_cap_add_without_cap_drop_all_is_one_finding():
    svc = good()
    del svc["cap_drop"]
    svc["cap_add"] = ["SYS_ADMIN"]
    assert check_service("svc", svc, False, RAW_IMAGE) == [("SY003", RULES["SY003"])]


@pytest.mark.parametrize("opt", ["no-new-privileges:true", "no-new-privileges", "no-new-privileges: true"])
def test_no_new_privileges_spellings(opt):
    svc = good()
    svc["security_opt"] = ["label=disable", opt]
    assert rules(svc) == []


@pytest.mark.parametrize("opts", [None, [], ["no-new-privileges:false"]])
def test_escalation_allowed(opts):
    svc = good()
    svc["security_opt"] = opts
    assert rules(svc) == ["SY004"]


def test_no_deploy_at_all_fires_both_limits():
    svc = good()
    del svc["deploy"]
    assert rules(svc) == ["SY005", "SY006"]


def test_service_level_mem_and_pids_limits_count():
    svc = good()
    del svc["deploy"]
    svc["mem_limit"] = "268435456"
    svc["pids_limit"] = 64
    assert rules(svc) == []


# ---- SY007 .. SY010 -------------------------------------------------------------


def test_privileged_false_and_other_network_modes_pass():
    svc = good()
    svc["privileged"] = False
    svc["network_mode"] = "service:vpn"
    assert rules(svc) == []


def test_docker_socket_read_only_with_label_is_quiet():
    svc = good()
    svc["volumes"].append(SOCKET_RO)
    svc["labels"]["dev.stackyard.docker-socket"] = "discovers containers (read-only)"
    assert rules(svc) == []


def test_docker_socket_read_write_fires_even_with_label():
    svc = good()
    svc["volumes"].append(SOCKET_RW)
    svc["labels"]["dev.stackyard.docker-socket"] = "discovers containers"
    assert rules(svc) == ["SY009"]


def test_docker_socket_read_only_without_label_fires():
    svc = good()
    svc["volumes"].append(SOCKET_RO)
    assert rules(svc) == ["SY009"]


def test_docker_socket_matched_by_target_too():
    svc = good()
    svc["volumes"].append({"type": "bind", "source": "/run/user/1000/docker.sock", "target": SOCKET, "bind": {}})
    assert rules(svc) == ["SY009"]


@pytest.mark.parametrize("host_ip", [None, "", "0.0.0.0", "::", "192.168.1.10"])
def test_world_ports(host_ip):
    svc = good()
    port = {"mode": "ingress", "target": 80, "published": "80", "protocol": "tcp"}
    if host_ip is not None:
        port["host_ip"] = host_ip
    svc["ports"] = [port]
    assert rules(svc) == ["SY010"]


@pytest.mark.parametrize("host_ip", ["127.0.0.1", "::1"])
def test_loopback_ports_are_allowed_for_any_service(host_ip):
    svc = good()
    svc["ports"] = [{"mode": "ingress", "host_ip": host_ip, "target": 80, "published": "80", "protocol": "tcp"}]
    assert rules(svc) == []


def test_proxy_label_may_publish_to_the_world():
    svc = good()
    svc["labels"]["dev.stackyard.proxy"] = "true"
    svc["ports"] = [
        {"mode": "ingress", "host_ip": "0.0.0.0", "target": 80, "published": "80", "protocol": "tcp"},
        {"mode": "ingress", "host_ip": "0.0.0.0", "target": 443, "published": "443", "protocol": "tcp"},
    ]
    assert rules(svc) == []


def test_many_world_ports_give_one_finding():
    svc = good()
    svc["ports"] = [
        {"mode": "ingress", "host_ip": "0.0.0.0", "target": p, "published": str(p), "protocol": "tcp"}
        for p in (80, 443)
    ]
    assert rules(svc) == ["SY010"]


def test_port_without_published_still_reaches_the_world():
    svc = good()
    svc["ports"] = [{"mode": "ingress", "target": 8000, "protocol": "tcp"}]
    assert rules(svc) == ["SY010"]


# ---- SY011 healthcheck -----------------------------------------------------------


def test_disabled_healthcheck_fires():
    svc = good()
    svc["healthcheck"] = {"disable": True}
    assert rules(svc) == ["SY011"]


def test_healthcheck_with_test_and_disable_fires():
    svc = good()
    svc["healthcheck"]["disable"] = True
    assert rules(svc) == ["SY011"]


def test_one_shot_needs_no_healthcheck():
    svc = good()
    del svc["healthcheck"]
    assert rules(svc, one_shot=True) == []


def test_one_shots_are_services_waited_on_to_complete():
    services = {
        "api": {
            "depends_on": {
                "db": {"condition": "service_healthy"},
                "migrate": {"condition": "service_completed_successfully"},
            }
        },
        "worker": {"depends_on": {"seed": {"condition": "service_completed_successfully"}}},
        "web": {"depends_on": {"api": {"condition": "service_started"}}},
        "db": {},
        "migrate": {"depends_on": None},
    }
    assert one_shots(services) == {"migrate", "seed"}


# ---- SY012 image from a variable ----------------------------------------------


@pytest.mark.parametrize("raw", ["${X_IMAGE:-x/y:1}", "${APP_IMAGE:-app}:${APP_TAG:-latest}", "registry/x:${TAG}"])
def test_image_from_a_variable_is_quiet(raw):
    assert rules(good(), raw_image=raw) == []


@pytest.mark.parametrize("raw", ["x/y:1", "postgres:17"])
def test_literal_image_fires(raw):
    assert rules(good(), raw_image=raw) == ["SY012"]


def test_no_raw_image_skips_the_rule():
    """A service that only builds has no image in the raw config."""
    assert rules(good(), raw_image=None) == []


# ---- labels as a list ----------------------------------------------------------


@pytest.mark.parametrize(
    "label, change",
    [
        ("dev.stackyard.root-exempt=reads the socket", _root),
        ("dev.stackyard.read-only-exempt", _writable),
        ("dev.stackyard.proxy=true", _world_port),
    ],
)
def test_labels_as_a_list(label, change):
    svc = good()
    change(svc)
    svc["labels"] = ["com.example.team=shop", label]
    assert rules(svc) == []


def test_docker_socket_label_as_a_list():
    svc = good()
    svc["volumes"].append(SOCKET_RO)
    svc["labels"] = ["dev.stackyard.docker-socket=discovers containers=read-only"]
    assert rules(svc) == []


def test_labels_list_value_keeps_its_equals_signs():
    assert compose_rules._labels({"labels": ["a=b=c", "flag"]}) == {"a": "b=c", "flag": ""}


# ---- check: the whole config ----------------------------------------------------


def test_check_returns_findings_per_service_sorted_and_omits_clean_ones():
    zed, web, api = good(), good(), good()
    zed["privileged"] = True
    web["network_mode"] = "host"
    del web["healthcheck"]
    config = {"name": "shop-prod", "services": {"zed": zed, "api": api, "web": web}}
    raw = {"services": {name: {"image": RAW_IMAGE} for name in config["services"]}}
    found = check(config, raw)
    assert list(found) == ["web", "zed"]
    assert found["web"] == [("SY008", RULES["SY008"]), ("SY011", RULES["SY011"])]
    assert found["zed"] == [("SY007", RULES["SY007"])]


def test_check_uses_the_raw_image_of_each_service():
    config = {"services": {"a": good(), "b": good()}}
    raw = {"services": {"a": {"image": "x/a:1"}, "b": {"image": "${B_IMAGE:-x/b:1}"}}}
    assert check(config, raw) == {"a": [("SY012", RULES["SY012"])]}


def test_check_finds_one_shots_across_the_config():
    migrate = good()
    del migrate["healthcheck"]
    api = good()
    api["depends_on"] = {"migrate": {"condition": "service_completed_successfully", "required": True}}
    assert check({"services": {"api": api, "migrate": migrate}}, {}) == {}


def test_check_of_an_empty_config():
    assert check({}, {}) == {}
    assert check({"services": None}, {"services": None}) == {}


# ---- locate ------------------------------------------------------------------------


def write(path: pathlib.Path, text: str) -> pathlib.Path:
    path.write_text(text)
    return path


def test_locate_prefers_the_last_file_that_defines_the_service(tmp_path):
    base = write(tmp_path / "compose.yaml", "services:\n  db:\n    image: x\n  api:\n    image: y\n")
    prod = write(tmp_path / "compose.prod.yaml", "# prod\nservices:\n\n  api:  # hardened\n    read_only: true\n")
    files = (base, prod)
    assert locate(files, "api") == (str(prod), 4)
    assert locate(files, "db") == (str(base), 2)


def test_locate_ignores_deeper_keys_and_prefixes(tmp_path):
    base = write(
        tmp_path / "compose.yaml",
        "services:\n  api:\n    depends_on:\n      db:\n        condition: service_healthy\n  api-v2:\n    image: x\n  db:\n",
    )
    assert locate([base], "db") == (str(base), 8)
    assert locate([base], "api") == (str(base), 2)


def test_locate_escapes_the_name(tmp_path):
    base = write(tmp_path / "compose.yaml", "services:\n  aXb:\n  a.b:\n")
    assert locate([base], "a.b") == (str(base), 3)


def test_locate_unknown_service_or_missing_file(tmp_path):
    base = write(tmp_path / "compose.yaml", "services:\n  api:\n")
    missing = tmp_path / "compose.prod.yaml"
    assert locate([base, missing], "api") == (str(base), 2)
    assert locate([base, missing], "nope") == (str(base), 0)
    assert locate([], "api") == ("?", 0)


def test_locate_only_looks_under_services(tmp_path):
    base = write(
        tmp_path / "compose.yaml",
        "x-deps: &deps\n  db:\n    condition: service_healthy\nservices:\n  db:\n    image: x\n",
    )
    assert locate([base], "db") == (str(base), 5)


# ---- the deliberately bad fixture pair (tests/fixtures/lint) -----------------


def merge(base: dict, override: dict) -> dict:
    """Compose's merge, as far as the fixture needs: mappings merge, lists append, the rest is replaced."""
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        elif isinstance(value, list) and isinstance(out.get(key), list):
            out[key] = out[key] + value
        else:
            out[key] = value
    return out


def _volume(short: str) -> dict:
    source, target, *mode = short.split(":")
    return {"type": "bind" if source.startswith("/") else "volume", "source": source, "target": target} | (
        {"read_only": True} if mode == ["ro"] else {}
    )


def _port(short: str) -> dict:
    host_ip, published, target = short.split(":")
    return {"mode": "ingress", "host_ip": host_ip, "target": int(target), "published": published, "protocol": "tcp"}


def _interpolate(value: str) -> str:
    return re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", value)


def render(raw: dict) -> dict:
    """The shape `config --format json` gives the fixture: long-syntax volumes and ports, defaults filled in."""
    services = {}
    for name, svc in raw["services"].items():
        svc = dict(svc)
        svc["image"] = _interpolate(svc["image"])
        svc["volumes"] = [_volume(v) for v in svc.get("volumes", [])]
        svc["ports"] = [_port(p) for p in svc.get("ports", [])]
        services[name] = svc
    return {"services": services}


def load_fixture() -> dict:
    base = yaml.safe_load((FIXTURES / "bad-base.yml").read_text())
    prod = yaml.safe_load((FIXTURES / "bad-prod.yml").read_text())
    return {"services": merge(base["services"], prod["services"])}


def test_fixture_renders_as_expected():
    web = render(load_fixture())["services"]["web"]
    assert web["volumes"] == [{"type": "bind", "source": SOCKET, "target": SOCKET}]
    assert web["ports"] == [
        {"mode": "ingress", "host_ip": "0.0.0.0", "target": 8080, "published": "8080", "protocol": "tcp"}
    ]
    assert web["user"] == "10001:10001" and web["privileged"] is True


def test_deliberately_bad_fixture_pair():
    raw = load_fixture()
    found = {name: [rule for rule, _ in rules_] for name, rules_ in check(render(raw), raw).items()}
    assert found == {
        "cache": ["SY001", "SY002", "SY003", "SY004", "SY005", "SY006"],
        "web": ["SY007", "SY008", "SY009", "SY010", "SY011", "SY012"],
    }


def test_deliberately_bad_fixture_is_located_in_the_override():
    files = (FIXTURES / "bad-base.yml", FIXTURES / "bad-prod.yml")
    file, line = locate(files, "web")
    assert (pathlib.Path(file).name, files[1].read_text().splitlines()[line - 1]) == ("bad-prod.yml", "  web:")
    file, line = locate(files, "cache")
    assert (pathlib.Path(file).name, files[0].read_text().splitlines()[line - 1]) == ("bad-base.yml", "  cache:")


# ---- SY013: ports published from internal networks only (any environment) -------


NETWORKS = {"edge": {"name": "shop_edge", "ipam": {}}, "backend": {"name": "shop_backend", "internal": True}}
PORT = [{"mode": "ingress", "host_ip": "127.0.0.1", "target": 5555, "published": "5555", "protocol": "tcp"}]


def svc_on(*networks: str, ports=PORT) -> dict:
    return {"networks": dict.fromkeys(networks), "ports": ports}


def test_sy013_ports_on_internal_networks_only():
    config = {"networks": NETWORKS, "services": {"flower": svc_on("backend")}}
    [(rule, message)] = unreachable(config)["flower"]
    assert rule == "SY013"
    assert message == (
        "publishes ports but joins only internal networks (backend), so Docker drops them without a word: "
        "attach it to a non-internal network too (as api joins `edge`)"
    )


@pytest.mark.parametrize(
    "svc",
    [
        svc_on("backend", "edge"),  # a non-internal network beside the internal one
        svc_on("edge"),
        svc_on("backend", ports=[]),  # nothing published
        svc_on("backend", ports=None),
        {"network_mode": "host", "ports": PORT},  # no networks of its own
        {"ports": PORT},  # the default network
        svc_on("outside"),  # not defined here (external): not known to be internal
    ],
)
def test_sy013_quiet_when_the_ports_can_be_reached(svc):
    assert unreachable({"networks": NETWORKS, "services": {"api": svc}}) == {}


def test_sy013_of_an_empty_config():
    assert unreachable({}) == {}
    assert unreachable({"services": {"a": svc_on("backend")}, "networks": None}) == {}


def render_networks(raw: dict) -> dict:
    """The shape `config --format json` gives bad-networks.yml: networks as mappings, long-syntax ports."""
    services = {
        name: {"networks": dict.fromkeys(svc.get("networks", [])), "ports": [_port(p) for p in svc.get("ports", [])]}
        for name, svc in raw["services"].items()
    }
    return {"services": services, "networks": {n: v or {} for n, v in raw["networks"].items()}}


def test_sy013_deliberately_bad_fixture():
    files = [FIXTURES / "bad-networks.yml"]
    found = unreachable(render_networks(yaml.safe_load(files[0].read_text())))
    assert {name: [rule for rule, _ in problems] for name, problems in found.items()} == {"monitor": ["SY013"]}
    _, line = locate(files, "monitor")
    assert files[0].read_text().splitlines()[line - 1] == "  monitor:"


# ---- SY014: files from the host (bind mounts, `file:` configs and secrets) -------


ROOT = pathlib.PurePath("/home/me/shop")


def bind(source: str, target: str = "/etc/app/config.yaml") -> dict:
    """A bind mount as `config --format json` renders it: a relative path already resolved."""
    return {"type": "bind", "source": source, "target": target, "read_only": True, "bind": {}}


def with_mounts(*volumes: dict, **changes) -> dict:
    svc = good()
    svc["volumes"] += volumes
    svc.update(changes)
    return svc


def test_sy014_a_file_of_the_checkout_is_named_relative_to_it():
    svc = with_mounts(bind(str(ROOT / "config/caddy/Caddyfile"), "/etc/caddy/Caddyfile"))
    assert check_service("proxy", svc, False, RAW_IMAGE, root=ROOT) == [
        (
            "SY014",
            "mounts config/caddy/Caddyfile from the checkout, which a remote host does not have: "
            "bake it into the image, or use `configs:` with `content:` (not in a read-only service: "
            "Compose cannot copy into one) (or label dev.stackyard.host-path-exempt with the reason)",
        )
    ]


def test_sy014_a_path_of_the_engines_host_is_an_error_too():
    svc = with_mounts(bind("/srv/shop/settings.yaml"))
    assert check_service("api", svc, False, RAW_IMAGE, root=ROOT) == [
        ("SY014", f"mounts the host path /srv/shop/settings.yaml, which no deploy puts on a host: {HOST_FILES_FIX}")
    ]


def test_sy014_without_a_root_every_path_is_the_hosts():
    svc = with_mounts(bind(str(ROOT / "config/x.yaml")))
    [(rule, message)] = check_service("api", svc, False, RAW_IMAGE)
    assert (rule, message.split(",")[0]) == ("SY014", f"mounts the host path {ROOT / 'config/x.yaml'}")


def test_sy014_is_one_finding_naming_each_path_once_in_order():
    svc = with_mounts(
        bind(str(ROOT / "config/a.yaml"), "/a"), bind("/srv/b", "/b"), bind(str(ROOT / "config/a.yaml"), "/c")
    )
    message = (
        "mounts config/a.yaml from the checkout, which a remote host does not have; "
        f"and the host path /srv/b, which no deploy puts on a host: {HOST_FILES_FIX}"
    )
    assert check_service("api", svc, False, RAW_IMAGE, root=ROOT) == [("SY014", message)]


def test_sy014_leaves_the_docker_socket_to_sy009():
    labelled = {"dev.stackyard.docker-socket": "ships the logs", "dev.stackyard.root-exempt": "the socket"}
    assert rules(with_mounts(SOCKET_RO, labels=labelled)) == []
    assert rules(with_mounts(SOCKET_RW, labels=labelled)) == ["SY009"]
    run_socket = bind("/run/docker.sock", "/var/run/docker.sock")
    assert rules(with_mounts(run_socket, labels=labelled)) == []


@pytest.mark.parametrize(
    "volume",
    [
        {"type": "volume", "source": "data", "target": "/data", "volume": {}},
        {
            "type": "volume",
            "source": "secrets",
            "target": "/run/secrets/x",
            "read_only": True,
            "volume": {"subpath": "x"},
        },
        {"type": "tmpfs", "target": "/cache", "tmpfs": {"size": 1024}},
        {"type": "volume", "target": "/anonymous"},
    ],
)
def test_sy014_volumes_and_tmpfs_are_quiet(volume):
    assert rules(with_mounts(volume)) == []


@pytest.mark.parametrize(
    "labels", [{"dev.stackyard.host-path-exempt": "the host's CA bundle"}, ["dev.stackyard.host-path-exempt=why"]]
)
def test_sy014_the_exemption_label_quiets_it(labels):
    assert rules(with_mounts(bind("/etc/ssl/certs", "/etc/ssl/certs"), labels=labels)) == []


def test_sy014_file_configs_and_secrets_are_found_through_the_whole_config():
    svc = good()
    svc["configs"] = [{"source": "loki", "target": "/etc/loki/config.yaml"}, {"source": "inline", "target": "/x"}]
    svc["secrets"] = [
        {"source": "token", "target": "/run/secrets/token"},
        {"source": "db", "target": "/run/secrets/db"},
    ]
    config = {
        "services": {"loki": svc},
        "configs": {
            "loki": {"name": "shop_loki", "file": str(ROOT / "config/loki/config.yaml")},
            "inline": {"name": "shop_inline", "content": "a: 1\n"},
        },
        "secrets": {
            "token": {"name": "shop_token", "file": "/srv/token"},
            "db": {"name": "shop_db", "environment": "DB_PASSWORD"},
        },
    }
    assert check(config, {"services": {"loki": {"image": RAW_IMAGE}}}, ROOT) == {
        "loki": [
            (
                "SY014",
                "mounts config/loki/config.yaml from the checkout, which a remote host does not have; "
                f"and the host path /srv/token, which no deploy puts on a host: {HOST_FILES_FIX}",
            )
        ]
    }


def test_sy014_short_syntax_config_references_count_too():
    svc = good()
    svc["configs"] = ["loki"]
    config = {"services": {"loki": svc}, "configs": {"loki": {"file": "/srv/loki.yaml"}}}
    assert [rule for rule, _ in check(config, {})["loki"]] == ["SY014"]


def test_sy014_a_config_nobody_uses_is_quiet():
    config = {"services": {"api": good()}, "configs": {"loki": {"file": "/srv/loki.yaml"}}}
    assert check(config, {"services": {"api": {"image": RAW_IMAGE}}}) == {}
