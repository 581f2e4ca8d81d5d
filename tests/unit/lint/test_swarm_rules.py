"""lint/swarm_rules.py: the keys Swarm refuses or ignores (SY015, SY016), rule by
rule; and how lint.run applies them to an environment on Swarm, with the stack
file through `docker stack config` (a FakeRunner answers: no Docker)."""

from __future__ import annotations

import io
import json
import pathlib

import pytest

from stackyard import config
from stackyard.core.runner import Result
from stackyard.lint import run as lint_run
from stackyard.lint import swarm_rules
from stackyard.session import Session
from stackyard.swarm import keys
from tests.unit.fakes import FakeRunner

CLEAN = {
    "image": "shop:1",
    "user": "10001:10001",
    "read_only": True,
    "cap_drop": ["ALL"],
    "command": ["serve"],
    "environment": {"A": "1"},
    "healthcheck": {"test": ["CMD", "true"], "interval": "5s"},
    "secrets": [{"source": "db_password", "target": "/run/secrets/db_password"}],
    "networks": {"back": None, "front": {"aliases": ["app"]}},
    "volumes": [{"type": "volume", "source": "data", "target": "/data", "volume": {"subpath": "x"}}],
    "ports": [{"mode": "ingress", "host_ip": "0.0.0.0", "target": 443, "published": "443", "protocol": "tcp"}],
    "deploy": {"resources": {"limits": {"memory": "1g", "pids": 10}}, "placement": {}, "replicas": 2},
    "entrypoint": None,
    "x-note": "mine",
}


def cfg(**services) -> dict:
    return {"services": services}


def errors(svc: dict) -> list[str]:
    return [message for _, message in swarm_rules.check(cfg(web=svc)).get("web", [])]


# ---- SY015: lost on Swarm ---------------------------------------------------------------


def test_a_service_swarm_takes_as_it_is_has_no_finding():
    assert swarm_rules.check(cfg(web=CLEAN)) == {}
    assert swarm_rules.rewritten(cfg(web=CLEAN)) == {}


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("privileged", True),
        ("security_opt", ["no-new-privileges:true"]),
        ("devices", ["/dev/fuse"]),
        ("network_mode", "host"),
        ("pid", "host"),
        ("ipc", "host"),
        ("userns_mode", "host"),
        ("cgroup_parent", "x"),
        ("group_add", ["100"]),
        ("platform", "linux/arm64"),
    ],
)
def test_a_key_whose_effect_is_lost_is_an_error_with_reason_and_alternative(key, value):
    entry = keys.KEYS[key]
    assert errors({**CLEAN, key: value}) == [entry.says()]
    assert entry.reason in entry.says() and entry.instead in entry.says()


def test_the_message_says_whether_swarm_refuses_or_ignores_it():
    assert errors({**CLEAN, "privileged": True})[0].startswith(
        "privileged: Swarm ignores it (Swarm runs no privileged task)"
    )
    assert errors({**CLEAN, "group_add": ["1"]})[0].startswith("group_add: Swarm refuses it")


def test_security_opt_says_what_to_do_instead_of_no_new_privileges():
    (message,) = errors({**CLEAN, "security_opt": ["no-new-privileges:true"]})
    assert "no-new-privileges" in message and "cap_drop: [ALL]" in message


def test_a_key_the_stack_format_has_not_is_refused():
    assert errors({**CLEAN, "gpus": "all"}) == [
        "gpus: Swarm refuses it (not in the stack file format (compose 3.13), so `docker stack deploy` refuses the "
        "file); leave it out of this environment's compose files"
    ]


def test_a_port_bound_to_one_address_is_an_error_because_swarm_binds_them_all():
    port = {"mode": "ingress", "host_ip": "127.0.0.1", "target": 5432, "published": "5432"}
    (message,) = errors({**CLEAN, "ports": [port]})
    assert message.startswith("ports.host_ip 127.0.0.1: Swarm refuses it (Swarm publishes a port on every address")
    assert "firewall the port" in message
    assert errors({**CLEAN, "ports": [dict(port, host_ip="::")]}) == []


def test_tmpfs_options_but_size_and_mode_1777_are_lost():
    (message,) = errors({**CLEAN, "tmpfs": ["/conf:size=4m,mode=1777,uid=1000,gid=1000"]})
    assert message.startswith(
        "tmpfs /conf: uid=1000,gid=1000: Swarm ignores it (a stack file's tmpfs mount takes a size only"
    )
    assert errors({**CLEAN, "tmpfs": ["/tmp:size=64m,mode=01777"]}) == []


def test_mount_options_swarm_drops():
    bind = {"type": "bind", "source": "/srv", "target": "/srv", "bind": {"selinux": "z"}}
    tmpfs = {"type": "tmpfs", "target": "/cache", "tmpfs": {"size": 1024, "mode": 448}}
    found = errors({**CLEAN, "volumes": [bind, tmpfs]})
    assert found == [keys.KEYS["volumes.bind.selinux"].says(), keys.KEYS["volumes.tmpfs.mode"].says()]


def test_service_network_options_a_stack_has_not():
    (message,) = errors({**CLEAN, "networks": {"back": {"aliases": ["a"], "priority": 5}}})
    assert message.startswith("networks.back.priority: Swarm refuses it")


def test_deploy_keys_and_device_reservations_a_stack_has_not():
    deploy = {"resources": {"reservations": {"devices": [{"capabilities": ["gpu"]}]}}, "future": 1}
    found = errors({**CLEAN, "deploy": deploy})
    assert found[0].startswith("deploy.future: Swarm refuses it (not in the stack file format")
    assert found[1] == keys.KEYS["deploy.resources.reservations.devices"].says()


def test_the_same_loss_twice_in_a_service_is_reported_once():
    port = {"host_ip": "127.0.0.1", "target": 1, "published": "1"}
    assert len(errors({**CLEAN, "ports": [port, dict(port, target=2, published="2")]})) == 1


# ---- SY016: rewritten by stackyard ----------------------------------------------------------


def test_rewritten_keys_are_warnings_once_a_key_at_the_first_service_naming_the_others():
    deps = {"depends_on": {"db": {"condition": "service_healthy"}}}
    config_ = cfg(
        worker={**CLEAN, **deps, "tmpfs": ["/tmp:size=64m"]},
        api={**CLEAN, **deps},
        setup={**CLEAN, **deps, "restart": "no", "build": {"context": "."}},
    )
    found = swarm_rules.rewritten(config_)
    assert found == {
        "api": [("SY016", keys.KEYS["depends_on"].says() + " (also in setup, worker)")],
        "setup": [("SY016", keys.KEYS["restart"].says()), ("SY016", keys.KEYS["build"].says())],
        "worker": [("SY016", keys.KEYS["tmpfs"].says())],
    }
    assert swarm_rules.check(config_) == {}


@pytest.mark.parametrize("key", ["build", "depends_on", "restart", "profiles", "container_name", "expose", "links",
                                 "pull_policy", "develop", "shm_size", "mem_limit", "cpus", "pids_limit", "scale"])  # fmt: skip
def test_each_key_stackyard_rewrites_is_a_warning_not_an_error(key):
    config_ = cfg(web={**CLEAN, key: "x"})
    assert swarm_rules.check(config_) == {}
    assert swarm_rules.rewritten(config_) == {"web": [("SY016", keys.KEYS[key].says())]}


def test_a_bind_mount_s_host_path_is_created_by_compose_not_by_swarm():
    bind = {"type": "bind", "source": "/srv", "target": "/srv", "bind": {"create_host_path": True}}
    assert swarm_rules.rewritten(cfg(web={**CLEAN, "volumes": [bind]})) == {
        "web": [("SY016", keys.KEYS["volumes.bind.create_host_path"].says())]
    }


def test_no_new_privileges_is_a_compose_rule_a_stack_cannot_satisfy():
    assert set(swarm_rules.NOT_IN_SWARM) == {"SY004"}


# ---- lint.run: an environment on Swarm -----------------------------------------------------

SWARM_CONFIG = {
    "name": "demo-swarm",
    "services": {
        "api": {
            "image": "demo:1",
            "user": "10001:10001",
            "read_only": True,
            "cap_drop": ["ALL"],
            "privileged": True,
            "depends_on": {"db": {"condition": "service_healthy"}},
            "healthcheck": {"test": ["CMD", "true"]},
            "deploy": {"resources": {"limits": {"memory": "536870912", "pids": 256}}},
            "secrets": [{"source": "db_password", "target": "/run/secrets/db_password"}],
        }
    },
    "secrets": {"db_password": {"name": "demo-swarm_db_password", "environment": "DB_PASSWORD"}},
}
RAW = json.dumps({"services": {"api": {"image": "${APP_IMAGE:-demo:1}"}}})


class StdinRunner(FakeRunner):
    """A FakeRunner that also keeps what each command was given on stdin."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.stdins: dict[str, str | None] = {}

    def run(self, cmd, mode="capture", check=True, quiet=False, **kw):
        self.stdins[" ".join(cmd.argv)] = kw.get("stdin")
        return super().run(cmd, mode=mode, check=check, quiet=quiet, **kw)


def project(root: pathlib.Path, orchestrator: str) -> config.Project:
    (root / "compose").mkdir()
    (root / "compose" / "compose.yaml").write_text("services:\n  api:\n    image: demo:1\n")
    (root / "compose" / "compose.swarm.yaml").write_text("services:\n  api:\n    read_only: true\n")
    (root / ".env.example").write_text("# [secret] [required] The database password.\nDB_PASSWORD=\n")
    settings = {"name": "demo", "environments": {"swarm": {"orchestrator": orchestrator, "protected": True}}}
    return config.build(root, settings)


def findings(root: pathlib.Path, orchestrator: str = "swarm", stack_answer: Result = Result(0), rendered=SWARM_CONFIG):
    runner = StdinRunner(
        {
            "docker stack config": stack_answer,
            " config --no-interpolate --format json": Result(0, RAW),
            " config --format json": Result(0, json.dumps(rendered)),
        }
    )
    proj = project(root, orchestrator)
    s = Session(proj, proj.environments["swarm"], runner, out=io.StringIO())
    return lint_run.compose_findings(s), runner


def test_a_swarm_environment_gets_the_swarm_rules_and_loses_no_new_privileges(tmp_path):
    found, _ = findings(tmp_path)
    rules = {(f.rule, f.severity) for f in found}
    assert ("SY015", "error") in rules and ("SY016", "warning") in rules
    assert "SY004" not in {f.rule for f in found}
    (lost,) = [f for f in found if f.rule == "SY015"]
    assert lost.file == "compose/compose.swarm.yaml" and lost.line == 2
    assert lost.message == "api (swarm): " + keys.KEYS["privileged"].says()


def test_a_compose_environment_gets_no_swarm_rule_and_no_stack_file(tmp_path):
    found, runner = findings(tmp_path, orchestrator="compose")
    assert "SY004" in {f.rule for f in found}
    assert not {"SY015", "SY016", "stack"} & {f.rule for f in found}
    assert not [c for c in runner.commands if c.argv[:2] == ("docker", "stack")]


def test_the_stack_file_goes_through_the_cli_s_loader_on_stdin_with_no_secret(tmp_path):
    _, runner = findings(tmp_path)
    (cmd,) = [c for c in runner.commands if c.argv[:2] == ("docker", "stack")]
    assert cmd.argv == ("docker", "stack", "config", "--compose-file", "-")
    document = json.loads(runner.stdins[" ".join(cmd.argv)])
    assert document["services"]["api"]["deploy"]["endpoint_mode"] == "dnsrr"
    assert document["secrets"]["db_password"]["external"] is True
    assert "privileged" not in document["services"]["api"]


def test_a_stack_file_the_loader_refuses_is_a_finding_with_its_reason(tmp_path):
    refused = Result(1, "", "services.api Additional property bogus is not allowed\n")
    found, _ = findings(tmp_path, stack_answer=refused)
    (stack,) = [f for f in found if f.rule == "stack"]
    assert stack.file == "compose/compose.swarm.yaml" and stack.severity == "error"
    assert stack.message == (
        "`docker stack config` refuses the stack file of swarm: services.api Additional property bogus is not allowed"
    )


def test_a_stack_file_that_does_not_render_is_a_finding_not_a_crash(tmp_path):
    broken = {"services": {"api": {"user": "1:1"}}}
    found, runner = findings(tmp_path, rendered=broken)
    (stack,) = [f for f in found if f.rule == "stack"]
    assert stack.message.startswith(
        "swarm: the stack file does not render: service api has neither an image nor a build"
    )
    assert not [c for c in runner.commands if c.argv[:2] == ("docker", "stack")]
