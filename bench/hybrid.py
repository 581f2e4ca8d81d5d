"""`inv hybrid` speed: from dependencies down to the API serving on the host
(target <= 15 s), and from saving a source file to the API serving the new
code (target <= 2 s).

    python bench/hybrid.py [--runs 3] [--reloads 5]

Needs a Docker engine and the app's packages on the host; uses its own
project name and free ports; edits app/refapp/version.py and puts it back."""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import signal
import statistics
import subprocess
import sys
import time
import urllib.request
import uuid

ROOT = pathlib.Path(__file__).resolve().parents[1]
VERSION_FILE = ROOT / "app" / "refapp" / "version.py"
sys.path.insert(0, str(ROOT / "src"))

from stackyard.engine.ports import free_port  # noqa: E402 - after the sys.path line: bench this checkout


def get(url: str) -> dict | None:
    try:
        with urllib.request.urlopen(url, timeout=1) as r:
            return json.loads(r.read())
    except OSError:
        return None


def until(predicate, timeout: float) -> float:
    start = time.perf_counter()
    while time.perf_counter() - start < timeout:
        if predicate():
            return time.perf_counter() - start
        time.sleep(0.02)
    raise SystemExit(f"bench: timed out after {timeout} s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--reloads", type=int, default=5)
    args = parser.parse_args()
    env = {k: v for k, v in os.environ.items() if not k.startswith("STACKYARD_")}
    env.update(
        STACKYARD_PROJECT=f"sy-bench-hybrid-{uuid.uuid4().hex[:6]}",
        API_PORT=str(free_port()),
        DB_PORT=str(free_port()),
        REDIS_PORT=str(free_port()),
    )
    inv = [sys.executable, "-m", "invoke"]
    url = f"http://127.0.0.1:{env['API_PORT']}"
    original = VERSION_FILE.read_text()
    starts, reloads = [], []
    try:
        subprocess.run(inv + ["dev"], cwd=ROOT, env=env, capture_output=True, check=True)  # images, volumes
        for _ in range(args.runs):
            subprocess.run(inv + ["down"], cwd=ROOT, env=env, capture_output=True, check=True)
            start = time.perf_counter()
            proc = subprocess.Popen(
                inv + ["hybrid"],
                cwd=ROOT,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
            until(lambda: (get(url + "/health") or {}).get("status") == "ok", 120)
            starts.append(time.perf_counter() - start)
            for _ in range(args.reloads):
                marker = uuid.uuid4().hex[:8]
                VERSION_FILE.write_text(f'VERSION = "{marker}"\n')
                reloads.append(until(lambda m=marker: (get(url + "/version") or {}).get("version") == m, 30))
            os.kill(proc.pid, signal.SIGINT)
            proc.wait(timeout=60)
    finally:
        VERSION_FILE.write_text(original)
        subprocess.run(inv + ["down", "--volumes"], cwd=ROOT, env=env, capture_output=True)
    s, r = statistics.median(starts), statistics.median(reloads)
    print(f"runs: {args.runs}, reloads per run: {args.reloads}; medians in seconds\n")
    print(f"{'benchmark':<48} {'median':>7} {'max':>7} {'target':>7}  ok")
    print(
        f"{'hybrid: dependencies down -> API serving':<48} {s:>7.2f} {max(starts):>7.2f} {'<=15':>7}  "
        f"{'yes' if s <= 15 else 'NO'}"
    )
    print(
        f"{'hybrid: save -> new response (reload)':<48} {r:>7.2f} {max(reloads):>7.2f} {'<=2':>7}  "
        f"{'yes' if r <= 2 else 'NO'}"
    )
    return 0 if s <= 15 and r <= 2 else 1


if __name__ == "__main__":
    sys.exit(main())
