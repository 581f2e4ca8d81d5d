"""`inv env.init`: create an environment's local file from the schema, with
strong random values for its secrets."""

from __future__ import annotations

import os
import pathlib
import secrets as random_secrets
from collections.abc import Callable, Mapping

from stackyard.env.check import secret_problems
from stackyard.env.schema import Variable
from stackyard.errors import StackyardError


def new_secret() -> str:
    # 32 random bytes, URL-safe base64: 43 characters, ~256 bits, safe in URLs
    # (the stack builds DATABASE_URL from it) and in .env files without quotes.
    # About 1 in 6,500 spells a placeholder word ("test", "todo", ...) by chance,
    # which env.check would reject: draw again.

    while True:
        value = random_secrets.token_urlsafe(32)
        if not secret_problems(value):
            return value


def render(
    env_name: str, schema: Mapping[str, Variable], already_set: set[str], generate: Callable[[], str] = new_secret
) -> str:
    """The local file's text: a fresh value for every secret, an empty line to
    fill for every required variable no committed layer sets."""
    lines = [
        f"# {env_name}: secrets and local overrides. Never commit this file (git-ignored).",
        "# Made by `inv env.init`; precedence: see README (Environment files).",
    ]
    for name, var in schema.items():
        if var.secret:
            lines += [f"# {var.description}" if var.description else "# secret", f"{name}={generate()}"]
        elif var.required and name not in already_set:
            lines += [f"# required: {var.description}", f"{name}="]
    return "\n".join(lines) + "\n"


def check_writable(path: pathlib.Path, force: bool) -> None:
    """An existing file is replaced only with --force (its secrets would change)."""
    if path.exists() and not force:
        raise StackyardError(
            f"{path.name} exists already", "keep it, or replace it with --force (its secrets would change)"
        )


def write(path: pathlib.Path, text: str, force: bool) -> None:
    check_writable(path, force)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Created readable by its owner only, before anything is written into it.
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)
