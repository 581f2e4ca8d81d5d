"""`inv host.check` against a real second Docker host reached over ssh (the
tests/hosts/remote-host fixture), and against this machine's own engine."""

from __future__ import annotations

import os
import subprocess
import uuid

import pytest

from tests.support import REMOTE_HOST, Inv, free_port, remote_host

# A second Docker host (tests/hosts/remote-host): `nox -s remote`, outside the default set (CI time).
pytestmark = [pytest.mark.integration, pytest.mark.remote]


@pytest.fixture(scope="module")
def remote():
    """A fresh remote host of its own (unique NAME), removed at the end."""
    with remote_host("hc", on_path=False) as found:
        yield found


def inv_on(remote: dict) -> Inv:
    """`inv` as a user runs it, with the host's ssh (config and key) first on PATH."""
    return Inv("hostcheck", PATH=f"{remote['path']}{os.pathsep}{os.environ['PATH']}")


def rows(output: str) -> dict[str, tuple[str, str]]:
    """The table's rows: {check: (found, verdict)}, read at the header's column offsets."""
    lines = output.splitlines()
    header = next(ln for ln in lines if ln.startswith("CHECK "))
    found_at, verdict_at, todo_at = (header.index(h) for h in ("FOUND", "VERDICT", "WHAT TO DO"))
    body = lines[lines.index(header) + 1 :]
    table = body[: next((i for i, ln in enumerate(body) if not ln.strip()), len(body))]
    return {ln[:found_at].strip(): (ln[found_at:verdict_at].strip(), ln[verdict_at:todo_at].strip()) for ln in table}


def docker_on(remote: dict, *args: str, **kwargs) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{remote['path']}{os.pathsep}{os.environ['PATH']}"}
    return subprocess.run(["docker", "-H", remote["host"], *args], env=env, capture_output=True, text=True, **kwargs)


def test_a_fresh_host_passes_every_check(remote):
    proc = inv_on(remote)("host.check", "--host", remote["host"], "--env", "prod", timeout=300)
    found = rows(proc.stdout)
    assert {
        "engine reachable",
        "engine version",
        "OS/arch",
        "storage driver",
        "compose (here)",
        "compose (host)",
        "disk",
        "space used",
        "port 80/tcp",
        "port 443/tcp",
        "clock skew",
        "ssh",
    } == set(found)
    # The disk's verdict is this machine's (the host's data lives on its disk); every other is the host's own.
    assert {check: v for check, (_, v) in found.items() if v not in ("OK", "INFO") and check != "disk"} == {}
    assert found["disk"][1] in ("OK", "WARN")
    assert found["engine version"][0].startswith(f"Docker {remote['engine']} (API 1.4")
    assert "needs 26.0+ (API 1.45) for volume subpath" in found["engine version"][0]
    assert found["storage driver"][0] == "overlay2 on /var/lib/docker"
    assert found["compose (host)"][0].startswith("not installed")  # the fixture has docker-cli, no Compose plugin
    assert found["port 443/tcp"] == ("0.0.0.0:443 for caddy: free", "OK")
    assert found["ssh"][0].startswith("shared connection (ControlMaster auto")  # the fixture's ssh_config has one
    assert f"{remote['host']}: " in proc.stdout and " 0 fail" in proc.stdout


def test_a_port_taken_by_another_container_fails_naming_it(remote):
    squatter = f"squatter-{uuid.uuid4().hex[:6]}"
    image = os.environ.get("DEBIAN_IMAGE", "debian:trixie")
    save = subprocess.Popen(["docker", "save", image], stdout=subprocess.PIPE)
    try:
        loaded = docker_on(remote, "load", "--quiet", stdin=save.stdout, timeout=300)
        save.wait(timeout=60)
        assert loaded.returncode == 0, loaded.stderr
        started = docker_on(remote, "run", "--detach", "--name", squatter, "-p", "80:80", image, "sleep", "600")
        assert started.returncode == 0, started.stderr
        proc = inv_on(remote)("host.check", "--host", remote["host"], "--env", "prod", check=False, timeout=300)
        assert proc.returncode == 1, proc.stdout + proc.stderr
        assert rows(proc.stdout)["port 80/tcp"] == (
            f"0.0.0.0:80 for caddy: taken by container {squatter} (no compose project)",
            "FAIL",
        )
        assert f"`docker stop {squatter}` on the host" in proc.stdout
        assert rows(proc.stdout)["port 443/tcp"][1] == "OK"
        assert proc.stderr.strip().splitlines() == [
            f"stackyard: error: 1 check(s) failed on {remote['host']}: port 80/tcp: see WHAT TO DO above"
        ]
    finally:
        docker_on(remote, "rm", "--force", squatter, timeout=60)


def test_an_unreachable_host_is_one_line_naming_it_and_the_fix(remote):
    closed = f"ssh://deploy@127.0.0.1:{free_port()}"
    proc = inv_on(remote)("host.check", "--host", closed, check=False, timeout=120)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        f"stackyard: error: cannot reach {closed}: nothing answers ssh on 127.0.0.1 port {closed.rsplit(':', 1)[1]} "
        "(connection refused): check the host and port in --host (or the environment's `host`), and that sshd runs there"
    ]
    assert "CHECK" not in proc.stdout


def test_a_host_whose_sshd_is_down_is_one_line_too(remote):
    subprocess.run([REMOTE_HOST, "ssh-stop", remote["name"]], check=True, capture_output=True, timeout=60)
    try:
        # A shared connection made earlier would outlive sshd: end it, as a dropped link would.
        port = remote["host"].rsplit(":", 1)[1]
        subprocess.run(
            ["ssh", "-F", remote["ssh_config"], "-p", port, "-O", "exit", "127.0.0.1"], capture_output=True, timeout=30
        )
        proc = inv_on(remote)("host.check", "--host", remote["host"], check=False, timeout=120)
        assert proc.returncode == 1
        (line,) = proc.stderr.strip().splitlines()
        assert line.startswith(f"stackyard: error: cannot reach {remote['host']}: ")
        assert "is sshd running there?" in line
    finally:
        subprocess.run([REMOTE_HOST, "ssh-start", remote["name"]], check=True, capture_output=True, timeout=60)


def test_this_machines_own_engine():
    https = free_port()
    inv = Inv("hostcheck-local", HTTP_PORT=str(free_port()), HTTPS_PORT=str(https), PUBLISH_ADDRESS="127.0.0.1")
    inv.env.pop("DOCKER_HOST", None)
    proc = inv("host.check", "--env", "prod", check=False, timeout=300)
    found = rows(proc.stdout)
    assert found["engine reachable"][0].startswith("unix://")
    assert "compose (host)" not in found and "ssh" not in found  # the host is this machine
    assert found["clock skew"][1] == "OK"  # one clock
    assert found[f"port {https}/tcp"] == (f"127.0.0.1:{https} for caddy: free", "OK")
    # Exit 1 exactly when a row fails (this machine's disk or ports may well be busy).
    assert (proc.returncode == 1) == any(v == "FAIL" for _, v in found.values()), proc.stdout + proc.stderr
