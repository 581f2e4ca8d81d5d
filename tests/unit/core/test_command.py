"""Command: argv as a tuple of str, printed as a shell-quoted line."""

from __future__ import annotations

import pathlib
import shlex

from hypothesis import given
from hypothesis import strategies as st

from stackyard.core.command import Command


def test_str_quotes_words_with_spaces_and_quotes():
    cmd = Command(("docker", "compose", "exec", "db", "psql", "-c", "select 1"))
    assert str(cmd) == "docker compose exec db psql -c 'select 1'"
    assert str(Command(("echo", "it's", ""))) == "echo 'it'\"'\"'s' ''"


def test_argv_is_coerced_to_a_tuple_of_str():
    cmd = Command(["docker", pathlib.Path("/srv/compose.yaml"), 180])  # type: ignore[list-item]
    assert cmd.argv == ("docker", "/srv/compose.yaml", "180")
    assert isinstance(cmd.argv, tuple)


def test_with_args_appends_and_keeps_env_and_cwd():
    cmd = Command(("docker", "compose"), env={"A": "1"}, cwd="/tmp")
    more = cmd.with_args("ps", "--all")
    assert more == Command(("docker", "compose", "ps", "--all"), env={"A": "1"}, cwd="/tmp")
    assert cmd.argv == ("docker", "compose")  # the original is unchanged


@given(st.lists(st.text(alphabet=st.characters(blacklist_characters="\x00")), min_size=1))
def test_the_printed_line_splits_back_into_the_same_argv(argv):
    assert shlex.split(str(Command(argv))) == argv


def test_a_command_talks_to_the_target_unless_marked_for_the_local_engine():
    cmd = Command(("docker", "compose", "build"), env={"APP_TAG": "r1"}, cwd="/src")
    assert not cmd.local_engine
    local = cmd.on_local_engine()
    assert local == Command(cmd.argv, cmd.env, cmd.cwd, local_engine=True)
    assert local.with_args("api").local_engine  # kept as arguments are added
    assert str(local) == str(cmd)  # the line printed is the same
