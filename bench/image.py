"""Image size and rebuild targets of the reference app's image, against
single-stage images of the same requirements built in the same run
(bench/image/naive.Dockerfile: one stage, pip and every package's whole left
in): the naive one (pip's cache left in, as a plain `pip install` leaves it),
and, for information, a careful one (--no-cache-dir).

    python bench/image.py [--runs 3]

Targets: the runtime image's layers over its base <= 90 MB and <= 0.6x the
naive image's; a code-only rebuild <= 10 s (median); the dependency layer
reused by a code-only rebuild. Builds through `docker compose` (BuildKit) under
a project of its own; removes its images at the end. A code-only change is a
comment appended to app/refapp/version.py, restored afterwards.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import statistics
import subprocess
import sys
import time
import uuid

ROOT = pathlib.Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "bench" / "image" / "compose.yaml"
CODE = ROOT / "app" / "refapp" / "version.py"
MB = 1_000_000
# Layers of the runtime target after its dependency layer (COPY app/, compileall):
# a code-only change rebuilds these and nothing before them.
CODE_LAYERS = 2


def run(argv: list[str], env: dict[str, str]) -> str:
    proc = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"bench: {' '.join(argv[:8])} ... exited {proc.returncode}\n{proc.stderr[-3000:]}")
    return proc.stdout


def inspect(image: str, env: dict[str, str]) -> dict:
    return json.loads(run(["docker", "image", "inspect", image], env))[0]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    project = f"sy-bench-img-{uuid.uuid4().hex[:6]}"
    env = {**os.environ, "BENCH_PROJECT": project}
    base_image = env.get("PYTHON_IMAGE", "python:3.13-slim")
    compose = ["docker", "compose", "-p", project, "-f", str(COMPOSE)]
    original = CODE.read_text()
    rebuilds: list[float] = []
    try:
        run([*compose, "build", "runtime", "naive", "careful"], env)
        base = inspect(base_image, env)["Size"]
        slim = inspect(f"{project}-runtime:latest", env)
        naive = inspect(f"{project}-naive:latest", env)["Size"]
        careful = inspect(f"{project}-careful:latest", env)["Size"]
        reused = True
        for _ in range(args.runs):
            CODE.write_text(original + f"# bench/image.py: a code-only change {uuid.uuid4().hex}\n")
            started = time.perf_counter()
            run([*compose, "build", "runtime"], env)
            rebuilds.append(time.perf_counter() - started)
            after = inspect(f"{project}-runtime:latest", env)["RootFS"]["Layers"]
            before = slim["RootFS"]["Layers"]
            reused &= after[:-CODE_LAYERS] == before[:-CODE_LAYERS] and after[-1] != before[-1]
    finally:
        CODE.write_text(original)
        subprocess.run(
            ["docker", "rmi", *(f"{project}-{name}:latest" for name in ("runtime", "naive", "careful"))],
            capture_output=True,
            check=False,
        )

    over, naive_over, careful_over = (slim["Size"] - base) / MB, (naive - base) / MB, (careful - base) / MB
    rebuild = statistics.median(rebuilds)
    rows = [
        ("runtime image: layers over the base", f"{over:.1f} MB", "<= 90 MB", over <= 90),
        (
            "  vs the naive image's over the base",
            f"{over / naive_over:.2f}x ({naive_over:.1f} MB)",
            "<= 0.6x",
            over / naive_over <= 0.6,
        ),
        ("  vs the careful one's (information)", f"{over / careful_over:.2f}x ({careful_over:.1f} MB)", "-", True),
        (f"code-only rebuild (median of {args.runs})", f"{rebuild:.1f} s", "<= 10 s", rebuild <= 10),
        ("dependency layer reused by it", "yes" if reused else "no", "yes", reused),
    ]
    print(f"base {base_image}: {base / MB:.1f} MB; runtime image {slim['Size'] / MB:.1f} MB\n")
    print(f"{'benchmark':<40} {'measured':>22} {'target':>9}  ok")
    for name, value, target, ok in rows:
        print(f"{name:<40} {value:>22} {target:>9}  {'yes' if ok else 'NO'}")
    return 0 if all(ok for *_, ok in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
