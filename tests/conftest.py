"""Shared pytest setup: the reference app importable for its unit tests."""

from __future__ import annotations

import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
# The reference app is not an installed package: its code lives in app/.
sys.path.insert(0, str(ROOT / "app"))


def pytest_addoption(parser):
    parser.addoption(
        "--require-engine",
        action="store_true",
        help="fail instead of skipping integration tests when no Docker engine answers (CI)",
    )
