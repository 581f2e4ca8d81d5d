"""The deploy tasks' command lines, as Invoke parses them: `-e` like every task,
no short flag that hides `-h`, and `inv rollback [RELEASE]`."""

from __future__ import annotations

import copy

import pytest
from invoke.exceptions import ParseError
from invoke.parser import Parser

from stackyard import tasks


def parse(*argv: str) -> dict[str, dict]:
    """{task: its keyword arguments}, as `inv ARGV` would call them."""
    # A copy: Invoke pops a task's help texts when it makes its parser context.
    namespace = copy.deepcopy(tasks.namespace)
    return {ctx.name: ctx.as_kwargs for ctx in Parser(contexts=namespace.to_contexts()).parse_argv(list(argv))}


def test_rollback_takes_the_release_as_a_word_or_leaves_it_out():
    assert parse("rollback")["rollback"]["release"] == ""
    assert parse("rollback", "0ff1ce0-20261121090909")["rollback"]["release"] == "0ff1ce0-20261121090909"
    assert parse("rollback", "--release", "abc")["rollback"]["release"] == "abc"
    both = parse("rollback", "-e", "staging", "abc", "--dry-run")["rollback"]
    assert (both["release"], both["env"], both["dry_run"]) == ("abc", "staging", True)
    # Left out, the next task's name is still a task.
    assert set(parse("rollback", "releases")) == {"rollback"}  # a word after it is its release...
    assert set(parse("rollback", "--dry-run", "releases")) == {"rollback"}  # ...wherever it comes


@pytest.mark.parametrize(
    ("argv", "task"),
    [
        (["prod-deploy", "-e", "staging", "--dry-run"], "prod-deploy"),
        (["rollback", "-e", "staging"], "rollback"),
        (["releases", "-e", "staging"], "releases"),
        (["deploy.unlock", "-e", "staging", "--yes"], "deploy.unlock"),
    ],
)
def test_every_deploy_task_takes_e_for_its_environment(argv, task):
    assert parse(*argv)[task]["env"] == "staging"


def test_the_deploy_tasks_have_no_short_flag_but_e_so_h_stays_help():
    namespace = copy.deepcopy(tasks.namespace)
    contexts = {ctx.name: ctx for ctx in namespace.to_contexts()}
    for name in ("prod-deploy", "rollback", "deploy.unlock"):
        short = sorted(n for arg in contexts[name].args.values() for n in arg.names if len(n) == 1)
        assert short == ["e"], name
    with pytest.raises(ParseError, match="No idea what '-h' is"):
        parse("prod-deploy", "-h", "ssh://x")  # not --host: Invoke's own -h (help) is not a task flag
