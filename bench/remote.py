"""Images to a remote host without a registry: ship them (build here, then the
deploy's ship step) or build them on the host (`--build-on host`), for a first
deploy and for a code-only change (one changed line in app/refapp/api.py): the
time of build + ship against the build on the host, and the bytes each sends.

    python bench/remote.py [--changes 3] [--source DIR]

It starts a remote test host of its own (tests/hosts/remote-host: a dockerd
reached over SSH, on this machine's loopback, no registry) and builds a copy of
DIR (default: this checkout, uncommitted changes included) under image names of
its own, through stackyard's own commands: the build of `inv prod-deploy`, on
this machine's engine or on the host's, and its ship step (engine/ship.py). It
measures these, not a whole deploy: the rest of a deploy (lock, backup, migrate,
switch) is the same either way. Bytes: those the ship counted, and those the
host's network interface received (everything: the SSH link, a build context,
what a build downloads). Over loopback the link is as fast as SSH and the disks
go; the times a slower uplink would take are estimated from the bytes. The host,
the copy and the images are removed at the end. Needs a Docker engine.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import pathlib
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "src")]

# After the sys.path line: bench this checkout.
from stackyard import config  # noqa: E402
from stackyard.commands import compose  # noqa: E402
from stackyard.core.runner import Runner  # noqa: E402
from stackyard.deploy import run as deploy_run  # noqa: E402
from stackyard.engine import api, ship  # noqa: E402
from stackyard.session import Session  # noqa: E402
from tests.support import TEST_SECRETS, remove_images  # noqa: E402

REMOTE_HOST = ROOT / "tests" / "hosts" / "remote-host"
IGNORED = shutil.ignore_patterns(
    ".git", ".nox", ".venv", "backups", ".stackyard", "__pycache__", "*.local.env", ".*_cache", ".hypothesis"
)
UPLINKS = {"100 Mbit/s": 12.5e6, "20 Mbit/s": 2.5e6}  # bytes a second: an office, a home uplink


@dataclass
class Run:
    """One build (and ship), measured."""

    build: float = 0.0  # seconds
    ship: float = 0.0  # seconds
    shipped: int = 0  # bytes the ship step sent
    received: int = 0  # bytes the host's interface received meanwhile

    @property
    def total(self) -> float:
        return self.build + self.ship


class Bench:
    def __init__(self, source: pathlib.Path, host: dict, workdir: pathlib.Path, prefix: str):
        self.host, self.prefix = host, prefix
        self.copy = workdir / "project"
        shutil.copytree(source, self.copy, ignore=IGNORED)
        self.names = {"APP_IMAGE": f"{prefix}-app", "CADDY_APP_IMAGE": f"{prefix}-caddy"}
        project = config.load(self.copy)
        runner = Runner(echo=False, out=io.StringIO(), target=host["host"])
        self.s = Session(project, project.environment("prod"), runner, out=io.StringIO())
        self.s.add_variables({**TEST_SECRETS, **self.names})
        self.built: set[tuple[bool, str]] = set()  # the app images built (here or not, ID)

    def received(self) -> int:
        """Bytes the host's network interface has received so far."""
        argv = ["docker", "exec", self.host["container"], "cat", "/sys/class/net/eth0/statistics/rx_bytes"]
        return int(subprocess.run(argv, capture_output=True, text=True, check=True).stdout)

    def measure(self, do: Callable[[Run], None]) -> Run:
        run = Run()
        before = self.received()
        do(run)
        run.received = self.received() - before
        return run

    def build(self, tag: str, *, here: bool) -> float:
        """Build the release's images here or on the host, as `inv prod-deploy` does; the
        app's image must be a new one (the code changed), or the numbers measure nothing."""
        cmd = compose.for_release(compose.build(self.s.env), tag)
        started = time.monotonic()
        self.s.run(cmd.on_local_engine() if here else cmd, timeout=1800)
        seconds = time.monotonic() - started
        image = (
            api.inspect_image(self.s.local_engine() if here else self.s.engine(), f"{self.names['APP_IMAGE']}:{tag}")
        )["Id"]
        assert (here, image) not in self.built, f"the build of {tag} made no new image: nothing changed"
        self.built.add((here, image))
        return seconds

    def ship(self, built: list[str], pulled: list[str]) -> tuple[float, int]:
        """The ship step's work: (seconds, bytes sent)."""
        local, target = self.s.local_engine(), self.s.engine()
        started = time.monotonic()
        done = ship.ship(
            local,
            target,
            ship.look(local, target, built, pulled),
            change=lambda what, do: do(),
            say=lambda line: None,
            clock=time.monotonic,
            until=float("inf"),
        )
        return time.monotonic() - started, done.bytes

    def shipped_release(self, tag: str, run: Run) -> None:
        run.build = self.build(tag, here=True)
        target = deploy_run.remote_target(self.s, "deploy", tag, "local")
        assert target is not None
        built = [i.ref for i in target.images if i.built]
        run.ship, run.shipped = self.ship(built, [i.ref for i in target.images if not i.built])

    def built_on_host(self, tag: str, run: Run) -> None:
        run.build = self.build(tag, here=False)

    def change_code(self, n: int) -> None:
        """One changed line in app/refapp/api.py: a code-only change."""
        api = self.copy / "app" / "refapp" / "api.py"
        lines = api.read_text().splitlines(keepends=True)
        if n > 1:
            lines = lines[:-1]
        api.write_text("".join([*lines, f"# a code-only change, number {n}\n"]))


def remote_host(action: str, name: str) -> dict:
    proc = subprocess.run([str(REMOTE_HOST), action, name], capture_output=True, text=True, timeout=900)
    if proc.returncode != 0:
        raise SystemExit(f"remote-host {action} {name}: {proc.stdout}{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1]) if action == "up" else {}


def mb(n: float) -> str:
    return f"{n / 1e6:,.1f} MB"


def median(values: list[float]) -> float:
    return statistics.median(values) if values else 0.0


def report(first_ship: Run, first_host: Run, seed: tuple[float, int], ships: list[Run], hosts: list[Run]) -> None:
    print("\nfirst deploy (the host has nothing of the project):")
    print(
        f"  ship:          build here {first_ship.build:6.1f} s + ship {first_ship.ship:6.1f} s = "
        f"{first_ship.total:6.1f} s; {mb(first_ship.shipped)} shipped (every image: app, proxy, database, cache)"
    )
    print(
        f"  build on host: {first_host.build:6.1f} s (a cold build cache there: its downloads too); "
        f"the host received {mb(first_host.received)}; before it, the base images a registry-less host "
        f"needs (a registry would serve them): {mb(seed[1])} in {seed[0]:.1f} s"
    )
    print(f"\ncode-only change (one line of app/refapp/api.py), {len(ships)} time(s), medians:")
    ship_total = median([r.total for r in ships])
    host_total = median([r.total for r in hosts])
    shipped = median([r.shipped for r in ships])
    print(
        f"  ship:          build here {median([r.build for r in ships]):6.1f} s + ship "
        f"{median([r.ship for r in ships]):6.1f} s = {ship_total:6.1f} s; {mb(shipped)} shipped "
        f"({mb(median([r.received for r in ships]))} received by the host)"
    )
    print(
        f"  build on host: {host_total:6.1f} s; the host received {mb(median([r.received for r in hosts]))} "
        "(the build context, over the SSH link)"
    )
    for label, speed in UPLINKS.items():
        by_ship = median([r.build for r in ships]) + shipped / speed
        by_host = host_total + median([r.received for r in hosts]) / speed
        print(
            f"  over a {label} uplink (estimated from the bytes): ship ~{by_ship:.0f} s, build on host ~{by_host:.0f} s"
        )
    print("\nevery run (seconds; bytes shipped / received by the host):")
    for i, (a, b) in enumerate(zip(ships, hosts, strict=True), 1):
        print(
            f"  change {i}: ship {a.build:5.1f} + {a.ship:5.1f} s, {mb(a.shipped)} / {mb(a.received)};"
            f"  build on host {b.build:5.1f} s, {mb(b.received)}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--changes", type=int, default=3, help="code-only changes measured (default 3)")
    parser.add_argument("--source", type=pathlib.Path, default=ROOT, help="the project to build (default: this one)")
    args = parser.parse_args()
    name = f"bench-{os.getpid()}-{uuid.uuid4().hex[:4]}"
    prefix = f"sy-bench-remote-{uuid.uuid4().hex[:6]}"
    saved_path = os.environ["PATH"]
    workdir = pathlib.Path(tempfile.mkdtemp(prefix="stackyard-bench-remote-"))
    try:
        host = remote_host("up", name) | {"container": f"stackyard-test-host-{name}-host-1"}
        os.environ["PATH"] = f"{host['path']}{os.pathsep}{saved_path}"
        bench = Bench(args.source.resolve(), host, workdir, prefix)
        print(f"remote host {host['host']} (engine {host['engine']}), images {prefix}-*", flush=True)
        bases = [os.environ.get("PYTHON_IMAGE", "python:3.13-slim"), os.environ.get("CADDY_IMAGE", "caddy:2")]
        # Ship first (the host has nothing), then give the host what it needs to build (its
        # base images), then build there (its build cache cold).
        first_ship = bench.measure(lambda run: bench.shipped_release("r0", run))
        seed = bench.ship([], bases)
        first_host = bench.measure(lambda run: bench.built_on_host("h0", run))
        ships, hosts = [], []
        for n in range(1, args.changes + 1):
            bench.change_code(n)
            ships.append(bench.measure(lambda run, n=n: bench.shipped_release(f"r{n}", run)))
            hosts.append(bench.measure(lambda run, n=n: bench.built_on_host(f"h{n}", run)))
            print(f"change {n}: measured", flush=True)
        report(first_ship, first_host, seed, ships, hosts)
    finally:
        os.environ["PATH"] = saved_path
        remote_host("down", name)
        remove_images(prefix)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
