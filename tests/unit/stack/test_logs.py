"""logs.matcher: --grep matches text, not colours, and ignores case."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from stackyard.stack.logs import matcher


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
