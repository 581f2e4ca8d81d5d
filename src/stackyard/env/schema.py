"""The schema: `.env.example` lists every variable the stack reads, each with a
comment; `[secret]` and `[required]` in that comment mark secrets and
variables that must have a value.

    # [secret] [required] The database password.
    POSTGRES_PASSWORD=
"""

from __future__ import annotations

import pathlib
from dataclasses import dataclass

from stackyard.env import file as envfile

SECRET_TAG = "[secret]"
REQUIRED_TAG = "[required]"


@dataclass(frozen=True)
class Variable:
    name: str
    description: str
    secret: bool
    required: bool
    example: str
    line: int


def parse_text(text: str, path: str = ".env.example") -> dict[str, Variable]:
    entries = {e.line: e for e in envfile.parse_text(text, path)}
    lines = text.splitlines()
    out: dict[str, Variable] = {}
    for line_no, e in sorted(entries.items()):
        comment = []
        i = line_no - 2
        while i >= 0 and lines[i].lstrip().startswith("#"):
            comment.insert(0, lines[i].lstrip()[1:].strip())
            i -= 1
        text_ = " ".join(comment)
        out[e.key] = Variable(
            name=e.key,
            description=" ".join(text_.replace(SECRET_TAG, "").replace(REQUIRED_TAG, "").split()),
            secret=SECRET_TAG in text_,
            required=REQUIRED_TAG in text_,
            example=e.value or "",
            line=line_no,
        )
    return out


def load(root: pathlib.Path) -> dict[str, Variable]:
    path = root / ".env.example"
    if not path.is_file():
        return {}
    return parse_text(path.read_text(), ".env.example")
