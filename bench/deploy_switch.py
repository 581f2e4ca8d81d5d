"""The deploy's switch under load: a first deploy, then N deploys in a row (20 by
default), each under about 50 requests a second through the proxy (HTTPS on
127.0.0.1, tests.support.Load); for each: the failed requests, the connection
errors, the requests sent, the switch's duration and the deploy's. Target: no
failed request and no error in any of them (exit 1 otherwise).

    python bench/deploy_switch.py [--deploys 20] [--source DIR]

It deploys a copy of DIR (default: this checkout, uncommitted changes included),
made a git repository of its own with one empty commit per deploy (a new release
each time), with the stackyard of that copy; as a project of its own, on free
ports, with throwaway secrets. Its stack, volumes, images, and the release history
and backups kept on the engine are removed at the end. Needs a Docker engine.
"""

from __future__ import annotations

import argparse
import itertools
import os
import pathlib
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "src")]

from tests.support import TEST_SECRETS, Load, free_port, remove_images, remove_state  # noqa: E402 - after the sys.path line: bench this checkout

HEADER = f"{'deploy':>6} {'failed':>6} {'errors':>6} {'sent':>6} {'early':>5} {'switch s':>8} {'total s':>7}  lost in"
STEP = re.compile(r"^==> \d+/\d+ (\S+):")
IGNORED = shutil.ignore_patterns(
    ".git", ".nox", ".venv", "backups", ".stackyard", "dist", "__pycache__", "*.local.env", ".*_cache", ".hypothesis"
)


@dataclass
class Deploy:
    """One `inv prod-deploy`: when each step began (its `==> N/M step:` line), and
    what the load had counted by then."""

    code: int = 0
    seconds: float = 0.0
    # (step, when, failed + errors so far, answers to /version so far by version)
    steps: list[tuple[str, float, int, dict[str, int]]] = field(default_factory=list)
    output: list[str] = field(default_factory=list)

    def switch_seconds(self) -> float | None:
        """From the switch step's start to the next step's."""
        names = [step[0] for step in self.steps]
        if "switch" not in names or names.index("switch") + 1 >= len(names):
            return None
        i = names.index("switch")
        return self.steps[i + 1][1] - self.steps[i][1]

    def lost_in(self, total: int) -> dict[str, int]:
        """The failed requests and errors counted while each step ran (by when they ended)."""
        marks = [("preamble", 0)] + [(step[0], step[2]) for step in self.steps] + [("end", total)]
        out: dict[str, int] = {}
        for (name, before), (_, after) in itertools.pairwise(marks):
            if after > before:
                out[name] = out.get(name, 0) + after - before
        return out

    def early(self) -> int:
        """Answers of the new release before its switch began: traffic before the health gate."""
        at = {step[0]: step[3] for step in self.steps}
        if "switch" not in at:
            return 0
        old = self.steps[0][3]  # the versions that answered when the deploy began
        return sum(n for version, n in at["switch"].items() if version not in old)


@dataclass(frozen=True)
class Row:
    code: int
    failed: int
    errors: int
    sent: int
    early: int
    switch: float | None
    seconds: float
    lost_in: dict[str, int]

    def line(self, n: int) -> str:
        switch = "-" if self.switch is None else f"{self.switch:.2f}"
        where = ", ".join(f"{step} {k}" for step, k in self.lost_in.items()) or "-"
        out = (
            f"{n:>6} {self.failed:>6} {self.errors:>6} {self.sent:>6} {self.early:>5} {switch:>8} {self.seconds:>7.1f}"
        )
        return out + f"  {where}" + ("" if self.code == 0 else f" (deploy exited {self.code})")


def git(cwd: pathlib.Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=bench", "-c", "user.email=bench@localhost", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
    )


def deploy(cwd: pathlib.Path, env: dict[str, str], load: Load | None) -> Deploy:
    """`inv prod-deploy` in `cwd`, its output read line by line as it comes."""
    d = Deploy()
    started = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "invoke", "prod-deploy"],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        d.output.append(line.rstrip("\n"))
        if m := STEP.match(line):
            counts = (load.failed + load.errors, dict(load.versions)) if load else (0, {})
            d.steps.append((m.group(1), time.monotonic(), *counts))
    d.code = proc.wait()
    d.seconds = time.monotonic() - started
    return d


def remove(cwd: pathlib.Path, env: dict[str, str], project: str) -> None:
    """The bench's stack and volumes, its history and backups on the engine, then its
    images (named after its project)."""
    down = [sys.executable, "-m", "invoke", "down", "--volumes", "--confirm-data-loss", "--env", "prod"]
    subprocess.run(down, cwd=cwd, env=env, capture_output=True, timeout=300)
    remove_state(project)
    remove_images(project)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deploys", type=int, default=20, help="deploys under load after the first (20)")
    parser.add_argument("--source", type=pathlib.Path, default=ROOT, help="the tree to deploy (this checkout)")
    args = parser.parse_args()

    project = f"sy-bench-switch-{uuid.uuid4().hex[:6]}"
    https = free_port()
    with tempfile.TemporaryDirectory(prefix="deploy-switch-") as tmp:
        tree = pathlib.Path(tmp) / "tree"
        shutil.copytree(args.source, tree, ignore=IGNORED)
        git(tree, "init", "-q")
        git(tree, "add", "-A")
        git(tree, "commit", "-q", "-m", "bench: the tree deployed")
        env = {k: v for k, v in os.environ.items() if not k.startswith("STACKYARD_")}
        env.update(
            TEST_SECRETS,
            STACKYARD_PROJECT=project,
            HTTPS_PORT=str(https),
            HTTP_PORT=str(free_port()),
            PUBLISH_ADDRESS="127.0.0.1",
            APP_IMAGE=f"{project}-app",
            CADDY_APP_IMAGE=f"{project}-caddy",
            PYTHONPATH=str(tree / "src"),  # the copy's own stackyard deploys it
            PYTHONUNBUFFERED="1",  # step lines as they happen
        )
        print(f"project {project}, source {args.source}, https://127.0.0.1:{https}", flush=True)
        rows: list[Row] = []
        try:
            first = deploy(tree, env, None)
            if first.code != 0:
                print("\n".join(first.output[-40:]))
                print(f"the first deploy failed (exit {first.code})")
                return 1
            print(f"first deploy: {first.seconds:.1f} s", flush=True)
            print(HEADER)
            for n in range(1, args.deploys + 1):
                git(tree, "commit", "-q", "--allow-empty", "-m", f"bench: release {n}")
                with Load(https) as load:
                    d = deploy(tree, env, load)
                lost = d.lost_in(load.failed + load.errors)
                row = Row(d.code, load.failed, load.errors, load.sent, d.early(), d.switch_seconds(), d.seconds, lost)
                rows.append(row)
                print(row.line(n), flush=True)
                if d.code != 0:
                    print("\n".join(d.output[-40:]))
        finally:
            remove(tree, env, project)

    bad = [r for r in rows if r.code != 0 or r.failed or r.errors]
    failed, errors, sent = (sum(getattr(r, k) for r in rows) for k in ("failed", "errors", "sent"))
    print(
        f"\n{len(rows)} deploys: {failed} failed and {errors} errors of {sent} requests; {len(bad)} short of the target"
    )
    print(f"answers of a new release before its switch (traffic before health): {sum(r.early for r in rows)}")
    if switches := [r.switch for r in rows if r.switch is not None]:
        print(
            f"switch: median {statistics.median(switches):.2f} s, min {min(switches):.2f} s, max {max(switches):.2f} s"
        )
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
