"""Keeping secret values out of anything printed.

A value is secret when `.env.example` marks its variable `[secret]`, or when
the variable's name looks secret (is_secret_name), or when it is the password
of a URL (`scheme://user:PASSWORD@host`: only the password is masked). `mask`
is the one function that hides them, wherever text is printed."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from dotenv import dotenv_values

from stackyard.core.redact import MASK, URL_PASSWORD

if TYPE_CHECKING:  # a type only: this module stays a leaf any printer can import
    from stackyard.config import Environment

MIN_MASKED = 4  # shorter values would eat ordinary words

# A word of the name (split at "_") that makes it secret ...
SECRET_WORDS = {"PASS", "PWD", "DSN", "SALT", "APIKEY", "PRIVATE", "CREDENTIAL", "CREDENTIALS", "SECRETS", "TOKENS"}
# ... or that a word ends with (DBPASSWORD, GITHUBTOKEN) ...
SECRET_ENDINGS = ("PASSWORD", "PASSWD", "PASSPHRASE", "SECRET", "TOKEN")
# ... or the last word only: API_KEY, SECRET_KEY, BASIC_AUTH (not KEY_PREFIX, AUTH_URL, AUTH_ENABLED).
SECRET_LAST_WORDS = {"KEY", "AUTH"}
# A name ending with one of these describes a secret without holding it:
# POSTGRES_PASSWORD_FILE, PASSWORD_MIN_LENGTH, TOKEN_TTL, SECRET_NAME, PUBLIC_KEY.
NOT_SECRET_LAST_WORDS = {
    "FILE",
    "PATH",
    "DIR",
    "LENGTH",
    "LEN",
    "MIN",
    "MAX",
    "TTL",
    "EXPIRE",
    "EXPIRES",
    "EXPIRY",
    "LIFETIME",
    "SECONDS",
    "MINUTES",
    "HOURS",
    "DAYS",
    "TIMEOUT",
    "ENABLED",
    "ALGORITHM",
    "NAME",
    "ID",
    "TYPE",
    "HEADER",
    "URL",
}
NOT_SECRET_WORDS = {"PUBLIC"}


def is_secret_name(name: str) -> bool:
    """The name rule: a secret word (PASSWORD, SECRET, TOKEN, PASSPHRASE, PASS, PWD,
    DSN, SALT, PRIVATE, CREDENTIAL(S), APIKEY) anywhere, KEY or AUTH as the last
    word; not when the last word says it is about the secret (…_FILE, …_TTL,
    …_LENGTH, …_NAME, …_URL) or PUBLIC is a word."""
    words = [w for w in name.upper().split("_") if w]
    if not words or name.upper() == "PWD":  # $PWD is the working directory
        return False
    if (len(words) > 1 and words[-1] in NOT_SECRET_LAST_WORDS) or NOT_SECRET_WORDS & set(words):
        return False
    return (
        words[-1] in SECRET_LAST_WORDS
        or bool(SECRET_WORDS & set(words))
        or any(w.endswith(SECRET_ENDINGS) for w in words)
    )


def secret_values(env: Environment, environ: Mapping[str, str] | None = None, names: Iterable[str] = ()) -> set[str]:
    """Values of secret variables (secret-looking names, and `names`: the schema's
    secrets) in the environment's env files and the process. Every layer's value
    counts, not only the one that wins: a secret the process environment overrides
    is still a secret (and may be what a container started earlier still uses)."""
    sources: list[Mapping[str, str | None]] = [dotenv_values(f) for f in env.env_files]
    sources.append(os.environ if environ is None else environ)
    schema = set(names)
    return {
        v
        for values in sources
        for k, v in values.items()
        if v and len(v) >= MIN_MASKED and (k in schema or is_secret_name(k))
    }


def rendered_secrets(services: Mapping[str, Mapping]) -> set[str]:
    """Values of secret-named variables in the services of a rendered compose
    config: what Compose interpolated, wherever it came from (a file, the
    process, the throwaway values of a dry run)."""
    return {
        str(v)
        for svc in services.values()
        for k, v in (svc.get("environment") or {}).items()
        if v and len(str(v)) >= MIN_MASKED and is_secret_name(k)
    }


def mask_text(text: str, values: Iterable[str] = (), with_length: bool = False) -> str:
    """`text` with every URL password and every one of `values` replaced by ****
    (`**** (N chars)` with_length), in one pass: a replacement is never searched
    again, and the longest value goes first, so a secret holding another is masked whole."""

    def hidden(value: str) -> str:
        return f"{MASK} ({len(value)} chars)" if with_length else MASK

    values = sorted({v for v in values if len(v) >= MIN_MASKED}, key=len, reverse=True)
    pattern = re.compile("|".join([URL_PASSWORD.pattern, *(re.escape(v) for v in values)]))

    def sub(m: re.Match) -> str:
        if m.group("password") is not None:
            return m.group("head") + hidden(m.group("password"))
        return hidden(m.group())

    return pattern.sub(sub, text)


def mask(
    text: str,
    env: Environment,
    environ: Mapping[str, str] | None = None,
    extra: Iterable[str] = (),
    names: Iterable[str] = (),
    with_length: bool = False,
) -> str:
    """`text` with every secret of the environment (and `extra` values, and the
    variables in `names`) and every URL password masked."""
    return mask_text(text, secret_values(env, environ, names) | set(extra), with_length)
