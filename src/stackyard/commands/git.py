"""Pure builders for the git calls the secret checks make."""

from __future__ import annotations

import pathlib

from stackyard.core.command import Command


def _git(root: pathlib.Path, *args: str) -> Command:
    return Command(("git", "-C", str(root), *args))


def inside_work_tree(root: pathlib.Path) -> Command:
    return _git(root, "rev-parse", "--is-inside-work-tree")


def is_ignored(root: pathlib.Path, path: str) -> Command:
    """Exit 0 when .gitignore rules ignore `path` (tracked or not)."""
    return _git(root, "check-ignore", "--quiet", "--no-index", path)


def is_tracked(root: pathlib.Path, path: str) -> Command:
    """Exit 0 when `path` is in the index."""
    return _git(root, "ls-files", "--error-unmatch", "--", path)


def history_of(root: pathlib.Path, path: str) -> Command:
    """Prints a commit id when `path` was ever committed on any ref."""
    return _git(root, "log", "--all", "--format=%h", "-n", "1", "--", path)


def grep_tracked(root: pathlib.Path) -> Command:
    """Search tracked files for the fixed string given on stdin (never on the
    command line, where other users' `ps` could see it); prints path NUL line NUL text."""
    return _git(root, "grep", "--fixed-strings", "--line-number", "--null", "-I", "-f", "-")


def head(root: pathlib.Path) -> Command:
    return _git(root, "rev-parse", "HEAD")


def changes(root: pathlib.Path) -> Command:
    """Prints a line per uncommitted change (nothing: a clean tree)."""
    return _git(root, "status", "--porcelain")


def project_files(root: pathlib.Path) -> Command:
    """Tracked files and new ones that no .gitignore rule ignores, one per line."""
    return _git(root, "ls-files", "--cached", "--others", "--exclude-standard")
