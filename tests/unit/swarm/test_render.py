"""swarm/render.py: the compose config -> Swarm stack file transformation, rule by
rule, on small configs shaped as `docker compose config --format json` writes them.
No Docker: the CLI's own loader checks the real ones (tests/integration/test_swarm_render.py)."""

from __future__ import annotations

import copy
import hashlib
import json

import pytest
import yaml

from stackyard.config import Database, Proxy, Roles, Web
from stackyard.errors import ConfigError
from stackyard.swarm import keys, render

SECRET = b"s3cret-value-of-the-db-0123456789"
ROLES = Roles(
    web=Web("web", 8000),
    proxy=Proxy("edge", "caddy"),
    database=Database("pg", "postgres"),
    migrate="setup",
    workers=("jobs",),
)
HEALTH = {"test": ["CMD", "true"], "interval": "5s", "timeout": "3s", "retries": 5, "start_period": "30s"}


def config(**services) -> dict:
    """A rendered compose config: the reference stack's shape, with other names."""
    base = {
        "name": "shop-swarm",
        "services": {
            "web": {
                "image": "shop-app:rel1",
                "build": {"context": "/src", "dockerfile": "Dockerfile"},
                "command": ["serve"],
                "entrypoint": None,
                "depends_on": {
                    "pg": {"condition": "service_healthy", "required": True},
                    "setup": {"condition": "service_completed_successfully", "required": True},
                },
                "healthcheck": dict(HEALTH),
                "networks": {"back": None, "front": None},
                "secrets": [{"source": "db_password", "target": "/run/secrets/db_password"}],
                "read_only": True,
                "cap_drop": ["ALL"],
                "deploy": {"resources": {"limits": {"cpus": 1, "memory": "536870912", "pids": 256}}, "placement": {}},
            },
            "setup": {
                "image": "shop-app:rel1",
                "command": ["migrate"],
                "restart": "no",
                "depends_on": {"pg": {"condition": "service_healthy", "required": True}},
                "networks": {"back": None},
                "deploy": {"placement": {}},
            },
            "pg": {
                "image": "postgres:17",
                "volumes": [
                    {"type": "volume", "source": "pg-data", "target": "/var/lib/postgresql/data", "volume": {}}
                ],
                "healthcheck": dict(HEALTH, start_period="1m0s"),
                "networks": {"back": None},
            },
            "edge": {
                "image": "caddy:2",
                "ports": [{"mode": "ingress", "target": 443, "published": "8443", "protocol": "tcp"}],
                "networks": {"front": None},
            },
        },
        "networks": {
            "back": {"name": "shop-swarm_back", "ipam": {}, "internal": True},
            "front": {"name": "shop-swarm_front", "ipam": {}},
        },
        "volumes": {"pg-data": {"name": "shop-swarm_pg-data"}},
        "secrets": {"db_password": {"name": "shop-swarm_db_password", "environment": "DB_PASSWORD"}},
        "x-required-secrets": [SECRET.decode()],
    }
    for name, changes in services.items():
        if changes is None:
            base["services"].pop(name)
        else:
            base["services"].setdefault(name, {"image": "shop-app:rel1"}).update(changes)
    return base


def make(cfg: dict | None = None, *, roles: Roles = ROLES, secrets=None, configs=None, **kw) -> render.Stack:
    cfg = config() if cfg is None else cfg
    original = copy.deepcopy(cfg)
    stack = render.render(
        cfg,
        project="shop-swarm",
        roles=roles,
        secret_values={"db_password": SECRET} if secrets is None else secrets,
        config_values=configs or {},
        **kw,
    )
    assert cfg == original  # pure: the input is not changed
    return stack


def service(stack: render.Stack, name: str) -> dict:
    return stack.document["services"][name]


def notes_of(stack: render.Stack, name: str) -> list[str]:
    return [n for n in stack.notes if n.startswith(f"{name}: ")]


# ---- the document ------------------------------------------------------------------


def test_the_document_is_json_for_the_stack_loader_of_format_3_13():
    stack = make()
    assert stack.document["version"] == "3.13"
    assert json.loads(render.to_json(stack)) == stack.document
    assert set(stack.document) == {"version", "services", "networks", "volumes", "secrets"}


def test_the_project_name_and_extension_fields_are_dropped_with_a_note():
    stack = make()
    assert "name" not in stack.document and "x-required-secrets" not in stack.document
    assert any(n.startswith("name dropped") for n in stack.notes)
    assert any(n.startswith("x-required-secrets dropped") for n in stack.notes)
    # x-required-secrets held the secret's value as Compose rendered it: it is gone.
    assert SECRET.decode() not in render.to_json(stack)


def test_yaml_is_the_same_document_with_scripts_as_literal_blocks():
    cfg = config(web={"entrypoint": ["sh", "-c", "set -e\nexec serve\n"]})
    stack = make(cfg)
    text = render.to_yaml(stack)
    assert yaml.safe_load(text) == stack.document
    assert "- |\n" in text


def test_every_note_is_one_line_naming_what_it_is_about():
    stack = make()
    assert stack.notes and all("\n" not in n for n in stack.notes)
    assert (
        "web: build: Swarm runs images, it never builds one; stackyard builds and tags the image before the deploy, and drops build"
        in stack.notes
    )


# ---- rule 1: keys Swarm refuses or ignores ------------------------------------------

DROPPED = sorted(
    path
    for path in keys.KEYS
    if "." not in path
    and " " not in path
    and path not in {"tmpfs", "shm_size", "mem_limit", "cpus", "pids_limit", "mem_reservation", "scale", "restart"}
)


@pytest.mark.parametrize("key", DROPPED)
def test_a_key_swarm_refuses_or_ignores_is_dropped_with_its_reason(key):
    stack = make(config(web={key: ["x"] if key != "privileged" else True}))
    assert key not in service(stack, "web")
    entry = keys.KEYS[key]
    said = [n for n in notes_of(stack, "web") if n.startswith(f"web: {key}")]
    assert len(said) == 1 and entry.reason in said[0] and entry.instead in said[0]
    assert ("lost on Swarm" in said[0]) is not entry.rewritten


def test_a_key_the_stack_format_has_not_is_dropped_as_such():
    stack = make(config(web={"gpus": "all"}))
    assert "gpus" not in service(stack, "web")
    assert any("gpus dropped, lost on Swarm (not in the stack file format" in n for n in notes_of(stack, "web"))


def test_keys_swarm_honours_are_kept_as_compose_rendered_them():
    kept = {
        "cap_drop": ["ALL"],
        "cap_add": ["NET_BIND_SERVICE"],
        "read_only": True,
        "user": "10001:10001",
        "init": True,
        "sysctls": {"net.ipv4.ip_unprivileged_port_start": "0"},
        "labels": {"a": "b"},
        "environment": {"A": "1", "B": None},
        "ulimits": {"nofile": {"soft": 10, "hard": 20}},
        "stop_signal": "SIGINT",
        "working_dir": "/app",
        "hostname": "web-{{.Task.Slot}}",
        "logging": {"driver": "json-file", "options": {"max-size": "10m"}},
    }
    out = service(make(config(web=kept)), "web")
    assert {k: out[k] for k in kept} == kept


def test_nulls_are_unset_keys_and_are_left_out():
    out = service(make(), "web")
    assert "entrypoint" not in out and out["command"] == ["serve"]


def test_depends_on_goes_whatever_its_conditions():
    stack = make()
    assert all("depends_on" not in svc for svc in stack.document["services"].values())


# ---- rule 2: the migration is a job -------------------------------------------------


def test_the_migration_is_a_replicated_job_retried_a_bounded_number_of_times():
    stack = make(config(setup={"deploy": {"replicas": 3, "placement": {}}}))
    deploy = service(stack, "setup")["deploy"]
    assert stack.job == "setup"
    assert deploy["mode"] == "replicated-job"
    assert deploy["restart_policy"] == {"condition": "on-failure", "delay": "5s", "max_attempts": 12}
    assert "replicas" not in deploy and "update_config" not in deploy and "rollback_config" not in deploy
    assert "setup: deploy.replicas dropped (a job runs once)" in stack.notes
    assert any("a failed migration fails the deploy instead of looping" in n for n in notes_of(stack, "setup"))


def test_without_a_migrate_role_there_is_no_job():
    stack = make(config(setup=None, web={"depends_on": {}}), roles=Roles(web=Web("web", 8000)))
    assert stack.job is None
    assert all(s["deploy"].get("mode") != "replicated-job" for s in stack.document["services"].values())


def test_another_one_shot_others_wait_for_is_a_job_too():
    cfg = config(
        init={"restart": "no"},
        web={"depends_on": {"init": {"condition": "service_completed_successfully"}}},
    )
    stack = make(cfg)
    assert service(stack, "init")["deploy"]["mode"] == "replicated-job"
    assert stack.job == "setup"


# ---- restarts ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("restart", "policy"),
    [
        (None, {"condition": "any"}),
        ("always", {"condition": "any"}),
        ("unless-stopped", {"condition": "any"}),
        ("on-failure:3", {"condition": "on-failure", "max_attempts": 3}),
        ("no", {"condition": "none"}),
    ],
)
def test_restart_becomes_the_restart_policy(restart, policy):
    stack = make(config(jobs={"restart": restart} if restart else {}))
    assert "restart" not in service(stack, "jobs")
    assert service(stack, "jobs")["deploy"]["restart_policy"] == policy


def test_a_stated_restart_policy_wins_with_its_durations_normalised():
    stated = {"condition": "on-failure", "delay": "5s", "max_attempts": 3, "window": "2m0s"}
    stack = make(config(jobs={"restart": "always", "deploy": {"restart_policy": stated}}))
    assert service(stack, "jobs")["deploy"]["restart_policy"] == dict(stated, window="120s")


def test_an_unknown_restart_policy_is_an_error_naming_the_service():
    with pytest.raises(ConfigError, match="service jobs: unknown restart policy 'sometimes'"):
        make(config(jobs={"restart": "sometimes"}))


# ---- rule 3: rolling updates --------------------------------------------------------


def test_a_stateless_service_starts_the_new_task_first_and_rolls_back_on_failure():
    deploy = service(make(), "web")["deploy"]
    # start_period 30s + interval 5s * retries 5
    assert deploy["update_config"] == {
        "parallelism": 1,
        "order": "start-first",
        "failure_action": "rollback",
        "monitor": "55s",
    }
    assert deploy["rollback_config"] == {
        "parallelism": 1,
        "order": "start-first",
        "failure_action": "pause",
        "monitor": "55s",
    }


def test_the_monitor_window_is_30s_without_a_health_check_and_docker_defaults_fill_a_partial_one():
    assert service(make(config(jobs={})), "jobs")["deploy"]["update_config"]["monitor"] == "30s"
    disabled = {"healthcheck": {"disable": True}}
    assert service(make(config(jobs=disabled)), "jobs")["deploy"]["update_config"]["monitor"] == "30s"
    partial = {"healthcheck": {"test": ["CMD", "true"], "retries": 2}}
    assert service(make(config(jobs=partial)), "jobs")["deploy"]["update_config"]["monitor"] == "60s"  # 0 + 30s * 2


def test_a_service_with_a_named_volume_stops_first():
    stack = make()
    assert service(stack, "pg")["deploy"]["update_config"]["order"] == "stop-first"
    assert service(stack, "pg")["deploy"]["rollback_config"]["order"] == "stop-first"
    assert service(stack, "pg")["deploy"]["update_config"]["monitor"] == "85s"  # 60s + 5s * 5
    assert any("stop-first" in n and "volume pg-data" in n for n in notes_of(stack, "pg"))


def test_a_service_publishing_a_port_in_host_mode_stops_first():
    stack = make()
    assert service(stack, "edge")["deploy"]["update_config"]["order"] == "stop-first"
    assert any("port 8443 in host mode: a node binds it once" in n for n in notes_of(stack, "edge"))


def test_stated_update_settings_win_key_by_key():
    stated = {"update_config": {"parallelism": 2, "delay": "10s"}, "placement": {}}
    stack = make(config(web={"deploy": stated}))
    update = service(stack, "web")["deploy"]["update_config"]
    assert update == {
        "parallelism": 2,
        "order": "start-first",
        "failure_action": "rollback",
        "monitor": "55s",
        "delay": "10s",
    }
    assert any("update_config as stated" in n for n in notes_of(stack, "web"))


# ---- rule 4: health checks -----------------------------------------------------------


def test_health_checks_are_kept_with_their_durations_as_the_loader_takes_them():
    health = {
        "test": ["CMD", "true"],
        "interval": "1m30s",
        "timeout": "1.5s",
        "start_period": "0s",
        "start_interval": "500ms",
        "retries": 3,
    }
    out = service(make(config(web={"healthcheck": health})), "web")["healthcheck"]
    assert out == {
        "test": ["CMD", "true"],
        "interval": "90s",
        "timeout": "1500ms",
        "start_period": "0s",
        "start_interval": "500ms",
        "retries": 3,
    }


def test_a_duration_that_is_not_one_is_an_error_naming_service_and_key():
    with pytest.raises(ConfigError, match=r"service web: healthcheck.interval '5 sec' is not a duration"):
        make(config(web={"healthcheck": dict(HEALTH, interval="5 sec")}))


# ---- rules 5 and 6: secrets and configs ----------------------------------------------


def test_secrets_are_external_named_by_the_hash_of_their_value():
    stack = make()
    name = f"shop-swarm_db_password_{hashlib.sha256(SECRET).hexdigest()[:12]}"
    assert stack.secrets == {"db_password": name}
    assert stack.document["secrets"] == {"db_password": {"external": True, "name": name}}
    assert service(stack, "web")["secrets"] == [{"source": "db_password", "target": "/run/secrets/db_password"}]


def test_a_new_value_is_a_new_secret():
    one = make(secrets={"db_password": b"one-value-long-enough"}).secrets["db_password"]
    two = make(secrets={"db_password": b"two-value-long-enough"}).secrets["db_password"]
    assert one != two and one.rsplit("_", 1)[0] == two.rsplit("_", 1)[0] == "shop-swarm_db_password"


def test_no_value_of_a_secret_is_anywhere_in_the_output():
    stack = make()
    assert SECRET.decode() not in render.to_json(stack) + render.to_yaml(stack) + "".join(stack.notes)


def test_a_secret_without_a_value_is_an_error_naming_its_variable():
    with pytest.raises(ConfigError, match=r"secret db_password has no value .*\(from DB_PASSWORD\): set DB_PASSWORD"):
        make(secrets={})


def test_an_external_secret_is_kept_and_needs_no_value():
    cfg = config()
    cfg["secrets"]["db_password"] = {"external": True, "name": "made-by-hand"}
    stack = make(cfg, secrets={})
    assert stack.document["secrets"]["db_password"] == {"external": True, "name": "made-by-hand"}
    assert stack.secrets == {}


def test_a_swarm_name_over_64_characters_is_an_error():
    with pytest.raises(ConfigError, match="longer than 64"):
        render.render(config(), project="p" * 60, roles=ROLES, secret_values={"db_password": SECRET}, config_values={})


def test_a_secret_reference_mode_becomes_the_number_the_loader_takes():
    refs = [{"source": "db_password", "target": "/run/secrets/db_password", "uid": "1000", "mode": "0400"}]
    out = service(make(config(web={"secrets": refs})), "web")["secrets"]
    assert out == [{"source": "db_password", "target": "/run/secrets/db_password", "uid": "1000", "mode": 0o400}]


@pytest.mark.parametrize("form", [SECRET.decode(), f"postgres://u:{SECRET.decode()}@pg/db"])
def test_a_secret_value_copied_into_the_config_is_refused_naming_where_not_the_value(form):
    with pytest.raises(ConfigError) as caught:
        make(config(web={"environment": {"DB_URL": form}}))
    assert "secret db_password (at services.web.environment.DB_URL)" in str(caught.value)
    assert SECRET.decode() not in str(caught.value)


def test_a_secret_value_with_a_dollar_is_found_as_compose_escapes_it():
    value = b"pa$$word-with-dollars"
    with pytest.raises(ConfigError, match=r"at services\.web\.command\[1\]"):
        make(config(web={"command": ["serve", "pa$$$$word-with-dollars"]}), secrets={"db_password": value})


def test_configs_are_external_named_by_the_hash_of_their_content():
    cfg = config(web={"configs": [{"source": "site", "target": "/etc/site.conf"}]})
    cfg["configs"] = {"site": {"name": "shop-swarm_site", "content": "listen 80"}}
    stack = make(cfg, configs={"site": b"listen 80"})
    name = f"shop-swarm_site_{hashlib.sha256(b'listen 80').hexdigest()[:12]}"
    assert stack.configs == {"site": name}
    assert stack.document["configs"] == {"site": {"external": True, "name": name}}
    assert service(stack, "web")["configs"] == [{"source": "site", "target": "/etc/site.conf"}]


# ---- rule 7: stateful services are pinned ---------------------------------------------


def test_services_with_named_volumes_and_the_proxy_are_pinned_to_labelled_nodes():
    stack = make()
    assert service(stack, "pg")["deploy"]["placement"] == {"constraints": ["node.labels.dev.stackyard.pg == true"]}
    assert service(stack, "edge")["deploy"]["placement"] == {"constraints": ["node.labels.dev.stackyard.edge == true"]}
    assert "placement" not in service(stack, "web")["deploy"]
    assert stack.node_labels == ("dev.stackyard.edge", "dev.stackyard.pg")
    assert any("Swarm does not move volumes" in n for n in notes_of(stack, "pg"))


def test_the_database_role_is_pinned_even_without_a_volume():
    cfg = config(pg={"volumes": []})
    assert service(make(cfg), "pg")["deploy"]["placement"]["constraints"] == ["node.labels.dev.stackyard.pg == true"]


def test_stated_constraints_are_kept_beside_the_pin():
    cfg = config(pg={"deploy": {"placement": {"constraints": ["node.role == manager"]}}})
    assert service(make(cfg), "pg")["deploy"]["placement"]["constraints"] == [
        "node.role == manager",
        "node.labels.dev.stackyard.pg == true",
    ]


# ---- rule 8: ports and endpoint mode ---------------------------------------------------


def test_ports_are_long_syntax_in_host_mode_with_the_published_port_a_number():
    stack = make()
    assert service(stack, "edge")["ports"] == [{"target": 443, "protocol": "tcp", "published": 8443, "mode": "host"}]


def test_host_ip_is_dropped_with_a_note():
    port = {
        "mode": "ingress",
        "host_ip": "127.0.0.1",
        "target": 8000,
        "published": "8000",
        "protocol": "tcp",
        "name": "http",
    }
    stack = make(config(web={"ports": [port]}))
    assert service(stack, "web")["ports"] == [{"target": 8000, "protocol": "tcp", "published": 8000, "mode": "host"}]
    assert "web: port 8000:8000: host_ip 127.0.0.1 dropped (Swarm binds every address of the node)" in stack.notes
    assert any(n.startswith("web: port 8000:8000: ports.name:") for n in stack.notes)


def test_a_published_range_is_an_error():
    port = {"target": 8000, "published": "8000-8001"}
    with pytest.raises(ConfigError, match="service web: published port '8000-8001'"):
        make(config(web={"ports": [port]}))


def test_every_service_is_resolved_by_dns_round_robin_by_default():
    stack = make()
    assert {s["deploy"]["endpoint_mode"] for s in stack.document["services"].values()} == {"dnsrr"}


def test_with_vip_ports_keep_their_mode():
    stack = make(endpoint_mode="vip")
    assert service(stack, "edge")["deploy"]["endpoint_mode"] == "vip"
    assert service(stack, "edge")["ports"][0]["mode"] == "ingress"
    assert service(stack, "edge")["deploy"]["update_config"]["order"] == "start-first"  # no host port, no volume


# ---- rule 9: networks and volumes ------------------------------------------------------


def test_networks_are_overlay_attachable_and_keep_compose_s_names():
    stack = make()
    assert stack.document["networks"] == {
        "back": {"name": "shop-swarm_back", "driver": "overlay", "internal": True, "attachable": True},
        "front": {"name": "shop-swarm_front", "driver": "overlay", "attachable": True},
    }


def test_network_keys_a_stack_has_not_are_dropped_and_external_ones_kept():
    cfg = config()
    cfg["networks"]["front"]["enable_ipv6"] = True
    cfg["networks"]["outside"] = {"name": "proxy-net", "external": True}
    stack = make(cfg)
    assert "enable_ipv6" not in stack.document["networks"]["front"]
    assert "network front: enable_ipv6 dropped (not in the stack file format)" in stack.notes
    assert stack.document["networks"]["outside"] == {"external": True, "name": "proxy-net"}


def test_a_service_network_keeps_its_aliases_and_drops_what_a_stack_has_not():
    cfg = config(web={"networks": {"back": {"aliases": ["app"], "priority": 5}, "front": None}})
    stack = make(cfg)
    assert service(stack, "web")["networks"] == {"back": {"aliases": ["app"]}, "front": None}
    assert any(n.startswith("web: networks.back.priority dropped, lost on Swarm") for n in stack.notes)


def test_volumes_are_kept_on_the_local_driver_under_compose_s_names():
    stack = make()
    assert stack.document["volumes"] == {"pg-data": {"name": "shop-swarm_pg-data"}}
    assert service(stack, "pg")["volumes"] == [
        {"type": "volume", "source": "pg-data", "target": "/var/lib/postgresql/data"}
    ]


def test_mount_options_swarm_takes_are_kept_and_the_rest_said():
    volumes = [
        {
            "type": "volume",
            "source": "pg-data",
            "target": "/run/secrets/x",
            "read_only": True,
            "volume": {"subpath": "x"},
        },
        {"type": "bind", "source": "/srv/conf", "target": "/conf", "bind": {"create_host_path": True, "selinux": "z"}},
        {"type": "tmpfs", "target": "/cache", "tmpfs": {"size": "1m", "mode": "0700"}},
    ]
    stack = make(config(web={"volumes": volumes}))
    assert service(stack, "web")["volumes"] == [
        {
            "type": "volume",
            "source": "pg-data",
            "target": "/run/secrets/x",
            "read_only": True,
            "volume": {"subpath": "x"},
        },
        {"type": "bind", "source": "/srv/conf", "target": "/conf"},
        {"type": "tmpfs", "target": "/cache", "tmpfs": {"size": 1048576}},
    ]
    said = "\n".join(notes_of(stack, "web"))
    assert "/srv/conf: volumes.bind.create_host_path:" in said
    assert "/srv/conf: volumes.bind.selinux dropped, lost on Swarm" in said
    assert "/cache: volumes.tmpfs.mode dropped, lost on Swarm" in said


def test_tmpfs_becomes_tmpfs_mounts_of_the_same_size():
    stack = make(config(web={"tmpfs": ["/tmp:size=64m,mode=1777", "/run"]}))
    assert service(stack, "web")["volumes"] == [
        {"type": "tmpfs", "target": "/tmp", "tmpfs": {"size": 64 << 20}},
        {"type": "tmpfs", "target": "/run"},
    ]
    assert "tmpfs" not in service(stack, "web")
    assert not any("lost on Swarm" in n for n in notes_of(stack, "web"))


def test_tmpfs_options_a_mount_cannot_take_are_said_lost():
    stack = make(config(web={"tmpfs": ["/conf:size=4m,uid=1000,gid=1000"]}))
    assert service(stack, "web")["volumes"] == [{"type": "tmpfs", "target": "/conf", "tmpfs": {"size": 4 << 20}}]
    assert any(n.startswith("web: tmpfs /conf: uid=1000,gid=1000 dropped, lost on Swarm") for n in stack.notes)


def test_shm_size_becomes_a_tmpfs_on_dev_shm():
    stack = make(config(pg={"shm_size": "268435456"}))
    assert {"type": "tmpfs", "target": "/dev/shm", "tmpfs": {"size": 268435456}} in service(stack, "pg")["volumes"]
    assert "shm_size" not in service(stack, "pg")


# ---- rule 10: resources -----------------------------------------------------------------


def test_resources_are_kept_as_the_loader_takes_them():
    limits = service(make(), "web")["deploy"]["resources"]["limits"]
    assert limits == {"cpus": "1", "memory": "536870912", "pids": 256}
    cfg = config(
        web={"deploy": {"resources": {"limits": {"cpus": 0.5, "memory": 268435456}, "reservations": {"memory": "64m"}}}}
    )
    assert service(make(cfg), "web")["deploy"]["resources"] == {
        "limits": {"cpus": "0.5", "memory": "268435456"},
        "reservations": {"memory": "64m"},
    }


def test_service_level_limits_move_into_deploy_resources():
    cfg = config(
        jobs={"mem_limit": "104857600", "cpus": 0.5, "pids_limit": 10, "mem_reservation": "52428800", "scale": 3}
    )
    out = service(make(cfg), "jobs")
    assert out["deploy"]["resources"] == {
        "limits": {"memory": "104857600", "cpus": "0.5", "pids": 10},
        "reservations": {"memory": "52428800"},
    }
    assert out["deploy"]["replicas"] == 3
    assert not {"mem_limit", "cpus", "pids_limit", "mem_reservation", "scale"} & set(out)


def test_device_reservations_are_dropped_as_lost():
    cfg = config(jobs={"deploy": {"resources": {"reservations": {"devices": [{"capabilities": ["gpu"]}]}}}})
    stack = make(cfg)
    assert "resources" not in service(stack, "jobs")["deploy"]
    assert any(n.startswith("jobs: deploy.resources.reservations.devices dropped, lost on Swarm") for n in stack.notes)


# ---- images -------------------------------------------------------------------------------


def test_a_built_service_without_an_image_runs_the_one_compose_builds():
    stack = make(config(jobs={"image": None, "build": {"context": "/src"}}))
    assert service(stack, "jobs")["image"] == "shop-swarm-jobs"


def test_a_service_with_neither_image_nor_build_is_an_error():
    with pytest.raises(ConfigError, match="service jobs has neither an image nor a build"):
        make(config(jobs={"image": None}))


# ---- a registry ------------------------------------------------------------------------


def test_without_a_registry_the_images_keep_their_names_and_nothing_is_pushed():
    stack = make()
    assert service(stack, "web")["image"] == "shop-app:rel1" and stack.pushes == {}


def test_with_a_registry_every_service_of_a_built_image_runs_its_name_there():
    stack = make(registry="registry.example.com:5000/team")
    assert stack.pushes == {"shop-app:rel1": "registry.example.com:5000/team/shop-app:rel1"}
    for name in ("web", "setup"):  # setup runs the image web builds
        assert service(stack, name)["image"] == "registry.example.com:5000/team/shop-app:rel1"
        assert f"{name}: image registry.example.com:5000/team/shop-app:rel1 (pushed to the registry" in " ".join(
            notes_of(stack, name)
        )
    assert service(stack, "pg")["image"] == "postgres:17"  # pulled as named, never pushed


def test_a_built_service_without_an_image_is_pushed_under_the_name_compose_gives_it():
    cfg = config()
    del cfg["services"]["web"]["image"]
    stack = make(cfg, registry="r.example.com")
    assert stack.pushes["shop-swarm-web"] == "r.example.com/shop-swarm-web"
    assert service(stack, "web")["image"] == "r.example.com/shop-swarm-web"


@pytest.mark.parametrize(
    ("image", "named"),
    [
        ("shop-app:rel1", "r.example.com/team/shop-app:rel1"),
        ("acme/shop-app:rel1", "r.example.com/team/acme/shop-app:rel1"),
        ("ghcr.io/acme/shop-app:rel1", "r.example.com/team/acme/shop-app:rel1"),
        ("localhost:5000/shop-app", "r.example.com/team/shop-app"),
    ],
)
def test_an_image_s_name_in_the_registry_keeps_its_path_and_tag_not_its_own_registry(image, named):
    assert render.in_registry(image, "r.example.com/team") == named
