"""The offline bundle on the real engine: `inv bundle` writes the reference app's
prod release (its four images, its config, its manifest) to one file with no
secret in it; `inv bundle.verify` passes it, and refuses a copy with one byte
changed and a copy cut short, each in one line; the bundle loads into a second
Docker host that has never seen the project (tests/hosts/remote-host), with the
manifest's image IDs, after a damaged copy was refused there with nothing loaded.

The numbers (size, and the seconds to write, verify and load) are printed: run
with `-s` to see them."""

from __future__ import annotations

import io
import json
import os
import pathlib
import shutil
import subprocess
import tarfile
import time

import pytest

from stackyard import config
from stackyard.bundle import archive, load
from stackyard.core.runner import Runner
from stackyard.engine import api
from stackyard.errors import StackyardError
from stackyard.session import Session
from tests.conftest import ROOT
from tests.support import TEST_SECRETS, copy_checkout, inv_in, prod_inv, remote_host, remove_prod_project

# A second Docker host (tests/hosts/remote-host): `nox -s remote`, outside the default set (CI time).
pytestmark = [pytest.mark.integration, pytest.mark.remote]


def numbers(line: str) -> None:
    print(f"\n[bundle] {line}", flush=True)


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    """The prod bundle of a copy of the checkout as it is (its bundle written inside it,
    and removed with it), under a project of its own (its images removed at the end):
    (inv, path, `inv bundle`'s output)."""
    checkout = tmp_path_factory.mktemp("bundle") / "checkout"
    copy_checkout(checkout)
    inv = prod_inv("bundle")
    path = checkout / "dist" / "prod.bundle.tar"
    try:
        started = time.monotonic()
        proc = inv_in(inv, checkout, "bundle", "--output", str(path), timeout=1800)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        numbers(f"inv bundle: {archive.size(path.stat().st_size)} written in {time.monotonic() - started:.1f} s")
        numbers("\n".join(line for line in proc.stdout.splitlines() if line.startswith("  saved ")))
        yield inv, path, proc.stdout
    finally:
        remove_prod_project(inv)
        shutil.rmtree(checkout, ignore_errors=True)  # the bundle is the size of its images


@pytest.fixture
def scratch(tmp_path):
    """tmp_path, emptied afterwards: a copy of the bundle is as big as the bundle."""
    yield tmp_path
    shutil.rmtree(tmp_path, ignore_errors=True)


def test_the_bundle_holds_every_image_of_the_release_its_config_and_no_secret(bundle):
    inv, path, out = bundle
    project = inv.env["STACKYARD_PROJECT"]
    with tarfile.open(path) as tar:
        manifest = json.loads(tar.extractfile("manifest.json").read())
        held = tar.extractfile("compose.json").read().decode()
    release = manifest["release"]
    refs = [image["ref"] for image in manifest["images"]]
    assert refs == [
        f"{project}-app:{release}",
        f"{project}-caddy:{release}",
        os.environ.get("POSTGRES_IMAGE", "pgvector/pgvector:pg17"),
        os.environ.get("REDIS_IMAGE", "redis:8"),
    ]
    for image in manifest["images"]:  # the IDs this engine has
        found = subprocess.run(["docker", "image", "inspect", "--format", "{{.Id}}", image["ref"]], capture_output=True)
        assert found.stdout.decode().strip() == image["id"], image["ref"]
    config = json.loads(held)
    assert {s["image"] for s in config["services"].values()} == set(refs)
    assert not any("build" in s for s in config["services"].values())
    assert config["secrets"]["postgres_password"]["environment"] == "POSTGRES_PASSWORD"  # the name, not the value
    for value in TEST_SECRETS.values():
        assert value not in held and value not in json.dumps(manifest)
        assert not any(value in text for text in inv.outputs)
    assert f"bundle of prod, release {release}: 4 images" in out


def test_verify_passes_it_and_prints_its_members_and_release(bundle):
    inv, path, _ = bundle
    started = time.monotonic()
    proc = inv("bundle.verify", str(path))
    numbers(f"inv bundle.verify: {time.monotonic() - started:.1f} s (the task alone: {proc.stdout.split()[-2]} s)")
    lines = proc.stdout.splitlines()
    assert lines[0].split() == ["MEMBER", "SIZE", "IMAGE", "OK"]
    names = [line.split()[0] for line in lines[1:6]]
    assert [name.startswith("images/") for name in names[:4]] == [True] * 4 and names[4] == "compose.json"
    assert all(line.split()[-1] == "ok" for line in lines[1:6])
    assert lines[6].startswith(f"{path}: release ") and "5 members" in lines[6]


def test_a_dry_run_writes_nothing(bundle, tmp_path):
    inv, path, _ = bundle
    checkout = path.parent.parent
    for args in (["bundle", "--dry-run"], ["--dry", "bundle"]):
        proc = inv_in(inv, checkout, *args, "--output", str(tmp_path / "dry.tar"), timeout=600)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert f"[dry-run] {tmp_path / 'dry.tar'} not written" in proc.stdout
        assert "[dry-run] $ docker compose " in proc.stderr and " build" in proc.stderr
    assert list(tmp_path.iterdir()) == []


def member(path: pathlib.Path, index: int) -> tarfile.TarInfo:
    with tarfile.open(path) as tar:
        return tar.getmembers()[index]


def one_line_error(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 1, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    return lines[0]


def test_a_copy_with_one_byte_changed_is_refused(bundle, scratch):
    inv, path, _ = bundle
    copy = scratch / "changed.tar"
    shutil.copy(path, copy)
    image = member(copy, 0)
    with copy.open("r+b") as f:
        f.seek(image.offset_data + image.size // 2)
        byte = f.read(1)
        f.seek(-1, os.SEEK_CUR)
        f.write(bytes([byte[0] ^ 0x01]))
    line = one_line_error(inv("bundle.verify", str(copy), check=False))
    assert line == (
        f"stackyard: error: {copy}: member {image.name} does not match its SHA-256 (a changed byte): "
        f"{archive.COPY_AGAIN}"
    )


def test_a_copy_cut_short_is_refused(bundle, scratch):
    inv, path, _ = bundle
    copy = scratch / "cut.tar"
    image = member(path, 1)
    with path.open("rb") as src, copy.open("wb") as dst:
        shutil.copyfileobj(src, dst)
        dst.truncate(image.offset_data + 1000)
    line = one_line_error(inv("bundle.verify", str(copy), check=False))
    assert line == (
        f"stackyard: error: {copy} is truncated: it ends inside member {image.name} (1000 of {image.size} bytes): "
        f"{archive.COPY_AGAIN}"
    )


@pytest.fixture
def host():
    """A fresh second Docker host, removed at the end; its ssh wrapper first on PATH."""
    with remote_host("bundle") as found:
        yield found["host"]


def images_on(host: str) -> set[str]:
    argv = ["docker", "-H", host, "images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}"]
    return set(subprocess.run(argv, capture_output=True, text=True, check=True, timeout=120).stdout.splitlines())


def test_it_loads_into_a_host_that_never_saw_the_project_with_the_manifests_ids(bundle, host, scratch):
    _, path, _ = bundle
    project = config.load(ROOT)
    s = Session(project, project.environment("prod"), Runner(out=io.StringIO(), target=host), out=io.StringIO())
    assert images_on(host) == set()

    damaged = scratch / "damaged.tar"
    shutil.copy(path, damaged)
    last = member(damaged, 3)  # the last image: a load that began at once would have loaded three
    with damaged.open("r+b") as f:
        f.seek(last.offset_data + 10)
        f.write(b"\0" * 4)
    with pytest.raises(StackyardError, match=r"does not match its SHA-256"):
        load.load(s, damaged)
    assert images_on(host) == set()

    started = time.monotonic()
    manifest = load.load(s, path)
    numbers(f"load into the second host over ssh: {time.monotonic() - started:.1f} s, verify included")
    numbers("\n".join(line for line in s.out.getvalue().splitlines() if line.startswith("  loaded ")))
    remote = s.engine()
    for image in manifest.images:
        assert api.inspect_image(remote, image.ref)["Id"] == image.id, image.ref
    assert len(images_on(host)) == 4

    again = Session(project, project.environment("prod"), Runner(out=io.StringIO(), target=host), out=io.StringIO())
    load.load(again, path)  # all there: nothing loaded
    assert again.out.getvalue().count(": the engine has it") == 4 and "[engine] load" not in again.runner.out.getvalue()
