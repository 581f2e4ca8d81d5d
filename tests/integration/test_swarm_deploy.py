"""`inv prod-deploy`, `inv rollback` and `inv releases` on a Swarm environment, for
real: the reference stack on a single-node swarm, under a project of this module's
own (its HTTPS port, its image names, its secrets), all removed at the end.

- a rolling update of the API under ~50 requests a second through Caddy's HTTPS
  port, then a rollback the same way: no request fails, the history records both;
- a broken release (an API whose command exits) is rolled back by Swarm itself:
  the deploy exits 1 saying so, with the failing task's lines, and the old release
  still serves.

The numbers (deploy, rollback and failed-deploy times, request counts) are printed
(`pytest -s`)."""

from __future__ import annotations

import re
import subprocess
import time

import pytest

from tests.support import (
    TEST_SECRETS,
    Load,
    backups,
    copy_checkout,
    history,
    inv_in,
    lock_held,
    prod_inv,
    remove_swarm_project,
    swarm_active,
    version,
    wait_for,
)

pytestmark = pytest.mark.integration

ENV = ("--env", "swarm")
BROKEN = "refusing to start: broken on purpose"


def nodes() -> int:
    found = subprocess.run(["docker", "node", "ls", "--quiet"], capture_output=True, text=True, timeout=30)
    return len(found.stdout.split())


@pytest.fixture(scope="module")
def swarm_prod():
    """The stack first-deployed by `inv prod-deploy --env swarm` (its release in the history)."""
    with swarm_active():
        # The images are on this engine only (no `nodes` to ship them to): a second node (another
        # test's) would get tasks it has no image for, and Swarm would roll the updates back.
        wait_for(lambda: nodes() == 1, timeout=900, interval=5, what="a single-node swarm (another test's node left)")
        inv = prod_inv("swdeploy")
        try:
            started = time.monotonic()
            inv("prod-deploy", *ENV, "--allow-dirty", timeout=1200)
            print(f"\nswarm first deploy: {time.monotonic() - started:.1f} s")
            yield inv
        finally:
            remove_swarm_project(inv)
            leaked = [v for v in TEST_SECRETS.values() if any(v in out for out in inv.outputs)]
            assert not leaked, "a secret's value was printed"


def api_image(project: str) -> str:
    argv = ["docker", "service", "inspect", f"{project}_api", "--format", "{{.Spec.TaskTemplate.ContainerSpec.Image}}"]
    return subprocess.run(argv, capture_output=True, text=True, check=True, timeout=30).stdout.strip()


def released(output: str, kind: str = "deploy") -> str:
    return re.search(rf"^{kind} (\S+) to swarm", output, flags=re.M).group(1)


def test_a_rolling_update_then_a_rollback_under_load_fail_no_request(swarm_prod):
    inv = swarm_prod
    project = inv.env["STACKYARD_PROJECT"]
    first = version(inv)
    port = int(inv.env["HTTPS_PORT"])

    with Load(port) as load:
        started = time.monotonic()
        proc = inv("prod-deploy", *ENV, "--allow-dirty", timeout=1200)
        took = time.monotonic() - started
    second = released(proc.stdout)
    print(
        f"swarm deploy: {took:.1f} s; {load.sent} requests, {load.failed} failed, {load.errors} errors; {load.versions}"
    )
    assert (load.failed, load.errors) == (0, 0), load.versions
    assert version(inv) == second != first
    assert set(load.versions) == {first, second}  # the old one served until the new one did
    for step in ("backup", "secrets", "migration", "api", "services"):
        assert re.search(rf"^==> \d+/\d+ {step}:", proc.stdout, flags=re.M), step
    assert "api: update completed" in proc.stdout and "migrate: completed" in proc.stdout
    assert api_image(project).endswith(f":{second}")
    assert second in backups(project)
    record = history(project)[-1]
    assert (record["version"], record["result"], record["backup"], record["kind"]) == (second, "ok", second, "deploy")
    assert not lock_held(project)

    with Load(port) as load:
        started = time.monotonic()
        proc = inv("rollback", *ENV, timeout=1200)
        took = time.monotonic() - started
    print(f"swarm rollback: {took:.1f} s; {load.sent} requests, {load.failed} failed, {load.errors} errors")
    assert (load.failed, load.errors) == (0, 0), load.versions
    assert released(proc.stdout, "rollback") == first == version(inv)
    assert "migration" not in re.findall(r"^==> \d+/\d+ (\S+):", proc.stdout, flags=re.M)  # a rollback never migrates
    assert api_image(project).endswith(f":{first}")
    listed = inv("releases", *ENV).stdout
    assert re.search(rf"^\* {re.escape(first)} +rollback +ok ", listed, flags=re.M), listed


def test_a_broken_release_is_rolled_back_by_swarm_and_the_old_one_serves(swarm_prod, tmp_path):
    inv = swarm_prod
    project = inv.env["STACKYARD_PROJECT"]
    copy = tmp_path / "checkout"
    copy_checkout(copy)
    compose_file = copy / "compose" / "compose.swarm.yaml"
    exits = f'    command: ["python", "-c", "import sys; print(\'{BROKEN}\', flush=True); sys.exit(3)"]\n'
    head = "  api:\n    <<: *hardened\n"
    assert head in compose_file.read_text()
    compose_file.write_text(compose_file.read_text().replace(head, head + exits, 1))
    serving = version(inv)

    with Load(int(inv.env["HTTPS_PORT"])) as load:
        started = time.monotonic()
        try:
            proc = inv_in(inv, copy, "prod-deploy", *ENV, "--allow-dirty", timeout=1200)
        except subprocess.TimeoutExpired as exc:  # its output says where it was
            said = exc.stdout if isinstance(exc.stdout, str) else (exc.stdout or b"").decode(errors="replace")
            pytest.fail(f"the deploy did not end:\n{said[-4000:]}")
        took = time.monotonic() - started
    print(
        f"swarm broken deploy rolled back: {took:.1f} s; {load.sent} requests, {load.failed} failed, {load.errors} errors"
    )
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-3000:]
    release = released(proc.stdout)
    error = proc.stderr.strip().splitlines()[-1]
    assert error.startswith(f"stackyard: error: deploy of {release} failed: Swarm rolled api back by itself ("), error
    assert "non-zero exit (3)" in error and f"{serving} still serves" in error
    assert re.search(r"^--- task \w{12} of \S+_api \(failed: task: non-zero exit \(3\)\): last 30 log lines ---$", proc.stdout, flags=re.M)  # fmt: skip
    assert BROKEN in proc.stdout  # the failing task's own lines
    assert version(inv) == serving and api_image(project).endswith(f":{serving}")
    assert (load.failed, load.errors) == (0, 0), load.versions
    assert set(load.versions) == {serving}
    record = history(project)[-1]
    assert (record["version"], record["result"]) == (release, "failed")
    assert "rolled api back" in record["reason"]
    assert not lock_held(project)
