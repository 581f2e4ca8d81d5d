"""The image installs app/requirements*.lock with --require-hashes --no-deps:
each lock must hold every pin its requirements file states, at that version,
each entry with its hashes, and a part's lock only what it adds over the
runtime's. A pin changed without `nox -s lock` fails here, not in a build."""

from __future__ import annotations

import pathlib
import re

import pytest

APP = pathlib.Path(__file__).resolve().parents[2] / "app"
PIN = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==(?P<version>\S+)", re.M)


def pins(text: str) -> dict[str, str]:
    return {m["name"].lower().replace("_", "-"): m["version"] for m in PIN.finditer(text)}


def entries(lock: pathlib.Path) -> list[str]:
    """Each entry of a lock: its pin line and the continuation lines after it."""
    return re.split(r"\n(?=[A-Za-z0-9])", lock.read_text().split("\n", 1)[1].strip())


SOURCES = sorted(APP.glob("requirements*.txt"))


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.name)
def test_every_pin_is_in_its_lock_at_that_version_with_hashes(source):
    lock = source.with_suffix(".lock")
    assert lock.is_file(), f"{lock.name} missing: run `nox -s lock`"
    runtime = pins((APP / "requirements.lock").read_text())
    locked = pins(lock.read_text())
    for name, version in pins(source.read_text()).items():
        found = locked.get(name) or runtime.get(name)
        assert found == version, f"{source.name} pins {name}=={version}, the locks {found}: run `nox -s lock`"
    for entry in entries(lock):
        assert "--hash=sha256:" in entry, f"{lock.name}: no hash for {entry.splitlines()[0]}"


def test_a_part_s_lock_holds_only_what_it_adds_over_the_runtime_s():
    runtime = pins((APP / "requirements.lock").read_text())
    for lock in APP.glob("requirements-*.lock"):
        assert not set(pins(lock.read_text())) & set(runtime), lock.name


def test_flower_is_in_no_role_s_image_but_its_own():
    assert "flower" not in pins((APP / "requirements.lock").read_text())
    assert "flower" in pins((APP / "requirements-flower.lock").read_text())
