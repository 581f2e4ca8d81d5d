"""`inv prod-deploy` of the reference stack to a second Docker host over SSH, with no
registry (tests/hosts/remote-host: a fresh dockerd behind an sshd, its 80/443 on
loopback ports of this machine):

- a first deploy from checkout A (built here, shipped, started: the lock on a host
  that has no image of the stack yet), a second from checkout B (another copy) under
  ~50 req/s through the host's HTTPS port with no failed request; A's `inv releases
  --host` lists B's release (the history and the backups are kept on the host, none
  of it here), a backup taken from A is fetched from B, and A's `inv rollback --host`
  goes back to A's release;
- a bundle (`inv bundle`) deployed onto a second fresh host that has never seen the
  project: refused whole with one byte flipped (nothing on the host), then served, with
  the manifest's image IDs;
- a dropped link (the host's sshd stopped mid-deploy): the deploy fails, the lock and
  the release history say what happened, the previous release still serves, and after
  `inv deploy.unlock` the next deploy recovers.

Each step's time is printed (run with -s to see them)."""

from __future__ import annotations

import http.client as httpclient
import json
import re
import shutil
import ssl
import subprocess
import tarfile
import time
import urllib.parse

import pytest

from stackyard.bundle import archive
from tests.support import (
    REMOTE_HOST,
    Background,
    Inv,
    Load,
    copy_checkout,
    drop_ssh,
    inv_in,
    prod_inv,
    remote_host,
    remove_prod_project,
    state_volumes,
)

# A second Docker host (tests/hosts/remote-host): `nox -s remote`, outside the default set (CI time).
pytestmark = [pytest.mark.integration, pytest.mark.remote]

DEPLOY_TIMEOUT = 3600  # a first deploy ships ~2 GB over ssh


def numbers(line: str) -> None:
    print(f"\n[remote-deploy] {line}", flush=True)


def port(url: str) -> int:
    return int(urllib.parse.urlsplit(url).port or 443)


def served(https: str) -> str:
    """The version the host serves through its HTTPS port (Caddy's site is "localhost")."""
    conn = httpclient.HTTPSConnection("127.0.0.1", port(https), timeout=10, context=ssl._create_unverified_context())
    conn.request("GET", "/version", headers={"Host": "localhost"})
    return json.loads(conn.getresponse().read())["version"]


def remote_inv(prefix: str) -> Inv:
    """prod_inv for a stack on a fixture host: it publishes 80 and 443 there (the fixture
    publishes those on loopback ports here), on every address of the host."""
    inv = prod_inv(prefix)
    inv.env.update(HTTP_PORT="80", HTTPS_PORT="443", PUBLISH_ADDRESS="0.0.0.0")
    return inv


def on(remote: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", "-H", remote["host"], *args], capture_output=True, text=True, timeout=120)


def timed(inv: Inv, checkout, what: str, *args: str, ok: bool = True) -> subprocess.CompletedProcess:
    started = time.monotonic()
    proc = inv_in(inv, checkout, *args, timeout=DEPLOY_TIMEOUT)
    numbers(f"{what}: exit {proc.returncode} in {time.monotonic() - started:.1f} s")
    for line in (proc.stdout + proc.stderr).splitlines():  # the ship's and the load's own numbers
        if line.startswith(("ship: ", "  loaded ", "  sent ")) or line.endswith(", verified"):
            numbers(f"  {line.strip()}")
    if ok:
        assert proc.returncode == 0, f"inv {' '.join(args)}:\n{proc.stdout[-6000:]}\n{proc.stderr[-3000:]}"
    return proc


@pytest.fixture(scope="module")
def checkout(tmp_path_factory):
    """A copy of the checkout (no git: deploys take --allow-dirty), so that others' edits
    of the working tree do not change the release midway."""
    path = tmp_path_factory.mktemp("remote-deploy") / "checkout"
    copy_checkout(path)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def host():
    with remote_host("deploy") as found:
        yield found


@pytest.fixture(scope="module")
def inv(host, checkout):
    """The deploying machine's inv for the first host (its PATH has the host's ssh wrapper)."""
    found = remote_inv("remote")
    try:
        yield found
    finally:
        remove_prod_project(found)  # this machine's images of the project (the host goes with its fixture)


def test_two_checkouts_deploy_one_host_and_share_its_history_and_backups(host, checkout, inv, tmp_path):
    """Checkout A deploys first; checkout B (another copy, no state of its own) deploys
    under load; A's `inv releases` shows B's release, A's rollback goes back to A's."""
    h = host["host"]
    project = inv.env["STACKYARD_PROJECT"]
    b = tmp_path / "checkout-b"
    copy_checkout(b)
    first = timed(inv, checkout, "A: first deploy (build here, ship, up)", "prod-deploy", "--allow-dirty", "--host", h)
    out = first.stdout + first.stderr
    assert "$ [engine] load image stackyard-lock:1" in out  # the fresh host had no image for the lock
    assert re.search(r"ship: 4 images sent, [\d.]+ MB in [\d.]+ s", out), out[-3000:]
    v1 = served(host["https"])

    with Load(port(host["https"])) as load:
        second = timed(inv, b, "B: second deploy under load", "prod-deploy", "--allow-dirty", "--host", h)
    numbers(f"load: {load.ok} ok, {load.failed} failed, {load.errors} errors, versions {load.versions}")
    assert load.failed == 0 and load.errors == 0 and load.ok > 100, (load.versions, second.stdout[-3000:])
    v2 = served(host["https"])
    assert v2 != v1 and set(load.versions) <= {v1, v2}
    assert "$ [engine] load image stackyard-lock:1" not in second.stdout + second.stderr  # the host has it now

    # A sees B's release: the history is the host's. So does B, the same.
    listed = timed(inv, checkout, "A: releases", "releases", "--host", h).stdout
    assert v1 in listed and f"* {v2}" in listed
    assert timed(inv, b, "B: releases", "releases", "--host", h).stdout == listed
    # The history and B's backup (named after its release) are on the host; nothing here.
    kept = on(host, "volume", "ls", "--filter", f"label=dev.stackyard.project={project}", "--format", "{{.Name}}")
    assert {f"stackyard-{project}-releases", f"stackyard-{project}-backup-{v2}"} <= set(kept.stdout.split()), kept
    assert state_volumes(project) == []
    for root in (checkout, b):
        assert not list(root.glob(f".stackyard/*{project}*")) and not (root / "backups").exists()
    assert v2 in timed(inv, checkout, "A: db.backups", "db.backups", "--host", h).stdout
    # A backup taken from A, fetched from B.
    timed(inv, checkout, "A: db.backup", "db.backup", "--env", "prod", "--host", h)
    fetched = timed(
        inv, b, "B: db.backups --download latest", "db.backups", "--env", "prod", "--download", "latest", "--host", h
    )
    (dump,) = (b / "backups" / project).glob("manual-*.dump")
    assert dump.read_bytes().startswith(b"PGDMP") and dump.name in fetched.stdout

    # A rolls back to its own release, past B's.
    timed(inv, checkout, "A: rollback", "rollback", "--host", h)
    assert served(host["https"]) == v1
    assert on(host, "inspect", f"{project}-deploy-lock").returncode != 0  # unlocked
    after = timed(inv, b, "B: releases after A's rollback", "releases", "--host", h).stdout
    assert f"* {v1}" in after and after.count(v1) == 2  # A's deploy, then A's rollback to it


def test_a_dropped_link_mid_deploy_leaves_the_truth_and_the_next_deploy_recovers(host, checkout, inv):
    h = host["host"]
    project = inv.env["STACKYARD_PROJECT"]
    before = served(host["https"])
    deploy = Background(inv, "prod-deploy", "--allow-dirty", "--host", h, cwd=checkout)
    try:
        deploy.until(lambda line: re.match(r"==> \d+/\d+ api: ", line), timeout=1200, what="the api step")
        drop_ssh(host)
        started = time.monotonic()
        code = deploy.finish(timeout=900)
        numbers(f"dropped link: the deploy ended (exit {code}) {time.monotonic() - started:.1f} s after it")
    finally:
        subprocess.run([str(REMOTE_HOST), "ssh-start", host["name"]], check=True, capture_output=True, timeout=60)
    out = deploy.output
    assert code == 1, out[-4000:]
    numbers("dropped link, last lines:\n" + "\n".join(out.splitlines()[-6:]))
    release = re.search(r"^deploy (\S+) to prod", out, flags=re.M).group(1)
    # The record: the release failed, with why.
    listed = timed(inv, checkout, "releases after the drop", "releases", "--host", h).stdout
    row = next(line for line in listed.splitlines() if release in line)
    assert " failed " in row, listed
    # The lock: held still (its removal needed the link), naming the dead deploy's pid;
    # the error said so.
    lock = on(host, "inspect", f"{project}-deploy-lock")
    if lock.returncode == 0:
        labels = json.loads(lock.stdout)[0]["Config"]["Labels"]
        assert (
            labels["dev.stackyard.lock.pid"] == str(deploy.proc.pid) and labels["dev.stackyard.lock.version"] == release
        )
        assert "undo of lock failed" in out, out[-4000:]
        refused = timed(inv, checkout, "next deploy, lock held", "prod-deploy", "--allow-dirty", "--host", h, ok=False)
        assert refused.returncode == 1 and f"(pid {deploy.proc.pid})" in refused.stderr, refused.stderr
        timed(inv, checkout, "deploy.unlock", "deploy.unlock", "--yes", "--host", h)
    numbers(f"dropped link: lock {'held' if lock.returncode == 0 else 'removed'} after the drop")
    # What served before still does.
    assert served(host["https"]) == before
    after = timed(inv, checkout, "next deploy (recovers)", "prod-deploy", "--allow-dirty", "--host", h)
    assert served(host["https"]) not in (before, release)
    api = on(
        host,
        "ps",
        "--all",
        "--filter",
        f"label=com.docker.compose.project={project}",
        "--filter",
        "label=com.docker.compose.service=api",
        "--format",
        "{{.Names}}",
    ).stdout.split()
    assert len(api) == 1, (api, after.stdout[-3000:])


def test_a_bundle_onto_a_fresh_host_that_has_never_seen_the_project(inv, checkout):
    path = checkout / "dist" / "prod.bundle.tar"
    timed(inv, checkout, "inv bundle", "bundle", "--output", str(path))
    manifest = archive.read_manifest(path)
    numbers(f"bundle: {archive.size(path.stat().st_size)}, release {manifest.release}")
    with remote_host("fresh") as fresh:
        other = remote_inv("fresh")  # another project, another machine's view: no history of it
        h = fresh["host"]
        try:
            # One byte flipped in the first image member: refused, nothing on the host.
            member = manifest.images[0].member
            with path.open("r+b") as f:
                offset = _offset(path, member) + 1000
                f.seek(offset)
                byte = f.read(1)
                f.seek(offset)
                f.write(bytes([byte[0] ^ 1]))
            refused = timed(
                other,
                checkout,
                "deploy of a damaged bundle",
                "prod-deploy",
                "--bundle",
                str(path),
                "--host",
                h,
                ok=False,
            )
            with path.open("r+b") as f:
                f.seek(offset)
                f.write(byte)
            assert refused.returncode == 1 and member in refused.stderr, refused.stderr
            assert on(fresh, "ps", "--all", "--quiet").stdout.strip() == ""
            assert on(fresh, "images", "--quiet").stdout.strip() == ""
            assert on(fresh, "volume", "ls", "--quiet").stdout.strip() == ""  # no history begun either

            timed(
                other,
                checkout,
                "deploy of the bundle (verify, load, up)",
                "prod-deploy",
                "--bundle",
                str(path),
                "--host",
                h,
            )
            assert served(fresh["https"]) == manifest.release
            for image in manifest.images:
                found = on(fresh, "image", "inspect", "--format", "{{.Id}}", image.ref).stdout.strip()
                assert found == image.id, image.ref
        finally:
            path.unlink(missing_ok=True)  # the project's history and backups go with the host


def _offset(path, member: str) -> int:
    """Where a member's data begins in the bundle."""
    with tarfile.open(path, "r:") as tar:
        return tar.getmember(member).offset_data
