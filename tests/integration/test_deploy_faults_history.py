"""A damaged release history, as `inv releases` meets it: the good records are
listed, each bad line named once by its number, never its text; exit 0."""

from __future__ import annotations

import json

import pytest

from tests.conftest import ROOT
from tests.support import Inv

pytestmark = pytest.mark.integration


def test_releases_lists_the_good_records_past_a_bad_line():
    inv = Inv("faults")
    project = inv.env["STACKYARD_PROJECT"]
    path = ROOT / ".stackyard" / f"releases-{project}.jsonl"
    good = {"version": "abc1234-20260101000000", "time": "t", "who": "ann@ci", "result": "ok"}
    newer = {**good, "version": "def5678-20260102000000"}
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps(good) + "\n" + '{"version": "s3cr3t-pa55word", "ti\n' + json.dumps(newer) + "\n")
    try:
        proc = inv("releases", "--env", "prod")
    finally:
        path.unlink()
    assert "abc1234-20260101000000" in proc.stdout and "* def5678-20260102000000" in proc.stdout
    skip = f".stackyard/releases-{project}.jsonl:2: skipped: not a release record (truncated JSON)"
    assert (proc.stdout + proc.stderr).count(skip) == 1
    assert "s3cr3t" not in proc.stdout + proc.stderr
