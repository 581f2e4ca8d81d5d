"""The release history kept on the engine (a volume, one file per record), as
`inv releases` meets it and as deploys write it: a file that is not a record (a
hand edit) is skipped and named once by its file, never its text, and the good
records are listed (exit 0); records written at the same time by two processes
are all there, whole; a history an older stackyard kept on this machine
(.stackyard/releases-<project>.jsonl) is imported into the local engine's once,
and the file renamed *.imported.

The history is read here with the docker SDK (tests/support.py), not through
stackyard's code."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from tests.conftest import ROOT
from tests.support import Inv, history, history_files, put_files, put_history, releases_volume, remove_state

pytestmark = pytest.mark.integration

GOOD = {"version": "abc1234-20260101000000", "time": "t", "who": "ann@ci", "result": "ok"}
NEWER = {**GOOD, "version": "def5678-20260102000000"}

# Run by each writer: its records, one after the other, from `at` (a time.time()) on,
# through stackyard's own record() (as a deploy writes them).
WRITER = """
import sys, time
from stackyard import config
from stackyard.core.runner import Runner
from stackyard.deploy import releases
from stackyard.session import Session

at, tag, n = float(sys.argv[1]), sys.argv[2], int(sys.argv[3])
project = config.load()
s = Session(project, project.environment("prod"), Runner(echo=False))
while time.time() < at:
    time.sleep(0.001)
for i in range(n):
    releases.record(s, releases.Release(f"{tag}{i:02d}-20260101000000", "t", "w@ci", "ok"))
"""


def parsed(project: str) -> list[dict | None]:
    """Each file of the history on the engine, in order: its record, None when it is no JSON."""
    out = []
    for _, data in sorted(history_files(project).items()):
        try:
            out.append(json.loads(data))
        except ValueError:
            out.append(None)
    return out


@pytest.fixture
def inv():
    found = Inv("history")
    try:
        yield found
    finally:
        project = found.env["STACKYARD_PROJECT"]
        remove_state(project)
        for name in (f"releases-{project}.jsonl", f"releases-{project}.jsonl.imported"):
            (ROOT / ".stackyard" / name).unlink(missing_ok=True)


def test_releases_lists_the_good_records_past_a_file_that_is_not_one(inv):
    project = inv.env["STACKYARD_PROJECT"]
    put_history(project, [GOOD], first=1)
    bad = "00000000000000000002-edited.json"
    labels = {"dev.stackyard.project": project, "dev.stackyard.state": "releases"}
    put_files(releases_volume(project), {f"history/{bad}": b'{"version": "s3cr3t-pa55word", "ti\n'}, labels)
    put_history(project, [NEWER], first=3)
    assert len(history_files(project)) == 3  # the bad file is there, between the two

    proc = inv("releases", "--env", "prod")

    assert "abc1234-20260101000000" in proc.stdout and "* def5678-20260102000000" in proc.stdout
    skip = f"{releases_volume(project)}: history/{bad}: skipped: not a release record (truncated JSON)"
    assert (proc.stdout + proc.stderr).count(skip) == 1
    assert "s3cr3t" not in proc.stdout + proc.stderr


def test_records_written_at_once_by_two_processes_are_all_kept_whole(inv):
    project = inv.env["STACKYARD_PROJECT"]
    assert history(project) == []  # the first records of the project: the volume is made meanwhile
    n, at = 6, time.time() + 3  # both start together, once both have loaded stackyard
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(at), tag, str(n)],
            cwd=ROOT,
            env=inv.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for tag in ("aaaaa", "bbbbb")
    ]
    outputs = [w.communicate(timeout=300)[0] for w in writers]
    assert [w.returncode for w in writers] == [0, 0], outputs

    found = history(project)  # every file parses as a whole record
    versions = {r["version"] for r in found}
    assert versions == {f"{tag}{i:02d}-20260101000000" for tag in ("aaaaa", "bbbbb") for i in range(n)}
    assert len(found) == 2 * n
    for tag in ("aaaaa", "bbbbb"):  # each writer's own records in the order it wrote them
        mine = [r["version"] for r in found if r["version"].startswith(tag)]
        assert mine == sorted(mine)
    listed = inv("releases", "--env", "prod")
    assert "skipped" not in listed.stdout + listed.stderr
    assert all(v in listed.stdout for v in versions)


def test_a_local_history_of_an_older_stackyard_is_imported_once(inv):
    project = inv.env["STACKYARD_PROJECT"]
    legacy = ROOT / ".stackyard" / f"releases-{project}.jsonl"
    legacy.parent.mkdir(exist_ok=True)
    legacy.write_text(json.dumps(GOOD) + "\n" + '{"version": "s3cr3t-pa55word", "ti\n' + json.dumps(NEWER) + "\n")

    first = inv("releases", "--env", "prod")

    volume = releases_volume(project)
    assert f"imported 3 lines of {legacy.name} into the engine's release history ({volume})" in first.stderr
    assert not legacy.exists() and legacy.with_name(legacy.name + ".imported").is_file()
    # On the engine, in the file's order, each line a file of its own (the bad one too: nothing is lost).
    assert parsed(project) == [GOOD, None, NEWER]
    assert "abc1234-20260101000000" in first.stdout and "* def5678-20260102000000" in first.stdout
    assert (first.stdout + first.stderr).count("skipped: not a release record (truncated JSON)") == 1
    assert "s3cr3t" not in first.stdout + first.stderr

    # Once: the engine has a history now; a local file found later is not imported again.
    legacy.write_text(json.dumps({**GOOD, "version": "0000000-20250101000000"}) + "\n")
    again = inv("releases", "--env", "prod")
    assert not [line for line in again.stderr.splitlines() if line.startswith("imported ")] and legacy.is_file()
    assert "0000000-20250101000000" not in again.stdout
    assert parsed(project) == [GOOD, None, NEWER]
