"""Reading .env files: entries with their line numbers, malformed lines as
errors that never show the value, and warnings for what Compose and
python-dotenv read differently.

python-dotenv's own lexer finds the lines (it keeps line numbers and marks a
malformed line instead of skipping it as `dotenv_values` does silently)."""

from __future__ import annotations

import io
import pathlib
import re
from dataclasses import dataclass

from dotenv.parser import parse_stream

from stackyard.errors import ConfigError

KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\Z")  # \Z: "$" would accept a trailing newline
# ${VAR-d} ${VAR?e} ${VAR:?e} ${VAR+a} ${VAR:+a}: Compose only; python-dotenv knows ${VAR} and ${VAR:-d}.
_COMPOSE_ONLY = re.compile(r"\$\{\w+(-|\?|:\?|\+|:\+)")
_UNBRACED = re.compile(r"(?<!\$)\$[A-Za-z_]\w*")
_BRACED = re.compile(r"\$\{")


class EnvFileError(ConfigError):
    """A line that is not KEY=VALUE: `path:line: reason`; the value is never shown."""


@dataclass(frozen=True)
class Entry:
    key: str
    value: str | None  # None: a bare KEY (Compose takes it from the process environment)
    line: int
    quote: str  # "'", '"' or "" (unquoted)


@dataclass(frozen=True)
class Warning_:
    path: str
    line: int
    key: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.key}: {self.message}"


def parse_text(text: str, path: str = "<env>") -> list[Entry]:
    """Entries of an env file's text, in order; EnvFileError on a malformed line."""

    entries = []
    for b in parse_stream(io.StringIO(text)):
        line = _line_of(b.original)
        if b.error:
            raise EnvFileError(f"{path}:{line}: not a KEY=VALUE line", _why(b.original.string))
        if b.key is None:  # blank line or comment
            continue
        if not KEY.match(b.key):
            # Only the name's valid start is shown: in `PASSWORD:s3cr3t` the rest is a value.
            name = re.match(r"[A-Za-z0-9_]*", b.key).group()
            what = (
                f"{name[:40]!r} is not a valid variable name"
                if name == b.key
                else f"invalid character {b.key[len(name)]!r} in a variable name, after {name[:40]!r}"
            )
            raise EnvFileError(f"{path}:{line}: {what}", "use letters, digits and _ (not starting with a digit)")
        entries.append(Entry(b.key, b.value, line, _quote_of(b.original.string)))
    return entries


def _line_of(original) -> int:
    # dotenv's line is where the blank lines before a binding begin; count them
    # (with dotenv's own idea of a newline) to get the binding's own line.
    lead = re.match(r"\s*", original.string).group()
    return original.line + len(re.findall(r"\r\n|\n|\r", lead))


def parse(path: pathlib.Path, label: str | None = None) -> list[Entry]:
    try:
        text = path.read_text()
    except FileNotFoundError as exc:
        raise EnvFileError(f"{label or path}: file not found") from exc
    except UnicodeDecodeError as exc:
        raise EnvFileError(f"{label or path}: not UTF-8 text") from exc
    return parse_text(text, label or str(path))


def _why(original: str) -> str:
    """Why a line is malformed, judged from its shape only (no value is echoed)."""
    s = original.strip()
    if s.startswith("="):
        return "the variable name is missing before '='"
    if "=" not in s:
        return "expected KEY=VALUE (a line with no '=' and a space is not a variable)"
    value = s.split("=", 1)[1].lstrip()
    if value[:1] in ("'", '"') and value.count(value[0]) % 2:
        return f"the value's opening {value[0]} is never closed"
    return "expected KEY=VALUE"


def _quote_of(original: str) -> str:
    value = original.split("=", 1)[1].lstrip() if "=" in original else ""
    return value[0] if value[:1] in ("'", '"') else ""


def divergences(entries: list[Entry], path: str) -> list[Warning_]:
    """Constructs that Compose and python-dotenv read differently."""
    out = []
    for e in entries:
        v = e.value
        if v is None:
            out.append(
                Warning_(
                    path,
                    e.line,
                    e.key,
                    "a bare KEY: Compose takes it from the process environment, python-dotenv sets it to None",
                )
            )
            continue
        if e.quote == "'":
            if "$" in v:
                out.append(
                    Warning_(
                        path,
                        e.line,
                        e.key,
                        "single-quoted '$...': Compose keeps it literally, "
                        "python-dotenv interpolates it; use double quotes to interpolate in both",
                    )
                )
            continue
        if "$$" in v:
            out.append(Warning_(path, e.line, e.key, "'$$': Compose reads a literal '$', python-dotenv keeps '$$'"))
        if _UNBRACED.search(v.replace("$$", "")):
            out.append(
                Warning_(
                    path, e.line, e.key, "unbraced $VAR: Compose interpolates it, python-dotenv does not; write ${VAR}"
                )
            )
        if _COMPOSE_ONLY.search(v):
            out.append(
                Warning_(
                    path,
                    e.line,
                    e.key,
                    "${VAR-...}/${VAR?...}/${VAR+...}: only Compose reads "
                    "these; python-dotenv knows ${VAR} and ${VAR:-default}",
                )
            )
    return out


_REF = re.compile(r"\$\$|\$\{(\w+)(?:(:?[-?+])([^}]*))?\}|\$([A-Za-z_]\w*)")


def interpolate(value: str, lookup: dict[str, str]) -> str:
    """Compose's interpolation of an env-file value (unquoted or double-quoted)."""

    def sub(m: re.Match) -> str:
        if m.group(0) == "$$":
            return "$"
        name = m.group(1) or m.group(4)
        op, arg = m.group(2), m.group(3) or ""
        val = lookup.get(name)
        if op in (":-", "-"):
            unset = val is None or (op == ":-" and val == "")
            return arg if unset else val
        if op in (":+", "+"):
            present = val is not None and (op == "+" or val != "")
            return arg if present else ""
        return val or ""  # ${VAR}, $VAR, and ${VAR?err} when set

    return _REF.sub(sub, value)
