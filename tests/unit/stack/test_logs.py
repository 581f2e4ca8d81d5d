"""stack.logs: --grep matches text, not colours, and ignores case; no containers is said, not silent."""

from __future__ import annotations

import io

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stackyard.core.runner import Result
from stackyard.errors import StackyardError
from stackyard.session import Session
from stackyard.stack.logs import matcher, stream
from tests.unit.fakes import FakeRunner, real_project, tmp_env


def test_no_grep_keeps_everything():
    assert matcher(None) is None
    assert matcher("") is None


def test_case_insensitive_substring():
    keep = matcher("Error")
    assert keep("api-1  | ERROR: boom\n")
    assert keep("api-1  | an error happened\n")
    assert not keep("api-1  | all good\n")


def test_colours_do_not_hide_a_match_or_make_one():
    keep = matcher("error")
    assert keep("\x1b[36mapi-1  |\x1b[0m \x1b[31mER\x1b[1mROR\x1b[0m boom\n")
    assert not matcher("31m")("\x1b[31mred text\x1b[0m\n")


colour = st.sampled_from(["\x1b[0m", "\x1b[31m", "\x1b[1;32m", "\x1b[38;5;208m"])


@given(st.text(alphabet="abcdefgh XYZ|:", min_size=1), st.data())
def test_any_colouring_of_a_line_still_matches_its_text(text, data):
    # a colour code (or none) before each character
    codes = data.draw(st.lists(st.one_of(st.just(""), colour), min_size=len(text), max_size=len(text)))
    coloured = "".join(code + ch for code, ch in zip(codes, text, strict=True)) + "\x1b[0m\n"
    assert matcher(text.upper())(coloured)


# --- stream: a project without containers is an error, not silence ---

PS = '{"Name":"demo-dev-db-1","Service":"db","State":"exited","Health":"","ExitCode":0}\n'


def session(tmp_path, runner, **env_changes) -> Session:
    return Session(real_project(), tmp_env(tmp_path, **env_changes), runner, out=io.StringIO())


def test_a_stopped_environment_says_it_has_no_containers(tmp_path):
    runner = FakeRunner({" ps --all": Result(0, "")}, log_lines=["never shown\n"])
    with pytest.raises(StackyardError) as info:
        stream(session(tmp_path, runner, name="prod", project="demo-prod"))
    assert str(info.value) == (
        "no containers in project demo-prod (prod): no logs to show: start it with `inv up --env prod`"
    )
    assert "lines" not in runner.modes


def test_services_without_a_container_are_named(tmp_path):
    runner = FakeRunner({" ps --all": Result(0, PS)}, log_lines=["never shown\n"])
    with pytest.raises(StackyardError) as info:
        stream(session(tmp_path, runner), ["api", "worker"])
    assert str(info.value) == (
        "no container of api, worker in project demo-dev (dev): no logs to show: start it with `inv up -s api,worker`"
    )


def test_what_has_a_container_is_shown_even_stopped(tmp_path):
    runner = FakeRunner({" ps --all": Result(0, PS)}, log_lines=["db-1 | shutting down\n"])
    s = session(tmp_path, runner)
    stream(s, ["api", "db"])
    assert s.out.getvalue() == "db-1 | shutting down\n"
