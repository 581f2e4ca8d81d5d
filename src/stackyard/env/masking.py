"""Keeping secret values out of anything printed."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping

from dotenv import dotenv_values

from stackyard.config import Environment

SECRET_NAME = re.compile(r"(PASSWORD|SECRET|TOKEN|PASSPHRASE|PRIVATE|(^|_)KEY$|API_KEY|CREDENTIAL)", re.IGNORECASE)
MASK = "****"


def is_secret_name(name: str) -> bool:
    return bool(SECRET_NAME.search(name))


def secret_values(env: Environment, environ: dict[str, str] | None = None) -> set[str]:
    """Values of secret-named variables in the environment's env files and the process."""

    values: dict[str, str | None] = {}
    for f in env.env_files:
        values.update(dotenv_values(f))
    values.update(os.environ if environ is None else environ)
    return {v for k, v in values.items() if v and len(v) >= 4 and is_secret_name(k)}


def rendered_secrets(services: Mapping[str, Mapping]) -> set[str]:
    """Values of secret-named variables in the services of a rendered compose
    config: what Compose interpolated, wherever it came from (a file, the
    process, the throwaway values of a dry run)."""
    return {
        str(v)
        for svc in services.values()
        for k, v in (svc.get("environment") or {}).items()
        if v and len(str(v)) >= 4 and is_secret_name(k)
    }


def mask(text: str, env: Environment, environ: dict[str, str] | None = None, extra: Iterable[str] = ()) -> str:
    """`text` with every secret value of the environment (and `extra` ones) replaced by ****."""
    # Longest first, so that a secret containing another is masked whole.
    for value in sorted(secret_values(env, environ) | set(extra), key=len, reverse=True):
        text = text.replace(value, MASK)
    return text
