"""Speed targets of the toolkit, measured against raw `docker compose` in the
same run (ratios, not absolute seconds, so a slower machine does not lie).

    python bench/run.py [--runs 5]

Needs a Docker engine; uses its own project name and free ports, and removes
its containers and volumes at the end.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import statistics
import subprocess
import sys
import time
import uuid

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from stackyard import config  # noqa: E402 - after the sys.path line: bench this checkout
from stackyard.commands import compose  # noqa: E402
from stackyard.engine.ports import free_port  # noqa: E402


def timed(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"bench: {' '.join(argv[:6])} ... exited {proc.returncode}\n{proc.stderr[-2000:]}")
    return elapsed


def quiet(argv: list[str], env: dict[str, str]) -> None:
    subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, check=False)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    env = dict(os.environ)
    env.update(
        STACKYARD_PROJECT=f"sy-bench-{uuid.uuid4().hex[:6]}",
        API_PORT=str(free_port()),
        DB_PORT=str(free_port()),
        REDIS_PORT=str(free_port()),
    )
    os.environ.update(env)
    dev = config.load(ROOT).environment("dev")
    raw = compose.base(dev)
    inv = [sys.executable, "-m", "invoke"]
    results: dict[str, tuple[list[float], list[float] | None, float, str]] = {}

    try:
        quiet(inv + ["dev"], env)  # warm: images built, volumes initialised
        quiet(raw + ["down"], env)
        ours, theirs = [], []
        for _ in range(args.runs):
            ours.append(timed(inv + ["dev"], env))
            quiet(raw + ["down"], env)
            theirs.append(timed(raw + ["up", "-d", "--wait"], env))
            quiet(raw + ["down"], env)
        results["inv dev (warm, stack down) vs compose up -d --wait"] = (ours, theirs, 1.15, "ratio")

        quiet(raw + ["up", "-d", "--wait"], env)
        ours = [timed(inv + ["ps"], env) for _ in range(args.runs)]
        theirs = [timed(raw + ["ps"], env) for _ in range(args.runs)]
        # `inv ps` reads the engine through the docker SDK (about 0.1 s to import):
        # at most 2.5x `compose ps`, and 0.3 s.
        results["inv ps vs compose ps"] = (ours, theirs, 2.5, "ratio")
        results["inv ps"] = (ours, None, 0.3, "seconds")

        ours = [timed(inv + ["--list"], env) for _ in range(args.runs)]
        results["inv --list"] = (ours, None, 0.2, "seconds")
    finally:
        quiet(raw + ["down", "--volumes", "--remove-orphans"], env)

    print(f"runs per benchmark: {args.runs}; medians in seconds\n")
    print(f"{'benchmark':<52} {'stackyard':>9} {'compose':>8} {'ratio':>6} {'target':>8}  ok")
    failed = 0
    for name, (ours, theirs, target, _kind) in results.items():
        mine = statistics.median(ours)
        if theirs is None:
            ok = mine <= target
            print(f"{name:<52} {mine:>9.3f} {'-':>8} {'-':>6} {'<=' + str(target) + 's':>8}  {'yes' if ok else 'NO'}")
        else:
            base = statistics.median(theirs)
            ratio = mine / base
            ok = ratio <= target
            print(
                f"{name:<52} {mine:>9.3f} {base:>8.3f} {ratio:>6.2f} {'<=' + str(target) + 'x':>8}  "
                f"{'yes' if ok else 'NO'}"
            )
        failed += not ok
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
