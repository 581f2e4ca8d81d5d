"""host.check's gatherer: which reads it makes for each kind of target (a FakeRunner
answers the commands, a fake Engine API client the SDK's requests), the table it
prints, and the one-line error when the engine does not answer."""

from __future__ import annotations

import copy
import io
import json
import types

import invoke
import pytest
from invoke.parser import Parser

from stackyard import tasks
from stackyard.core.runner import Result
from stackyard.errors import StackyardError
from stackyard.session import Session
from stackyard.stack import host
from tests.unit.fakes import FakeRunner, real_project, tmp_env

SSH_HOST = "ssh://deploy@example.com:2222"
VERSION = json.dumps(
    {
        "Client": {"Version": "28.2.2"},
        "Server": {"Version": "26.1.5", "ApiVersion": "1.45", "Os": "linux", "Arch": "amd64"},
    }
)
DF = "Filesystem 1024-blocks Used Available Capacity Mounted on\n/dev/vda 209715200 10485760 199229440 5% /\n"
# /proc/net/tcp as `grep -H` prints it: something listens on 127.0.0.1:5432 (the dev db's port).
PROC = (
    "/proc/net/tcp:  sl  local_address rem_address   st\n"
    "/proc/net/tcp:   0: 0100007F:1538 00000000:0000 0A 0\n"
    "/proc/net/tcp:   1: 00000000:0016 00000000:0000 0A 0\n"
)
SS = 'tcp LISTEN 0 244 127.0.0.1:5432 0.0.0.0:* users:(("postgres",pid=77,fd=5))\n'
SSH_G = "controlmaster auto\ncontrolpath /home/a/.ssh/cm-%C\ncontrolpersist 60\n"


class Client:
    """The Engine API requests host.check makes: /info, /system/df, /containers/json."""

    def __init__(self, root="/var/lib/docker", running=()):
        self._info = {
            "SystemTime": "2026-11-18T11:06:40.1Z",
            "Driver": "overlay2",
            "DockerRootDir": root,
            "OperatingSystem": "Debian GNU/Linux 13 (trixie)",
            "NCPU": 2,
            "MemTotal": 4 * 2**30,
        }
        rows = list(running)
        self.containers = types.SimpleNamespace(list=lambda sparse: [types.SimpleNamespace(attrs=r) for r in rows])

    def info(self):
        return self._info

    def df(self):
        return {"Images": [], "Volumes": [], "BuildCache": []}


class Clock:
    """Each reading 0.1 s after the last: every timed call takes 0.1 s."""

    def __init__(self, start=0.0):
        self.t = start

    def __call__(self):
        self.t += 0.1
        return self.t


def session(tmp_path, endpoint, responses=None, client=None):
    defaults = {
        "context inspect": Result(0, endpoint + "\n"),
        "docker version --format": Result(0, VERSION),
        " --no-interpolate ": Result(0, '{"services": {}}'),
        "compose version --short": Result(127, "", "bash: docker: command not found"),
        "compose version --format json": Result(0, '{"version":"v2.40.3"}'),
        "df -P -k": Result(0, DF),
        "grep -H": Result(0, PROC),
        "ss -H": Result(0, SS),
        "ssh -G": Result(0, SSH_G),
    }
    runner = FakeRunner({**(responses or {}), **{k: v for k, v in defaults.items() if k not in (responses or {})}})
    s = Session(real_project(), tmp_env(tmp_path), runner, out=io.StringIO(), client=client or Client())
    return s, runner


def gather(s):
    return host.gather(s, clock=Clock(), now=Clock(1_795_000_000.0))


def test_an_ssh_host_is_read_over_the_engine_api_and_ssh(tmp_path):
    s, runner = session(tmp_path, SSH_HOST)
    report = gather(s)
    assert report.endpoint == SSH_HOST
    assert [r.check for r in report.rows] == [
        "engine reachable",
        "engine version",
        "OS/arch",
        "storage driver",
        "compose (here)",
        "compose (host)",
        "disk",
        "space used",
        "port 8000/tcp",
        "port 5432/tcp",
        "clock skew",
        "ssh",
    ]
    by = {r.check: r for r in report.rows}
    assert by["engine reachable"].found == f"{SSH_HOST} answered in 0.10 s"
    assert by["disk"].found == "190.0 GiB free of 200.0 GiB (95%) on /var/lib/docker"
    assert by["port 8000/tcp"].verdict == "ok"
    assert by["port 5432/tcp"].found == "127.0.0.1:5432 for db: taken by a process on the host (postgres pid 77)"
    assert by["compose (host)"].found.startswith("not installed")
    remote = [c.argv[-1] for c in runner.commands if c.argv[0] == "ssh" and c.argv[1] != "-G"]
    assert remote == [
        "docker compose version --short",
        "df -P -k /var/lib/docker",
        "grep -H '' /proc/net/tcp /proc/net/tcp6 /proc/net/udp /proc/net/udp6",
        "ss -H -l -n -p -t -u",
        "true",
        "true",
    ]
    assert all(
        c.argv[c.argv.index("--") - 4 :][:4] == ("-l", "deploy", "-p", "2222")
        for c in runner.commands
        if c.argv[0] == "ssh"
    )
    assert "ControlPath=none" in runner.commands[-2].argv and "ControlPath=none" not in runner.commands[-1].argv


def test_the_config_is_read_with_stand_ins_for_secrets(tmp_path):
    s, runner = session(tmp_path, SSH_HOST)
    gather(s)
    configs = [c for c in runner.commands if "config" in c.argv]
    assert len(configs) == 2
    assert all(c.env and all(v == "lint-placeholder-not-a-secret" for v in c.env.values()) for c in configs)


def test_this_machines_engine_is_read_here_and_without_ssh(tmp_path, monkeypatch):
    monkeypatch.setattr(host, "local_tables", lambda: {"tcp": PROC.replace("/proc/net/tcp:", "")})
    monkeypatch.setattr(host.ports, "holder", lambda port: f"pid 9 (held {port})")
    s, runner = session(tmp_path, "unix:///var/run/docker.sock", client=Client(root=str(tmp_path)))
    report = gather(s)
    assert not [c for c in runner.commands if c.argv[0] == "ssh"]
    checks = [r.check for r in report.rows]
    assert "compose (host)" not in checks and "ssh" not in checks
    by = {r.check: r for r in report.rows}
    assert by["disk"].found.endswith(f"on {tmp_path}")
    assert by["port 5432/tcp"].found.endswith("taken by a process on the host (pid 9 (held 5432))")


def test_a_new_ssh_connection_failing_is_told(tmp_path):
    refused = Result(255, "", "kex_exchange_identification: read: Connection reset by peer\n")
    s, _ = session(tmp_path, SSH_HOST, {"ControlPath=none": refused})
    row = gather(s).rows[-1]
    assert (row.check, row.verdict) == ("ssh", "warn")
    assert "a new connection fails (kex_exchange_identification: read: Connection reset by peer)" in row.found


def test_ssh_failing_for_our_calls_is_not_taken_for_an_answer(tmp_path):
    denied = Result(255, "", "deploy@example.com: Permission denied (publickey).\n")
    s, _ = session(tmp_path, SSH_HOST, {"ssh -o": denied})
    by = {r.check: r for r in gather(s).rows}
    assert by["compose (host)"].found == "unknown: ssh failed (deploy@example.com: Permission denied (publickey).)"
    assert by["disk"].verdict == "warn" and "Permission denied" in by["disk"].found
    assert by["port 8000/tcp"].verdict == "warn"


def test_a_tcp_engine_says_what_it_cannot_see(tmp_path):
    s, runner = session(tmp_path, "tcp://10.0.0.5:2376")
    by = {r.check: r for r in gather(s).rows}
    assert by["disk"].verdict == "warn"
    assert by["port 8000/tcp"].verdict == "warn"
    assert not [c for c in runner.commands if c.argv[0] == "ssh"]


def test_a_port_held_by_another_projects_container_fails_the_run(tmp_path):
    other = {
        "Names": ["/blog-web-1"],
        "Labels": {"com.docker.compose.project": "blog"},
        "Ports": [{"IP": "0.0.0.0", "PrivatePort": 80, "PublicPort": 8000, "Type": "tcp"}],
    }
    s, _ = session(tmp_path, SSH_HOST, {"grep -H": Result(0, "")}, client=Client(running=[other]))
    with pytest.raises(StackyardError) as err:
        host.run(s, clock=Clock(), now=Clock(1_795_000_000.0))
    assert str(err.value) == (f"1 check(s) failed on {SSH_HOST}: port 8000/tcp: see WHAT TO DO above")
    out = s.out.getvalue()
    assert "taken by container blog-web-1 (project blog)" in out
    assert out.splitlines()[0].split() == ["CHECK", "FOUND", "VERDICT", "WHAT", "TO", "DO"]
    assert f"{SSH_HOST}: " in out and " 1 fail" in out


class NoClient:
    def __getattr__(self, name):
        raise AssertionError("the Engine API is not asked when the engine does not answer")


def test_an_unreachable_host_is_one_error_before_any_other_read(tmp_path):
    refused = Result(
        1,
        '{"Client":{"Version":"28.2.2"},"Server":null}',
        "error during connect: ... stderr=ssh: connect to host example.com port 2222: Connection refused\n",
    )
    s, runner = session(tmp_path, SSH_HOST, {"docker version --format": refused}, client=NoClient())
    with pytest.raises(StackyardError) as err:
        gather(s)
    assert (
        err.value.message
        == f"cannot reach {SSH_HOST}: nothing answers ssh on example.com port 2222 (connection refused)"
    )
    assert [c.argv[:3] for c in runner.commands] == [
        ("docker", "context", "inspect"),
        ("docker", "version", "--format"),
    ]


def test_the_task_checks_prod_on_the_host_it_is_given(monkeypatch):
    seen = []
    monkeypatch.setattr(host, "run", seen.append)
    namespace = copy.deepcopy(tasks.namespace)  # Invoke pops a task's help texts as it parses
    (ctx,) = Parser(contexts=namespace.to_contexts()).parse_argv(["host.check", "--host", SSH_HOST])
    assert ctx.as_kwargs["host"] == SSH_HOST and ctx.as_kwargs["env"] == "prod"
    tasks.host_check(invoke.Context(), host=SSH_HOST)
    (s,) = seen
    assert (s.env.name, s.target) == ("prod", SSH_HOST)
