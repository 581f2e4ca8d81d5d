"""Reading .env files: entries with their line numbers, malformed lines as
errors that never show the value, and warnings for what Compose and
python-dotenv read differently.

python-dotenv's own lexer finds the lines (it keeps line numbers and marks a
malformed line instead of skipping it as `dotenv_values` does silently). A
malformed line ends at its newline: `scan` reports it and reads on, so one bad
line hides nothing after it."""

from __future__ import annotations

import io
import pathlib
import re
from dataclasses import dataclass

from dotenv.parser import parse_stream

from stackyard.errors import ConfigError, StackyardError

KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\Z")  # \Z: "$" would accept a trailing newline
# ${VAR-d} ${VAR?e} ${VAR:?e} ${VAR+a} ${VAR:+a}: Compose only; python-dotenv knows ${VAR} and ${VAR:-d}.
_COMPOSE_ONLY = re.compile(r"\$\{\w+(-|\?|:\?|\+|:\+)")
_UNBRACED = re.compile(r"(?<!\$)\$[A-Za-z_]\w*")


class EnvFileError(ConfigError):
    """A line that is not KEY=VALUE (`path:line: what`), or a file that cannot
    be read (`path: what`, line 0); the value is never shown."""

    def __init__(self, path: str, line: int, what: str, hint: str | None = None):
        super().__init__(f"{path}:{line}: {what}" if line else f"{path}: {what}", hint)
        self.path = path
        self.line = line
        self.what = what


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


def scan_text(text: str, path: str = "<env>") -> tuple[list[Entry], list[EnvFileError]]:
    """Entries of an env file's text, in order, and an error for each malformed
    line (skipped: the lines after it are still read)."""
    entries: list[Entry] = []
    errors: list[EnvFileError] = []
    after_cr = False
    for b in parse_stream(io.StringIO(text)):
        line = _line_of(b.original, after_cr)
        after_cr = b.original.string.endswith("\r")
        if b.error:
            errors.append(EnvFileError(path, line, "not a KEY=VALUE line", _why(b.original.string)))
            continue
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
            errors.append(EnvFileError(path, line, what, "use letters, digits and _ (not starting with a digit)"))
            continue
        entries.append(Entry(b.key, b.value, line, _quote_of(b.original.string)))
    return entries, errors


def parse_text(text: str, path: str = "<env>") -> list[Entry]:
    """Entries of an env file's text, in order; EnvFileError on the first malformed line."""
    entries, errors = scan_text(text, path)
    if errors:
        raise errors[0]
    return entries


def _line_of(original, after_cr: bool = False) -> int:
    # dotenv's line is where the blank lines before a binding begin; count them
    # (with dotenv's own idea of a newline) to get the binding's own line. A "\r\n"
    # that dotenv split between two bindings (after a malformed line) is one newline.
    lead = re.match(r"\s*", original.string).group()
    newlines = len(re.findall(r"\r\n|\n|\r", lead))
    if after_cr and lead.startswith("\n"):
        newlines -= 1
    return original.line + newlines


def _read(path: pathlib.Path, label: str) -> str:
    try:
        return path.read_text()
    except FileNotFoundError as exc:
        raise EnvFileError(label, 0, "file not found") from exc
    except UnicodeDecodeError as exc:
        raise EnvFileError(label, 0, "not UTF-8 text") from exc


def scan(path: pathlib.Path, label: str | None = None) -> tuple[list[Entry], list[EnvFileError]]:
    """scan_text of a file; EnvFileError when the file itself cannot be read."""
    label = label or str(path)
    return scan_text(_read(path, label), label)


def parse(path: pathlib.Path, label: str | None = None) -> list[Entry]:
    label = label or str(path)
    return parse_text(_read(path, label), label)


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


_PLAIN = re.compile(r"[A-Za-z0-9_@%+=:,./?&~-]*\Z")


def format_line(key: str, value: str) -> str:
    """A `KEY=value` line that python-dotenv, Compose and IDEs' env-file readers
    read back as exactly `value`: bare when nothing in it is special, else in
    single quotes (no interpolation), else in double quotes with escapes."""
    if _PLAIN.match(value):
        return f"{key}={value}"
    if "${" in value:  # python-dotenv expands ${...} inside any quotes, single ones too: no way to write it
        raise StackyardError(
            f"cannot write {key} to an env file: its value holds ${{, which python-dotenv expands in any quotes",
            "change the value",
        )
    if "'" not in value and "\\" not in value:  # python-dotenv reads \' and \\ as escapes even in single quotes
        return f"{key}='{value}'"
    # Double quotes: a backslash and a quote are escaped; a "$" would be interpolated, so keep it out.
    if "$" in value:
        raise StackyardError(
            f"cannot write {key} to an env file: its value holds a quote or a backslash and a $, "
            "which env-file readers read differently",
            "change the value",
        )
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'{key}="{escaped}"'
