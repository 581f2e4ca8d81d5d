"""Fault 10, secrets out of `docker inspect`, on the real engine: every
container of a dev stack (`inv dev`) and of a prod deploy (`inv prod-deploy`:
the stack, its one-shots, the proxy) is inspected, with its image, and no
value of any secret of the env layers shows there, plain, base64 or
URL-quoted, while the app, reading its passwords from files, answers /ready.
A backup is mode 600 in a directory of mode 700."""

from __future__ import annotations

import base64
import json
import stat
import subprocess
import urllib.parse

import pytest
from dotenv import dotenv_values

from stackyard import config
from stackyard.env import masking
from stackyard.env import schema as envschema
from tests.conftest import ROOT
from tests.support import (
    Inv,
    backup_file,
    backup_labels,
    backups,
    containers,
    free_port,
    http,
    prod_inv,
    remove_prod_project,
)

pytestmark = pytest.mark.integration


def secrets_of(env_name: str, environ: dict[str, str]) -> dict[str, str]:
    """Every secret of an environment's layers (its env files, the process
    environment given to `inv`), as masking classifies them: where -> value."""
    env = config.load(ROOT).environment(env_name)
    names = {name for name, var in envschema.load(ROOT).items() if var.secret}
    layers = [(f.relative_to(ROOT), dotenv_values(f)) for f in env.env_files if f.is_file()]
    found = {
        f"{where}:{key}": value
        for where, values in [*layers, ("process environment", environ)]
        for key, value in values.items()
        if value and len(value) >= masking.MIN_MASKED and (key in names or masking.is_secret_name(key))
    }
    assert set(found.values()) == masking.secret_values(env, environ, names)  # the classification masking uses
    return found


def forms(value: str) -> dict[str, str]:
    raw = value.encode()
    return {
        "plain": value,
        "URL-quoted": urllib.parse.quote(value, safe=""),
        "base64": base64.b64encode(raw).decode().rstrip("="),
        "base64url": base64.urlsafe_b64encode(raw).decode().rstrip("="),
    }


def leaks(texts: dict[str, str], secrets: dict[str, str]) -> list[str]:
    """Which secret (by where it is set, never its value) shows in which text, in which form."""
    return [
        f"{what} shows {where} ({form})"
        for what, text in texts.items()
        for where, value in secrets.items()
        for form, shown in forms(value).items()
        if shown in text
    ]


def inspected(project: str) -> tuple[dict[str, str], set[str]]:
    """`docker inspect` of every container of a compose project (stopped ones and
    one-shots too), and of the images they run; and the services they are of."""
    texts, services = {}, set()
    for name in containers(project):
        text = subprocess.run(["docker", "inspect", name], capture_output=True, text=True, check=True).stdout
        (info,) = json.loads(text)
        texts[f"container {name}"] = text
        services.add(info["Config"]["Labels"].get("com.docker.compose.service"))
        texts[f"image of {name}"] = subprocess.run(
            ["docker", "image", "inspect", info["Image"]], capture_output=True, text=True, check=True
        ).stdout
    return texts, services


def test_the_search_finds_a_secret_in_every_form():
    secret = {"env/x.env:PASSWORD": "s3cr3t-value-for/the:test"}
    for form in forms(secret["env/x.env:PASSWORD"]).values():
        assert leaks({"container c": f'{{"Env": ["X={form}"]}}'}, secret) != []
    assert leaks({"container c": '{"Env": ["X_FILE=/run/secrets/x"]}'}, secret) == []


def test_no_secret_in_docker_inspect_of_dev_or_prod_and_backups_are_private():
    dev = Inv("secrets-dev", API_PORT=str(free_port()), DB_PORT=str(free_port()), REDIS_PORT=str(free_port()))
    prod = prod_inv("secrets")
    try:
        dev("dev")
        assert http("GET", dev.url + "/ready")[0] == 200  # the passwords reached the app, from its files
        prod("prod-deploy", "--allow-dirty")
        https = f"https://127.0.0.1:{prod.env['HTTPS_PORT']}"
        assert http("GET", https + "/ready")[0] == 200
        prod("db.backup", "--env", "prod", "--download")  # kept on the engine, and a copy here

        secrets = secrets_of("dev", dev.env) | secrets_of("prod", prod.env)
        assert any(k.endswith(":POSTGRES_PASSWORD") for k in secrets) and any(
            k.endswith(":REDIS_PASSWORD") for k in secrets
        )
        dev_texts, dev_services = inspected(dev.env["STACKYARD_PROJECT"])
        prod_texts, prod_services = inspected(prod.env["STACKYARD_PROJECT"])
        assert {"db", "redis", "migrate", "api", "worker", "listener"} <= dev_services, dev_services
        assert dev_services | {"caddy", "secrets-init"} <= prod_services, prod_services
        texts = dev_texts | prod_texts
        # what the containers get instead: the paths of the files
        assert any("POSTGRES_PASSWORD_FILE=/run/secrets/postgres_password" in t for t in texts.values())
        assert leaks(texts, secrets) == []
        assert leaks({"inv output": "\n".join(dev.outputs + prod.outputs)}, secrets) == []

        # No secret in the labels of the backup's volume; its file there and its copy here are private.
        project = prod.env["STACKYARD_PROJECT"]
        (name,) = [b for b in backups(project) if b.startswith("manual-")]
        assert leaks({"backup labels": json.dumps(backup_labels(project))}, secrets) == []
        assert backup_file(project, name)[0] == 0o600
        folder = ROOT / "backups" / project
        (dump,) = folder.glob("manual-*.dump")
        assert dump.name == f"{name}.dump"
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
        assert stat.S_IMODE(dump.stat().st_mode) == 0o600
    finally:
        dev("down", "--volumes", check=False, timeout=180)
        remove_prod_project(prod)
