"""engine/reach.py: the docker CLI's words when it cannot reach an engine, turned
into one line naming the host and the fix (texts as the docker CLI 28 prints them)."""

from __future__ import annotations

import pytest

from stackyard.engine import api, reach

HOST = "ssh://deploy@example.com:2222"


def via_ssh(said: str) -> str:
    return (
        'error during connect: Get "http://docker.example.com/v1.50/version": command [ssh -o ConnectTimeout=30 '
        "-T -l deploy -p 2222 -- example.com docker system dial-stdio] has exited with exit status 255, make sure "
        f"the URL is valid, and Docker 18.09 or later is installed on the remote host: stderr={said}\n"
    )


@pytest.mark.parametrize(
    ("text", "message", "fix"),
    [
        (
            via_ssh("ssh: connect to host example.com port 2222: Connection refused"),
            f"cannot reach {HOST}: nothing answers ssh on example.com port 2222 (connection refused)",
            "that sshd runs there",
        ),
        (
            via_ssh("deploy@example.com: Permission denied (publickey)."),
            "ssh refused the key for deploy@example.com:2222",
            "`ssh -p 2222 deploy@example.com true` tests it",
        ),
        (
            via_ssh("Host key verification failed."),
            "ssh does not trust the host key of example.com",
            "`ssh -p 2222 deploy@example.com`",
        ),
        (
            via_ssh("ssh: Could not resolve hostname example.com: Name or service not known"),
            f"cannot reach {HOST}: host name example.com not found",
            "check the name in --host",
        ),
        (
            via_ssh("ssh: connect to host example.com port 2222: Connection timed out"),
            f"cannot reach {HOST}: connection timed out",
            "firewall on the way to example.com port 2222",
        ),
        (
            "Cannot connect to the Docker daemon at http://docker.example.com. Is the docker daemon running?",
            "the Docker engine on example.com is not running (ssh works, the engine does not answer)",
            "`ssh -p 2222 deploy@example.com sudo systemctl start docker`",
        ),
        (
            via_ssh("bash: line 1: docker: command not found"),
            "no docker on example.com (ssh works)",
            "install Docker Engine there",
        ),
        (
            "permission denied while trying to connect to the Docker daemon socket at unix:///var/run/docker.sock",
            "deploy on example.com may not use the Docker engine (its socket refused)",
            "`sudo usermod -aG docker deploy`",
        ),
        (
            via_ssh("kex_exchange_identification: read: Connection reset by peer"),
            f"cannot reach {HOST}: the connection to example.com port 2222 closed before ssh could log in",
            "is sshd running there?",
        ),
        (
            via_ssh("Received disconnect from 10.0.0.5 port 2222:2: Too many sessions"),
            f"Docker engine not reachable at {HOST}: Received disconnect from 10.0.0.5 port 2222:2: Too many sessions",
            "`ssh -p 2222 deploy@example.com docker version` shows what the host says",
        ),
    ],
)
def test_each_way_an_ssh_host_fails_is_one_line_with_its_fix(text, message, fix):
    err = reach.explain(HOST, text)
    assert err.message == message
    assert fix in err.hint
    assert "\n" not in str(err)


def test_a_local_engine_that_does_not_answer():
    err = reach.explain(
        "unix:///var/run/docker.sock", "Cannot connect to the Docker daemon at unix:///var/run/docker.sock"
    )
    assert isinstance(err, api.Unreachable)
    assert err.message == "Docker engine not reachable at unix:///var/run/docker.sock"
    assert err.hint == api.FIX


def test_login_is_how_a_person_types_it():
    assert reach.ssh.Target("h").by_hand() == "ssh h"
    assert reach.ssh.Target("h", "u", 22).by_hand() == "ssh -p 22 u@h"
