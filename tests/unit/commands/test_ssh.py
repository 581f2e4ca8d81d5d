"""commands/ssh.py (and docker.endpoint): the exact argv of each ssh call host.check makes."""

from __future__ import annotations

import pytest

from stackyard.commands import docker, ssh

T = ssh.Target("example.com", "deploy", 2222)
BASE = ("ssh", "-o", "BatchMode=yes", "-l", "deploy", "-p", "2222", "--", "example.com")


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("ssh://deploy@example.com:2222", T),
        ("ssh://example.com", ssh.Target("example.com")),
        ("ssh://root@10.0.0.5", ssh.Target("10.0.0.5", "root")),
        ("unix:///var/run/docker.sock", None),
        ("tcp://example.com:2376", None),
        ("", None),
    ],
)
def test_target_of_a_docker_host(url, expected):
    assert ssh.target(url) == expected


def test_target_shows_as_docker_names_it():
    assert str(T) == "deploy@example.com:2222"
    assert str(ssh.Target("h")) == "h"


def test_remote_quotes_the_remote_command_once_and_never_prompts():
    assert ssh.remote(T, ["df", "-P", "/var/lib/my docker"]).argv == (*BASE, "df -P '/var/lib/my docker'")


def test_a_host_without_user_or_port_leaves_them_to_ssh_config():
    assert ssh.true(ssh.Target("h")).argv == ("ssh", "-o", "BatchMode=yes", "--", "h", "true")


def test_an_unshared_call_opens_its_own_connection():
    assert ssh.true(T, shared=False).argv == (
        "ssh",
        "-o",
        "BatchMode=yes",
        "-o",
        "ControlMaster=no",
        "-o",
        "ControlPath=none",
        "-l",
        "deploy",
        "-p",
        "2222",
        "--",
        "example.com",
        "true",
    )


def test_options_asks_ssh_for_its_effective_config():
    assert ssh.options(T).argv == ("ssh", "-G", "-l", "deploy", "-p", "2222", "--", "example.com")


def test_the_remote_reads():
    assert ssh.free_space(T, "/var/lib/docker").argv == (*BASE, "df -P -k /var/lib/docker")
    assert ssh.compose_version(T).argv == (*BASE, "docker compose version --short")
    assert ssh.listening(T).argv == (
        *BASE,
        "grep -H '' /proc/net/tcp /proc/net/tcp6 /proc/net/udp /proc/net/udp6",
    )
    assert ssh.socket_owners(T).argv == (*BASE, "ss -H -l -n -p -t -u")


def test_docker_endpoint():
    assert docker.endpoint().argv == ("docker", "context", "inspect", "--format", "{{.Endpoints.docker.Host}}")
