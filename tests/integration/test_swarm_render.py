"""The reference project's stack files, rendered from real `docker compose config`
output (swarm/render.py), through the docker CLI's own stack loader: `docker
stack config -c FILE` refuses what `docker stack deploy` would, with no swarm
(none is made here, nothing is deployed).

`docker stack config` does not print the "Ignoring unsupported options" and
"Ignoring deprecated options" warnings of `docker stack deploy`: the file is
checked for those keys directly, from the CLI's own lists."""

from __future__ import annotations

import json
import pathlib
import subprocess

import pytest
import yaml

from stackyard import config
from stackyard.commands import compose
from stackyard.commands import stack as stack_commands
from stackyard.core.runner import Runner
from stackyard.engine import roles, state
from stackyard.session import Session
from stackyard.swarm import render
from tests.support import TEST_SECRETS

pytestmark = pytest.mark.integration

# docker/cli v28.2.2, cli/compose/types/types.go: UnsupportedProperties (deploy says "Ignoring
# unsupported options") and DeprecatedProperties ("Ignoring deprecated options"); then the keys its
# schema takes and its converter never reads (Swarm would never see them, and no one says so).
UNSUPPORTED = {
    "build", "cgroupns_mode", "cgroup_parent", "devices", "domainname", "external_links", "ipc", "links",
    "mac_address", "network_mode", "pid", "privileged", "restart", "security_opt", "shm_size", "userns_mode",
}  # fmt: skip
DEPRECATED = {"container_name", "expose"}
SILENTLY_IGNORED = {"depends_on", "tmpfs"}


def stack_of(env_name: str, profiles) -> tuple[render.Stack, dict]:
    project = config.load()
    env = project.environments[env_name]
    s = Session(project, env, Runner(echo=False))
    res = s.read(compose.config_json(env, profiles=profiles, extra_env=TEST_SECRETS), timeout=120)
    rendered = state.parse_config(res.stdout)
    values = {
        name: TEST_SECRETS[spec["environment"]].encode()
        for name, spec in (rendered.get("secrets") or {}).items()
        if spec.get("environment")
    }
    found = render.render(
        rendered,
        project=env.project,
        roles=roles.resolve(project.roles, rendered),
        secret_values=values,
        config_values={name: b"content" for name in rendered.get("configs") or {}},
    )
    return found, rendered


def loader(path: pathlib.Path) -> subprocess.CompletedProcess:
    cmd = stack_commands.config(path)
    return subprocess.run(cmd.argv, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize(
    ("env_name", "profiles"),
    [("swarm", None), ("swarm", compose.ALL_PROFILES), ("prod", None), ("prod", compose.ALL_PROFILES)],
    ids=["swarm", "swarm-all-profiles", "prod", "prod-all-profiles"],
)
def test_the_cli_s_stack_loader_takes_the_rendered_file_without_a_word(tmp_path, env_name, profiles):
    found, rendered = stack_of(env_name, profiles)
    path = tmp_path / "stack.json"
    path.write_text(render.to_json(found))
    proc = loader(path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""  # not even the loader's own warnings ("ignoring IP-address ...")
    for name, svc in found.document["services"].items():
        assert not set(svc) & (UNSUPPORTED | DEPRECATED | SILENTLY_IGNORED), name
    loaded = yaml.safe_load(proc.stdout)
    assert set(loaded["services"]) == set(rendered["services"])
    for value in TEST_SECRETS.values():
        assert value not in path.read_text() and value not in proc.stdout
    assert set(found.secrets) == set(rendered["secrets"])


def test_the_swarm_environment_s_stack_as_the_loader_reads_it(tmp_path):
    found, rendered = stack_of("swarm", None)
    found_roles = roles.resolve(config.load().roles, rendered)
    path = tmp_path / "stack.yaml"
    path.write_text(render.to_yaml(found))
    proc = loader(path)
    assert proc.returncode == 0, proc.stderr
    services = yaml.safe_load(proc.stdout)["services"]
    migrate = found_roles.migrate
    assert found.job == migrate
    assert services[migrate]["deploy"]["mode"] == "replicated-job"
    assert services[migrate]["deploy"]["restart_policy"] == {
        "condition": "on-failure",
        "delay": "5s",
        "max_attempts": 12,
    }
    web = found_roles.web.service
    assert services[web]["deploy"]["update_config"]["order"] == "start-first"
    assert services[web]["deploy"]["update_config"]["failure_action"] == "rollback"
    assert {"type": "tmpfs", "target": "/tmp", "tmpfs": {"size": 64 << 20}} in services[web]["volumes"]
    proxy = found_roles.proxy.service
    assert services[proxy]["ports"] == [{"mode": "host", "target": 443, "published": 8443, "protocol": "tcp"}]
    assert services[proxy]["deploy"]["placement"]["constraints"] == [f"node.labels.dev.stackyard.{proxy} == true"]
    assert {svc["deploy"]["endpoint_mode"] for svc in services.values()} == {"dnsrr"}
    secrets = yaml.safe_load(proc.stdout)["secrets"]
    assert secrets == {n: {"external": True, "name": swarm_name} for n, swarm_name in found.secrets.items()}
    assert json.loads(render.to_json(found)) == yaml.safe_load(path.read_text())
