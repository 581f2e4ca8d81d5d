"""errors: one line and an exit code; a traceback only when verbose."""

from __future__ import annotations

import inspect
import io

import pytest
from invoke.exceptions import Exit

from stackyard.errors import CommandError, ConfigError, Interrupted, StackyardError, adapter, last_line, report


def raised(exc: BaseException) -> BaseException:
    """exc with a real traceback, as an except clause would see it."""
    try:
        raise exc
    except BaseException as caught:
        return caught


def reported(exc: BaseException, verbose: bool = False) -> tuple[int, str]:
    out = io.StringIO()
    code = report(raised(exc), verbose=verbose, stream=out)
    return code, out.getvalue()


def test_stackyard_error_is_one_line_with_its_hint():
    code, text = reported(StackyardError("unknown service 'apii'", "services: api, db"))
    assert code == 1
    assert text == "stackyard: error: unknown service 'apii': services: api, db\n"


def test_config_error_without_hint():
    assert reported(ConfigError("pyproject.toml: bad")) == (1, "stackyard: error: pyproject.toml: bad\n")


def test_command_error_exit_code_and_line():
    err = CommandError(("docker", "compose", "up", "--wait"), 17, "pulling\nimage not found\n")
    assert str(err) == "`docker compose up ...` exited 17: image not found"
    assert reported(err) == (17, "stackyard: error: `docker compose up ...` exited 17: image not found\n")


@pytest.mark.parametrize(("returncode", "exit_code"), [(1, 1), (2, 2), (255, 255), (256, 1), (-9, 1), (0, 1)])
def test_command_error_exit_code_is_a_valid_shell_code(returncode, exit_code):
    assert CommandError(("docker",), returncode).exit_code == exit_code


def test_command_error_falls_back_to_stdout_for_its_line():
    assert str(CommandError(("docker", "compose", "ps"), 1, "", "out line\n")).endswith("exited 1: out line")
    assert str(CommandError(("docker", "compose", "ps"), 1)) == "`docker compose ps ...` exited 1"


def test_keyboard_interrupt_exits_130_silently():
    assert reported(KeyboardInterrupt()) == (130, "")
    assert reported(Interrupted()) == (130, "")


def test_keyboard_interrupt_verbose_prints_only_the_traceback():
    code, text = reported(KeyboardInterrupt(), verbose=True)
    assert code == 130
    assert text.startswith("Traceback")
    assert "stackyard:" not in text


def test_traceback_only_when_verbose():
    code, text = reported(StackyardError("boom"))
    assert "Traceback" not in text and text.count("\n") == 1
    code_v, text_v = reported(StackyardError("boom"), verbose=True)
    assert code == code_v == 1
    assert text_v.startswith("Traceback")
    assert text_v.endswith("stackyard: error: boom\n")


def test_unexpected_exception_is_an_internal_error():
    assert reported(ValueError("bad value")) == (
        1,
        "stackyard: internal error: ValueError: bad value (rerun with --verbose)\n",
    )


def test_last_line():
    assert last_line("a\n  b  \n\n") == "b"
    assert last_line("") == "" and last_line(None) == ""  # type: ignore[arg-type]


# --- adapter: what the Invoke tasks are wrapped in ---


def test_adapter_passes_the_result_through():
    assert adapter(lambda c, x=1: x * 2)(None, x=21) == 42


def test_adapter_adds_a_verbose_keyword_to_the_signature_invoke_reads():
    def body(c, service, env=None):
        return (service, env)

    wrapped = adapter(body)
    assert list(inspect.signature(wrapped).parameters) == ["c", "service", "env", "verbose"]
    assert inspect.signature(wrapped).parameters["verbose"].default is False
    assert wrapped(None, "api", env="prod", verbose=True) == ("api", "prod")  # the body never sees it


@pytest.mark.parametrize(
    ("exc", "code", "line"),
    [
        (StackyardError("nope"), 1, "stackyard: error: nope\n"),
        (
            CommandError(("docker", "compose", "up"), 3, "bad\n"),
            3,
            "stackyard: error: `docker compose up ...` exited 3: bad\n",
        ),
        (KeyboardInterrupt(), 130, ""),
        (RuntimeError("bug"), 1, "stackyard: internal error: RuntimeError: bug (rerun with --verbose)\n"),
    ],
)
def test_adapter_turns_errors_into_one_line_and_an_exit(capsys, exc, code, line):
    def body(c):
        raise exc

    with pytest.raises(Exit) as info:
        adapter(body)(None)
    assert info.value.code == code
    assert capsys.readouterr().err == line


def test_adapter_verbose_adds_the_traceback(capsys):
    def body(c):
        raise StackyardError("nope")

    with pytest.raises(Exit):
        adapter(body)(None, verbose=True)
    err = capsys.readouterr().err
    assert "Traceback" in err and err.endswith("stackyard: error: nope\n")


def test_adapter_lets_an_exit_through(capsys):
    def body(c):
        raise Exit(code=4)

    with pytest.raises(Exit) as info:
        adapter(body)(None)
    assert info.value.code == 4
    assert capsys.readouterr().err == ""


def test_report_never_prints_the_password_of_a_url():
    out = io.StringIO()
    report(StackyardError("cannot reach postgresql://app:s3cr3t-pw@db:5432/app"), stream=out)
    assert out.getvalue() == "stackyard: error: cannot reach postgresql://app:****@db:5432/app\n"
    out = io.StringIO()
    report(ValueError("redis://:hunter2-long@cache:6379/0 refused"), stream=out)
    assert "hunter2" not in out.getvalue() and "redis://:****@cache:6379/0" in out.getvalue()
