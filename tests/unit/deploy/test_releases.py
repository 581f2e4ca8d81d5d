"""deploy.releases: a damaged history is read past, never fatal; records are
appended whole; the images kept are those of the last N distinct releases.
And the deploy's preflight (deploy/actions.py), which fails closed."""

from __future__ import annotations

import dataclasses
import io
import json
import multiprocessing
import pathlib

import pytest

from stackyard.core.runner import Result
from stackyard.deploy import actions, releases
from stackyard.errors import StackyardError
from stackyard.session import Session
from tests.unit.fakes import FakeRunner, real_project, tmp_env

GOOD = json.dumps(dataclasses.asdict(releases.Release("a1", "t1", "me", "ok")))


def write_history(tmp_path: pathlib.Path, *lines: str) -> pathlib.Path:
    path = releases.history_file(tmp_path, "p")
    path.parent.mkdir(parents=True)
    path.write_text("".join(line + "\n" for line in lines))
    return path


def read(path: pathlib.Path) -> tuple[list[str], list[str]]:
    said: list[str] = []
    return [r.version for r in releases.history(path, said.append)], said


@pytest.mark.parametrize(
    ("bad", "why"),
    [
        ('{"version": "b2", "time": "t2", "who": "me", "res', "truncated JSON"),
        ('{"version": "b2", "time": "t2", "who": "me", "result": "ok", "colour": "red"}', "unknown key colour"),
        ("s3cr3t-pa55word garbage", "not JSON"),
        ('{"version": "b2", "time": "t2", "who": "me", "result": "ok", "pw=s3cr3t-pa55word": 1}', "1 unknown key(s)"),
        ('{"version": "b2", "time": "t2", "result": "ok"}', "missing who"),
        ('{"version": "b2", "time": "t2", "who": "me", "result": "maybe"}', "unknown result or kind"),
        ("[1, 2]", "not a JSON object"),
    ],
)
def test_a_bad_line_is_skipped_and_named_by_its_number_never_its_text(tmp_path, bad, why):
    path = write_history(tmp_path, GOOD, bad, GOOD.replace('"a1"', '"c3"'))
    versions, said = read(path)
    assert versions == ["a1", "c3"]
    assert said == [f".stackyard/releases-p.jsonl:2: skipped: not a release record ({why})"]
    assert "s3cr3t" not in said[0]


def test_the_report_goes_to_stderr_by_default_and_can_be_silenced(tmp_path, capsys):
    path = write_history(tmp_path, GOOD, "garbage")
    assert len(releases.history(path)) == 1
    assert capsys.readouterr().err == ".stackyard/releases-p.jsonl:2: skipped: not a release record (not JSON)\n"
    releases.history(path, skipped=None)
    assert capsys.readouterr().err == ""


def test_a_record_after_a_line_a_crash_cut_short_starts_a_line_of_its_own(tmp_path):
    path = releases.history_file(tmp_path, "p")
    path.parent.mkdir(parents=True)
    path.write_text(GOOD + "\n" + GOOD[:20])  # no newline: the writer died mid-record
    releases.record(path, releases.Release("d4", "t4", "me", "ok"))
    versions, said = read(path)
    assert versions == ["a1", "d4"]
    assert said == [".stackyard/releases-p.jsonl:2: skipped: not a release record (truncated JSON)"]


def _append_many(path: str, tag: str) -> None:
    for i in range(200):
        releases.record(pathlib.Path(path), releases.Release(f"{tag}{i}", "t", "x" * 2000, "ok"))


def test_two_writers_at_once_never_interleave(tmp_path):
    path = releases.history_file(tmp_path, "p")
    procs = [multiprocessing.Process(target=_append_many, args=(str(path), tag)) for tag in "ab"]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    versions, said = read(path)
    assert said == [] and len(versions) == 400


# ---- the images kept -------------------------------------------------------------------


def history(*entries: str) -> list[releases.Release]:
    """Entries: "v" (an ok deploy), "v!" (a failed one), "v<" (a rollback to v)."""
    out = []
    for e in entries:
        version = e.rstrip("!<")
        kind = "rollback" if e.endswith("<") else "deploy"
        out.append(releases.Release(version, "t", "me", "failed" if e.endswith("!") else "ok", kind=kind))
    return out


def test_rollbacks_are_no_extra_releases_older_ones_are_kept_up_to_n():
    # Six good records, two distinct images among the newest: the older releases stay too.
    found = history("v1", "v2", "v3", "v4", "v3<", "v4", "v3<", "v4", "v3<")
    assert releases.kept(found, 3) == {"v3", "v4", "v2"}
    assert releases.kept(found, 5) == {"v1", "v2", "v3", "v4"}


def test_the_newest_releases_are_kept_not_the_oldest_and_failed_ones_count_not():
    found = history("v1", "v2", "v3", "v4!", "v5", "v6!")
    assert releases.kept(found, 2) == {"v5", "v3"}
    assert releases.kept([], 2) == set()


# ---- the preflight ---------------------------------------------------------------------


@pytest.fixture
def preflight_session(tmp_path, monkeypatch):
    monkeypatch.setattr(actions.envops, "check", lambda s, quiet_ok=False: None)
    monkeypatch.setattr(actions.lint_run, "security_findings", lambda s: [])

    def make(**responses: Result) -> tuple[actions.Deploy, FakeRunner]:
        runner = FakeRunner(responses)
        s = Session(real_project(), tmp_env(tmp_path, "prod"), runner, out=io.StringIO())
        return actions.Deploy(s, tmp_path / "history.jsonl"), runner

    return make


def test_a_clean_tree_passes_and_a_dirty_one_stops_the_deploy(preflight_session):
    x, runner = preflight_session()
    actions.Preflight(allow_dirty=False).run(x)
    assert runner.commands[-1].argv[-2:] == ("status", "--porcelain")
    x, _ = preflight_session(**{"status --porcelain": Result(0, " M app.py\n")})
    with pytest.raises(StackyardError, match=r"^the git tree has uncommitted changes"):
        actions.Preflight(allow_dirty=False).run(x)
    actions.Preflight(allow_dirty=True).run(x)


def test_git_failing_stops_the_deploy(preflight_session):
    x, _ = preflight_session(**{"status --porcelain": Result(128, "", "fatal: not a git repository\n")})
    with pytest.raises(StackyardError) as info:
        actions.Preflight(allow_dirty=False).run(x)
    assert str(info.value).startswith("the git-clean check cannot run: `git status` in ")
    assert "(fatal: not a git repository)" in str(info.value) and "--allow-dirty" in info.value.hint


class NoGit(FakeRunner):
    def run(self, cmd, **kwargs):
        if cmd.argv[0] == "git":  # as the real runner says it
            raise StackyardError("git not found on PATH", "install Docker (with the Compose v2 plugin)")
        return super().run(cmd, **kwargs)


def test_git_not_installed_stops_the_deploy(preflight_session):
    x, _ = preflight_session()
    x.s.runner = NoGit()
    with pytest.raises(StackyardError, match=r"^the git-clean check cannot run: git not found on PATH") as info:
        actions.Preflight(allow_dirty=False).run(x)
    assert "git installed" in info.value.hint


@pytest.mark.parametrize("which", [" config --format json", " config --no-interpolate"])
def test_a_config_that_does_not_render_stops_the_deploy(preflight_session, which):
    x, _ = preflight_session(**{which: Result(15, "", "required variable POSTGRES_PASSWORD is missing a value\n")})
    with pytest.raises(StackyardError) as info:
        actions.Preflight(allow_dirty=True).run(x)
    assert str(info.value).startswith("the security rules cannot run: `docker compose config` of prod fails (")
