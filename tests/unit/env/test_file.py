"""envfile: entries with line numbers, malformed lines as errors that never
show the value, the Compose/python-dotenv divergences, Compose interpolation."""

from __future__ import annotations

import io
import re

import pytest
from dotenv import dotenv_values
from hypothesis import example, given, settings
from hypothesis import strategies as st

from stackyard.env.file import (
    Entry,
    EnvFileError,
    divergences,
    format_line,
    interpolate,
    parse_text,
    scan,
    scan_text,
)
from stackyard.errors import StackyardError

NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


# --- parse_text ----------------------------------------------------------------


def test_entries_keep_their_line_numbers_and_quote_kinds():
    text = "# a comment\n\nPLAIN=value\nDOUBLE=\"two words\"\nSINGLE='a $b'\nEMPTY=\n"
    assert parse_text(text) == [
        Entry("PLAIN", "value", 3, ""),
        Entry("DOUBLE", "two words", 4, '"'),
        Entry("SINGLE", "a $b", 5, "'"),
        Entry("EMPTY", "", 6, ""),
    ]


def test_export_prefix_and_inline_comments():
    text = 'export A=1\nB=plain # a note\nC="quoted" # a note\nD=no#comment\n'
    assert [(e.key, e.value) for e in parse_text(text)] == [
        ("A", "1"),
        ("B", "plain"),
        ("C", "quoted"),
        ("D", "no#comment"),
    ]


def test_blank_lines_before_an_entry_or_an_error_do_not_shift_its_line():
    # python-dotenv's line is where the blank lines before a binding begin.
    assert [e.line for e in parse_text("\n\nA=1\n  \nB=2\r\n\r\nC=3\n")] == [3, 5, 7]
    with pytest.raises(EnvFileError, match=r"^<env>:4: "):
        parse_text("A=1\n\n\nBAD LINE\n")


def test_a_bare_key_has_no_value():
    assert parse_text("A=1\nBARE\n") == [Entry("A", "1", 1, ""), Entry("BARE", None, 2, "")]


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("BAD LINE s3cr3tvalue", "expected KEY=VALUE"),
        ('K="s3cr3t', 'opening " is never closed'),
        ("K='s3cr3t", "opening ' is never closed"),
        ("=s3cr3t", "name is missing"),
        ("MY KEY=", "expected KEY=VALUE"),  # no value at all: once an IndexError
        ('K="s3cr3t" trailing', "expected KEY=VALUE"),
    ],
)
def test_a_malformed_line_names_path_and_line_but_never_the_value(line, reason):
    with pytest.raises(EnvFileError) as info:
        parse_text(f"OK=1\n# comment\n{line}\n", "env/prod.env")
    message = str(info.value)
    assert message.startswith("env/prod.env:3:")
    assert reason in message
    assert "s3cr3t" not in message


@pytest.mark.parametrize("line", ["1ST=x", "A-B=x", "POSTGRES_PASSWORD:s3cr3t", "'K\n'=x"])
def test_an_invalid_name_is_an_error(line):
    with pytest.raises(EnvFileError) as info:
        parse_text(f"OK=1\n{line}\n", "env/dev.env")
    message = str(info.value)
    assert message.startswith("env/dev.env:2:")
    assert "variable name" in message
    # A YAML-style `KEY:value` line: what follows the name is a value.
    assert "s3cr3t" not in message


def test_scan_reports_each_bad_line_and_reads_on():
    text = 'A=1\nBAD LINE s3cr3t\nB=2\n1ST=s3cr3t\nC="unclosed s3cr3t\nD=4\n'
    entries, errors = scan_text(text, "env/dev.env")
    assert [(e.key, e.value, e.line) for e in entries] == [("A", "1", 1), ("B", "2", 3), ("D", "4", 6)]
    assert [(e.path, e.line) for e in errors] == [("env/dev.env", 2), ("env/dev.env", 4), ("env/dev.env", 5)]
    assert [str(e).split(":")[1] for e in errors] == ["2", "4", "5"]
    assert not any("s3cr3t" in str(e) for e in errors)


def test_parse_text_raises_the_first_bad_line_that_scan_text_reports():
    text = "A=1\nBAD ONE\nBAD TWO\n"
    with pytest.raises(EnvFileError) as info:
        parse_text(text, "env/dev.env")
    assert str(info.value) == str(scan_text(text, "env/dev.env")[1][0])
    assert info.value.line == 2


def test_a_file_that_cannot_be_read_is_one_error_for_the_whole_file(tmp_path):
    with pytest.raises(EnvFileError) as info:
        scan(tmp_path / "nope.env", "env/nope.env")
    assert (info.value.path, info.value.line, str(info.value)) == ("env/nope.env", 0, "env/nope.env: file not found")


# Whatever the text, scan_text returns entries and errors: never an exception, and
# every line it names (an entry's or an error's) is a line of the text.
@settings(max_examples=300, deadline=None)
@given(st.text())
@example("A=1\n'B\nC'\n\"unterminated\nD=$x # c\r\nexport E=é")
@example("0\x850\r\nA")  # a malformed line whose "\r\n" dotenv splits between two bindings
def test_scan_text_never_raises(text):
    entries, errors = scan_text(text)
    lines = re.split(r"\r\n|\n|\r", text)
    for e in entries:
        assert NAME.fullmatch(e.key) and e.key in lines[e.line - 1]
    for err in errors:
        assert 1 <= err.line <= len(lines) + 1
        assert str(err).startswith(f"<env>:{err.line}: ")


# Whatever the text, parse_text returns entries or raises EnvFileError: never another exception.
@settings(max_examples=500, deadline=None)
@given(st.text())
@example("0 0=")  # once an IndexError in the error message's reasoning
@example("'K\n'=v")  # once a key with a newline in it
@example("\n\nA=1")  # once reported on line 1
@example("A=1\n'B\nC'\n\"unterminated\nD=$x # c\r\nexport E=é")
def test_parse_text_returns_entries_or_raises_env_file_error(text):
    try:
        entries = parse_text(text)
    except EnvFileError as exc:
        assert re.match(r"<env>:[1-9][0-9]*: ", str(exc)), str(exc)
        return
    lines = re.split(r"\r\n|\n|\r", text)  # python-dotenv's newlines
    for e in entries:
        assert isinstance(e, Entry)
        assert NAME.fullmatch(e.key), e.key
        assert 1 <= e.line <= len(lines) + 1
        assert e.key in lines[e.line - 1]  # the line named is the entry's own


# --- divergences -----------------------------------------------------------------


def warned(text: str) -> list[str]:
    return [w.message for w in divergences(parse_text(text), "env/x.env")]


@pytest.mark.parametrize(
    ("line", "words"),
    [
        ("K", "bare KEY"),
        ("K='a $HOME b'", "single-quoted"),
        ("K=pa$$word", "'$$'"),
        ("K=$HOME/x", "unbraced $VAR"),
        ('K="$HOME"', "unbraced $VAR"),
        ("K=${V-default}", "only Compose"),
        ("K=${V?must be set}", "only Compose"),
        ("K=${V:?must be set}", "only Compose"),
        ("K=${V:+alt}", "only Compose"),
        ("K=${V+alt}", "only Compose"),
    ],
)
def test_each_divergence_is_warned(line, words):
    messages = warned(line + "\n")
    assert len(messages) == 1
    assert words in messages[0]


@pytest.mark.parametrize(
    "line",
    [
        "K=plain",
        "K=",
        'K="two words"',
        "K='no dollar'",
        "K=${V}",
        "K=${V:-default}",
        'K="${V}/x"',
    ],
)
def test_no_warning_for_what_both_read_alike(line):
    assert warned(line + "\n") == []


def test_a_warning_names_path_line_and_key():
    [w] = divergences(parse_text("A=1\nB=$HOME\n"), "env/dev.env")
    assert str(w).startswith("env/dev.env:2: B: ")


# --- interpolate ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "lookup", "expected"),
    [
        ("pa$$word", {}, "pa$word"),
        ("$$V", {"V": "x"}, "$V"),
        ("${V}/a", {"V": "x"}, "x/a"),
        ("$V/a", {"V": "x"}, "x/a"),
        ("${V}", {}, ""),
        ("${V:-d}", {}, "d"),
        ("${V:-d}", {"V": ""}, "d"),
        ("${V:-d}", {"V": "x"}, "x"),
        ("${V-d}", {}, "d"),
        ("${V-d}", {"V": ""}, ""),
        ("${V-d}", {"V": "x"}, "x"),
        ("${V:+a}", {"V": "x"}, "a"),
        ("${V:+a}", {"V": ""}, ""),
        ("${V:+a}", {}, ""),
        ("${V+a}", {"V": ""}, "a"),
        ("${V+a}", {}, ""),
        ("no refs", {"V": "x"}, "no refs"),
    ],
)
def test_interpolate(value, lookup, expected):
    assert interpolate(value, lookup) == expected


# --- format_line ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "line"),
    [
        ("plain", "K=plain"),
        (
            "postgresql://app:p%40ss@127.0.0.1:5432/app?sslmode=disable",
            "K=postgresql://app:p%40ss@127.0.0.1:5432/app?sslmode=disable",
        ),
        ("", "K="),
        ("a b", "K='a b'"),
        ("x#y", "K='x#y'"),
        ("$HOME", "K='$HOME'"),
        ("it's", 'K="it\'s"'),
    ],
)
def test_format_line(value, line):
    assert format_line("K", value) == line


def test_a_value_with_a_brace_variable_is_refused_python_dotenv_would_expand_it():
    with pytest.raises(StackyardError, match=r"^cannot write K to an env file: its value holds \$\{"):
        format_line("K", "a${HOME}b")


# Whatever the value, the line reads back as that value: in python-dotenv and in our own reader.
@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\x00")))
@example("a\"b\\c it's")
@example("line1\nline2")
def test_format_line_reads_back_as_the_value(value):
    try:
        line = format_line("K", value)
    except StackyardError as exc:
        assert ("${" in value or (("'" in value or "\\" in value) and "$" in value)) and value not in str(exc)
        return
    assert dotenv_values(stream=io.StringIO(line + "\n"))["K"] == value
    [entry] = parse_text(line + "\n")
    assert entry.value == value
