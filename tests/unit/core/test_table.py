"""table.render: aligned columns, a header, no trailing spaces."""

from __future__ import annotations

from stackyard.core import table


def test_columns_are_aligned_to_the_widest_cell():
    text = table.render(
        ["SERVICE", "STATE", "PUBLISHED"],
        [
            ["api", "running", "http://127.0.0.1:8000"],
            ["migrate", "exited (0)", "-"],
        ],
    )
    assert text == (
        "SERVICE  STATE       PUBLISHED\napi      running     http://127.0.0.1:8000\nmigrate  exited (0)  -"
    )


def test_no_trailing_spaces_and_cells_made_str():
    text = table.render(["A", "LONG HEADER"], [["x", ""], [1, 2]])
    assert text.splitlines() == ["A  LONG HEADER", "x", "1  2"]


def test_header_only():
    assert table.render(["SERVICE", "STATE"], []) == "SERVICE  STATE"
