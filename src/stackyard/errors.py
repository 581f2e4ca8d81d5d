"""The error types, and the one place that turns them into a line and an exit code."""

from __future__ import annotations

import functools
import inspect
import sys
import traceback
from collections.abc import Callable, Sequence
from typing import TypeVar

from invoke.exceptions import Exit

from stackyard.core.redact import url_passwords

F = TypeVar("F", bound=Callable)


class StackyardError(Exception):
    """An error a user can act on: what went wrong, where, and what to do.

    `str()` is the single line printed to the user; never put a secret in it.
    """

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message}: {self.hint}" if self.hint else self.message


class ConfigError(StackyardError):
    """[tool.stackyard], an environment or a compose file is wrong."""


class CommandError(StackyardError):
    """A command exited non-zero. Carries argv, exit code and stderr."""

    def __init__(self, argv: Sequence[str], returncode: int, stderr: str = "", stdout: str = ""):
        self.argv = tuple(argv)
        self.returncode = returncode
        self.stderr = stderr
        self.stdout = stdout
        last = last_line(stderr) or last_line(stdout)
        name = " ".join(self.argv[:3])
        super().__init__(f"`{name} ...` exited {returncode}" + (f": {last}" if last else ""))
        self.exit_code = returncode if 0 < returncode < 256 else 1


class CommandTimeout(StackyardError):
    """A command did not finish within its deadline; it was stopped."""

    def __init__(self, argv: Sequence[str], seconds: float):
        self.argv = tuple(argv)
        self.seconds = seconds
        super().__init__(
            f"`{' '.join(self.argv[:3])} ...` did not finish within {seconds:g} s and was stopped",
            "is the engine (or the host it reaches) responding? `inv doctor` checks it",
        )


class Interrupted(StackyardError):
    """Ctrl-C: no traceback, exit 130 as a shell would."""

    exit_code = 130

    def __init__(self) -> None:
        super().__init__("interrupted")


def last_line(text: str) -> str:
    lines = [ln.strip() for ln in (text or "").splitlines() if ln.strip()]
    return lines[-1] if lines else ""


def report(exc: BaseException, verbose: bool = False, stream=None) -> int:
    """Print one line for `exc` (a traceback too if verbose); return the exit code."""
    stream = stream or sys.stderr
    if verbose:
        traceback.print_exception(exc, file=stream)
    if isinstance(exc, KeyboardInterrupt):
        exc = Interrupted()
    if isinstance(exc, StackyardError):
        if not isinstance(exc, Interrupted):
            print(f"stackyard: error: {url_passwords(str(exc))}", file=stream)
        return exc.exit_code
    what = url_passwords(f"{exc.__class__.__name__}: {exc}")
    print(f"stackyard: internal error: {what} (rerun with --verbose)", file=stream)
    return 1


def adapter(func: F) -> F:
    """Wrap an Invoke task body: it gains a `verbose` keyword (the task's
    --verbose); StackyardError and Ctrl-C become one line and an invoke.Exit
    with the right code; the traceback only when verbose."""

    @functools.wraps(func)
    def wrapper(c, *args, verbose: bool = False, **kwargs):
        try:
            return func(c, *args, **kwargs)
        except Exit:
            raise
        except (Exception, KeyboardInterrupt) as exc:
            raise Exit(code=report(exc, verbose=verbose)) from None

    # Invoke reads a task's flags from its signature: the body's, plus --verbose.
    sig = inspect.signature(func)
    flag = inspect.Parameter("verbose", inspect.Parameter.KEYWORD_ONLY, default=False)
    wrapper.__signature__ = sig.replace(parameters=[*sig.parameters.values(), flag])  # type: ignore[attr-defined]
    return wrapper  # type: ignore[return-value]
