"""deploy.releases: the history is kept on the target engine, a file a record; a
damaged record is read past, never fatal; the images kept are those of the last
N distinct releases.
And the deploy's preflight (deploy/actions.py), which fails closed."""

from __future__ import annotations

import dataclasses
import io
import json
import pathlib

import docker.errors
import pytest

from stackyard import config
from stackyard.core.runner import Result
from stackyard.deploy import actions, releases
from stackyard.errors import StackyardError
from stackyard.session import Session
from tests.unit.deploy.fakes import FakeClient, Holder
from tests.unit.fakes import FakeRunner, real_project, tmp_env

GOOD = json.dumps(dataclasses.asdict(releases.Release("a1", "t1", "me", "ok")))
VOLUME = "stackyard-demo-prod-releases"


def session(tmp_path: pathlib.Path, engine: FakeClient | None = None, target: str | None = None) -> Session:
    runner = FakeRunner()
    runner.target = target
    env = tmp_env(tmp_path, "prod")
    project = config.Project(tmp_path, "demo", tmp_path / "compose", tmp_path / "env", "dev")
    return Session(project, env, runner, out=io.StringIO(), client=engine or FakeClient())


def put(s: Session, file: str, text: str) -> None:
    """A file in the history's volume, as a hand edit would leave it."""
    s.engine().volumes.store.setdefault(VOLUME, {})
    s.engine().volumes.files.setdefault(VOLUME, {})[f"history/{file}"] = text.encode()


def read(s: Session) -> tuple[list[str], list[str]]:
    said: list[str] = []
    return [r.version for r in releases.history(s, said.append)], said


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
def test_a_bad_record_is_skipped_and_named_by_its_file_never_its_text(tmp_path, bad, why):
    s = session(tmp_path)
    put(s, "1-a1.json", GOOD)
    put(s, "2-b2.json", bad)
    put(s, "3-c3.json", GOOD.replace('"a1"', '"c3"'))
    versions, said = read(s)
    assert versions == ["a1", "c3"]
    assert said == [f"{VOLUME}: history/2-b2.json: skipped: not a release record ({why})"]
    assert "s3cr3t" not in said[0]


def test_the_report_goes_to_stderr_by_default_and_can_be_silenced(tmp_path, capsys):
    s = session(tmp_path)
    put(s, "1-a1.json", GOOD)
    put(s, "2-x.json", "garbage")
    assert len(releases.history(s)) == 1
    assert capsys.readouterr().err == f"{VOLUME}: history/2-x.json: skipped: not a release record (not JSON)\n"
    releases.history(s, skipped=None)
    assert capsys.readouterr().err == ""


def test_records_are_files_of_their_own_on_the_engine_read_in_the_order_written(tmp_path):
    s = session(tmp_path)
    assert releases.history(s) == [] and VOLUME not in s.engine().volumes.store  # reading makes nothing
    for version in ("a", "b", "c"):
        releases.record(s, releases.Release(version, "t", "me", "ok"))
    assert [r.version for r in releases.history(s)] == ["a", "b", "c"]
    files = sorted(s.engine().volumes.files[VOLUME])
    assert len(files) == 3 and all(f.startswith("history/") and f.endswith(".json") for f in files)
    labels = s.engine().volumes.store[VOLUME]
    assert labels == {"dev.stackyard.project": "demo-prod", "dev.stackyard.state": "releases"}
    assert not (tmp_path / ".stackyard").exists()  # nothing kept here


def test_two_sessions_on_one_engine_see_one_history(tmp_path):
    engine = FakeClient()
    a, b = session(tmp_path / "a", engine), session(tmp_path / "b", engine)
    releases.record(a, releases.Release("a1", "t", "me", "ok"))
    releases.record(b, releases.Release("b1", "t", "you", "ok"))
    assert [r.version for r in releases.history(a)] == ["a1", "b1"] == [r.version for r in releases.history(b)]


class Unreachable(FakeClient):
    """An engine the link to has dropped: every request fails as the SDK's would."""

    def __init__(self):
        super().__init__()
        self.volumes.get = self.volumes.create = self._fail

    def _fail(self, *args, **kw):
        raise docker.errors.DockerException("Error while fetching server API version: ssh: connection closed")


def test_a_record_that_cannot_reach_the_engine_is_kept_here_and_sent_by_the_next_read(tmp_path, capsys):
    engine = FakeClient()
    s = session(tmp_path, Unreachable(), target="ssh://deploy@example.com")
    with pytest.raises(StackyardError) as err:
        releases.record(s, releases.Release("a1", "t", "me", "failed", "interrupted"))
    kept = releases.unsent_file(s)
    assert err.value.message == "the record of a1 (failed) did not reach the engine"  # the link: said elsewhere
    assert err.value.hint == f"kept in {kept.relative_to(tmp_path)}; `inv releases` sends it once the engine answers"
    assert kept.name.startswith("unsent-demo-prod-") and kept.is_file()
    back = session(tmp_path, engine, target="ssh://deploy@example.com")  # the link is back
    releases.record(back, releases.Release("b2", "t", "me", "ok"))
    assert [(r.version, r.result) for r in releases.history(back)] == [("a1", "failed"), ("b2", "ok")]  # in order
    assert not kept.exists()
    assert "sent 1 release record(s) kept here" in capsys.readouterr().err
    assert releases.history(back) == releases.history(back)  # sent once
    other = session(tmp_path, FakeClient(), target="ssh://deploy@elsewhere")  # kept per target
    assert releases.unsent_file(other) != kept and releases.history(other) == []


def test_a_record_the_engine_refuses_is_kept_here_too_and_the_refusal_said(tmp_path, monkeypatch):
    engine = FakeClient()
    monkeypatch.setattr(Holder, "put_archive", lambda self, path, data: False)
    s = session(tmp_path, engine)
    with pytest.raises(StackyardError) as err:
        releases.record(s, releases.Release("a1", "t", "me", "ok"))
    assert err.value.message.startswith("the record of a1 (ok) did not reach the engine (the Docker engine refused ")
    assert releases.unsent_file(s).is_file()


def legacy(tmp_path: pathlib.Path) -> pathlib.Path:
    path = releases.legacy_file(tmp_path, "demo-prod")
    path.parent.mkdir(parents=True)
    path.write_text(GOOD + "\n" + GOOD.replace('"a1"', '"b2"') + "\n")
    return path


def test_a_history_kept_here_by_an_older_stackyard_is_imported_once_into_the_local_engine(tmp_path, capsys):
    path = legacy(tmp_path)
    s = session(tmp_path)
    assert [r.version for r in releases.history(s)] == ["a1", "b2"]
    assert not path.exists() and path.with_name(path.name + ".imported").is_file()
    assert capsys.readouterr().err == f"imported 2 lines of {path.name} into the engine's release history ({VOLUME})\n"
    releases.record(s, releases.Release("c3", "t", "me", "ok"))
    assert [r.version for r in releases.history(s)] == ["a1", "b2", "c3"]  # imported records stay first


def test_a_history_kept_here_is_not_imported_into_another_engine(tmp_path):
    path = legacy(tmp_path)
    s = session(tmp_path, target="ssh://deploy@example.com")
    assert releases.history(s) == []
    assert path.is_file()


def test_nor_into_an_engine_that_has_a_history_already(tmp_path):
    s = session(tmp_path)
    releases.record(s, releases.Release("z9", "t", "me", "ok"))
    path = legacy(tmp_path)
    assert [r.version for r in releases.history(s)] == ["z9"]
    assert path.is_file()


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
