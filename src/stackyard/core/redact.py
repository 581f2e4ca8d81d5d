"""Hiding the password of a URL in any text, before anything knows the project:
the last line of defence for error messages (errors.report). env/masking.py
hides every other secret."""

from __future__ import annotations

import re

MASK = "****"

# scheme://user:password@ : the password runs to the last "@" before a space or
# quote, so a password holding "@" or "/" is masked whole (at worst a bit more is).
URL_PASSWORD = re.compile(r"(?P<head>\b[A-Za-z][A-Za-z0-9+.\-]*://[^\s:/@'\"]*:)(?P<password>[^\s'\"]+)(?=@)")


def url_passwords(text: str) -> str:
    """`text` with the password of every `scheme://user:password@host` replaced by ****."""
    return URL_PASSWORD.sub(lambda m: m.group("head") + MASK, text)
