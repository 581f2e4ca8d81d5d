"""swarm/show.py: `inv config` of a Swarm environment prints the rendered stack file
(secrets by their hashed name, never a value) after Compose's config, and the render
notes as YAML comments."""

from __future__ import annotations

import hashlib
import json

import yaml

from stackyard.core.runner import Result
from stackyard.stack import ops
from stackyard.swarm import show
from tests.unit.swarm.fakes import PROJECT, FakeClient, MergingRunner, session

PASSWORD = "correct-horse-battery-staple-42"
GRAFANA = "grafana-admin-secret-value-99"
APP = {"image": "shop-app:1", "command": ["serve"]}
CONFIG = {
    "name": PROJECT,
    "services": {
        "api": {
            **APP,
            "environment": {"GF_PASS": GRAFANA},  # a secret variable no compose secret names
            "secrets": [{"source": "postgres_password", "target": "/run/secrets/postgres_password"}],
            "build": {"context": "/src"},
        },
        "db": {"image": "postgres:17", "volumes": [{"type": "volume", "source": "db-data", "target": "/data"}]},
        "migrate": {**APP, "restart": "no"},
        "worker": APP,
        "listener": APP,
    },
    "volumes": {"db-data": {"name": f"{PROJECT}_db-data"}},
    "secrets": {"postgres_password": {"name": f"{PROJECT}_postgres_password", "environment": "POSTGRES_PASSWORD"}},
}


def printed(tmp_path, monkeypatch, call) -> tuple[str, MergingRunner]:
    monkeypatch.setenv("POSTGRES_PASSWORD", PASSWORD)
    monkeypatch.setenv("GRAFANA_ADMIN_PASSWORD", GRAFANA)
    runner = MergingRunner(responses={" config --format json": Result(0, json.dumps(CONFIG))})
    s = session(tmp_path, runner, FakeClient())
    call(s)
    return s.out.getvalue(), runner


def test_the_stack_file_names_secrets_by_hash_and_holds_no_value(tmp_path, monkeypatch):
    out, runner = printed(tmp_path, monkeypatch, show.config)
    assert runner.subcommands() == [("config", "--format", "json")]  # Compose's config first, nothing else run
    assert PASSWORD not in out and GRAFANA not in out
    digest = hashlib.sha256(PASSWORD.encode()).hexdigest()[:12]
    masked = f"GF_PASS: **** ({len(GRAFANA)} chars)"
    assert masked in out
    stack = yaml.safe_load(out.replace(masked, "GF_PASS: masked"))
    assert stack["secrets"] == {
        "postgres_password": {"external": True, "name": f"{PROJECT}_postgres_password_{digest}"}
    }
    assert stack["services"]["migrate"]["deploy"]["mode"] == "replicated-job"


def test_the_render_notes_follow_as_comments(tmp_path, monkeypatch):
    out, _ = printed(tmp_path, monkeypatch, show.config)
    lines = out.splitlines()
    assert lines[0] == f"# stack {PROJECT} (swarm): the file `inv up --env swarm` deploys"
    notes = lines[lines.index("# rendered from the compose config; what changed, and why:") + 1 :]
    assert notes and all(line.startswith("#   - ") for line in notes)
    assert any(line.startswith("#   - api: build: ") for line in notes)
    assert any(line.startswith("#   - db: pinned to the node labelled dev.stackyard.db=true") for line in notes)


def test_inv_config_on_a_swarm_environment_prints_the_stack_file(tmp_path, monkeypatch):
    out, runner = printed(tmp_path, monkeypatch, ops.show_config)
    assert out.startswith(f"# stack {PROJECT} (swarm)") and "version: '3.13'" in out
    assert runner.subcommands() == [("config", "--format", "json")]
