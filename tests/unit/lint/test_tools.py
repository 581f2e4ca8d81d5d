"""lint.tools: how each external linter's output is read.
Sample outputs are copied from the real tools (hadolint 2.x JSON, ruff concise,
shellcheck gcc, yamllint parsable)."""

from __future__ import annotations

import json

import pytest

from stackyard.lint import tools
from stackyard.lint.findings import Finding

# ---- parsers --------------------------------------------------------------------

HADOLINT = json.dumps(
    [
        {
            "code": "DL3006",
            "column": 1,
            "file": "docker/Dockerfile",
            "level": "error",
            "line": 1,
            "message": "Always tag the version of an image explicitly",
        },
        {
            "code": "DL3008",
            "column": 1,
            "file": "docker/Dockerfile",
            "level": "warning",
            "line": 4,
            "message": "Pin versions in apt get install.",
        },
        {
            "code": "DL3015",
            "column": 1,
            "file": "docker/Dockerfile",
            "level": "info",
            "line": 4,
            "message": "Avoid additional packages by specifying `--no-install-recommends`",
        },
        {
            "code": "DL3059",
            "column": 1,
            "file": "docker/caddy/Dockerfile",
            "level": "style",
            "line": 7,
            "message": "Multiple consecutive `RUN` instructions. Consider consolidation.",
        },
    ]
)


def test_parse_hadolint_levels():
    assert tools.parse_hadolint(HADOLINT) == [
        Finding("docker/Dockerfile", 1, "DL3006", "Always tag the version of an image explicitly", "error"),
        Finding("docker/Dockerfile", 4, "DL3008", "Pin versions in apt get install.", "error"),
        Finding(
            "docker/Dockerfile",
            4,
            "DL3015",
            "Avoid additional packages by specifying `--no-install-recommends`",
            "warning",
        ),
        Finding(
            "docker/caddy/Dockerfile",
            7,
            "DL3059",
            "Multiple consecutive `RUN` instructions. Consider consolidation.",
            "warning",
        ),
    ]


def test_parse_hadolint_clean_run_prints_an_empty_list():
    assert tools.parse_hadolint("[]") == []


def test_parse_ruff_check():
    text = "src/x.py:12:5: F401 `os` imported but unused\nsrc/y.py:3:1: PLR0913 Too many arguments in function definition (6 > 5)\n"
    assert tools.parse_ruff_check(text) == [
        Finding("src/x.py", 12, "ruff F401", "`os` imported but unused"),
        Finding("src/y.py", 3, "ruff PLR0913", "Too many arguments in function definition (6 > 5)"),
    ]


def test_parse_ruff_check_fixable_marker():
    """ruff 0.17 prints `[*]` before the message of a fixable violation."""
    [f] = tools.parse_ruff_check("x.py:1:8: F401 [*] `os` imported but unused\n")
    assert (f.file, f.line, f.rule, f.severity) == ("x.py", 1, "ruff F401", "error")
    assert f.message.endswith("`os` imported but unused")


def test_parse_ruff_check_skips_summary_lines():
    assert tools.parse_ruff_check("Found 2 errors.\n[*] 2 fixable with the `--fix` option.\n") == []


def test_parse_ruff_check_reports_syntax_errors():
    # Real ruff 0.17.6 output for `def f(:`.
    found = tools.parse_ruff_check(
        "broken.py:1:7: invalid-syntax: Expected a parameter or the end of the parameter list\n"
    )
    assert [(f.file, f.line) for f in found] == [("broken.py", 1)]


def test_parse_ruff_format():
    text = "Would reformat: src/x.py\nWould reformat: tests/unit/test_y.py\n2 files would be reformatted\n"
    assert tools.parse_ruff_format(text) == [
        Finding("src/x.py", 0, "ruff format", "not formatted: run `ruff format`"),
        Finding("tests/unit/test_y.py", 0, "ruff format", "not formatted: run `ruff format`"),
    ]


def test_parse_ruff_format_reads_what_ruff_0_17_prints():
    # ruff 0.17.6 prints `Would reformat:` no more. With `ruff_format()` as it is,
    # each file gets a multi-line diff ("unformatted: File would be reformatted",
    # " --> src/x.py:2:1", ...); with `--output-format concise` added (the proposed
    # fix), one line per file, which this is (real output):
    text = (
        "src/x.py:2:1: unformatted: File would be reformatted\nsub/y.py:1:2: unformatted: File would be reformatted\n"
    )
    assert [(f.file, f.rule) for f in tools.parse_ruff_format(text)] == [
        ("src/x.py", "ruff format"),
        ("sub/y.py", "ruff format"),
    ]


SHELLCHECK = (
    "run.sh:3:7: warning: Quote this to prevent word splitting. [SC2086]\n"
    "run.sh:9:1: note: Double quote to prevent globbing and word splitting. [SC2086]\n"
    "bin/deploy:2:10: error: Couldn't parse this test expression. [SC1073]\n"
)


def test_parse_shellcheck():
    assert tools.parse_shellcheck(SHELLCHECK) == [
        Finding("run.sh", 3, "SC2086", "Quote this to prevent word splitting.", "error"),
        Finding("run.sh", 9, "SC2086", "Double quote to prevent globbing and word splitting.", "warning"),
        Finding("bin/deploy", 2, "SC1073", "Couldn't parse this test expression.", "error"),
    ]


def test_parse_shellcheck_line_without_code():
    [f] = tools.parse_shellcheck("run.sh:1:1: style: Something odd\n")
    assert f == Finding("run.sh", 1, "shellcheck", "Something odd", "warning")


YAMLLINT = (
    'compose.yaml:6:1: [warning] missing document start "---" (document-start)\n'
    "compose.yaml:2:4: [error] too many spaces after colon (colons)\n"
    "config/x.yaml:1:5: [error] mapping values are not allowed here\n"
)


def test_parse_yamllint():
    assert tools.parse_yamllint(YAMLLINT) == [
        Finding("compose.yaml", 6, "yamllint document-start", 'missing document start "---"', "warning"),
        Finding("compose.yaml", 2, "yamllint colons", "too many spaces after colon", "error"),
        Finding("config/x.yaml", 1, "yamllint syntax", "mapping values are not allowed here", "error"),
    ]


def test_parse_yamllint_real_syntax_error_line():
    # yamllint puts "(syntax)" in the message itself and gives no rule.
    [f] = tools.parse_yamllint("bad.yaml:1:5: [error] syntax error: mapping values are not allowed here (syntax)\n")
    assert (f.file, f.line, f.rule, f.severity) == ("bad.yaml", 1, "yamllint syntax", "error")


@pytest.mark.parametrize(
    "parse",
    [
        tools.parse_hadolint,
        tools.parse_ruff_check,
        tools.parse_ruff_format,
        tools.parse_shellcheck,
        tools.parse_yamllint,
    ],
)
@pytest.mark.parametrize("text", ["", "\n", "   \n"])
def test_empty_output_means_no_findings(parse, text):
    assert parse(text) == []


def test_every_tool_has_an_install_hint():
    assert set(tools.INSTALL) == {"hadolint", "ruff", "shellcheck", "yamllint"}
