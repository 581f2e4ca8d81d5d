"""Invoke glue for the tasks: the task classes and decorator every stackyard task
uses (`--verbose`, one-line errors, `-e` on every task, `-h` kept for help), and
the two fixes to Invoke's parser they need, installed once on import:

- a core flag (`--help`, `-h`, `--dry`) is read as one even where a task still
  waits for a positional argument (pyinvoke/invoke#982, #1084), so every task
  answers `inv TASK --help`;
- a positional argument may be left out (`inv rollback [RELEASE]`)."""

from __future__ import annotations

from invoke import Task, task
from invoke.parser import Argument, ParseError, ParseMachine, Parser, ParserContext

from stackyard.errors import adapter

VERBOSE_HELP = "show the traceback of an error"


class StackyardTask(Task):
    """A task whose automatic short flags never take `-h`: it stays -h/--help
    (`inv hybrid -h` is help; its --host gets `-o`)."""

    def arg_opts(self, name, default, taken_names):
        return super().arg_opts(name, default, {*taken_names, "h"})


def stackyard_task(*, help: dict[str, str] | None = None, **options):
    """@task for every stackyard task: Invoke's options, plus a --verbose flag (with
    its help) and the one-line error handling of errors.adapter."""
    options.setdefault("klass", StackyardTask)

    def decorate(body):
        return task(help={**(help or {}), "verbose": VERBOSE_HELP}, **options)(adapter(body))

    return decorate


def _invoke_reads_help_first() -> bool:
    """Whether this Invoke reads `TASK --help` as help when TASK still waits for a
    positional argument (a fixed Invoke needs no shim)."""
    core = ParserContext(args=[Argument(names=("help", "h"), optional=True)])
    needs_one = ParserContext(name="t", args=[Argument(names=("x",), positional=True)])
    try:
        found = Parser(initial=core, contexts=[needs_one]).parse_argv(["t", "--help"])
    except ParseError:
        return False
    return found[0].args["help"].value == "t"


def _read_core_flags_first(handle=ParseMachine.handle, complete_context=ParseMachine.complete_context):
    """Invoke (3.0.3, and master) gives a word to a task's missing positional argument
    before it looks whether the word is a core flag: `inv exec --help` ran exec on a
    service named "--help", `inv env.diff --help` failed on a missing argument
    (pyinvoke/invoke#982, unmerged fix #1078), and `inv exec --dry api` was no dry run
    (#1084). Here a core flag is read as one wherever it comes, as Invoke already does
    once the positionals are filled; and after `--help` a missing positional is no
    error, since only the task's help is printed. Installed where Invoke has the bug."""

    def handle_core_flag_first(self, token):
        ctx = self.context
        if (
            ctx is not None
            and ctx.missing_positional_args
            and self.initial is not None
            and token in self.initial.flags
            and token not in ctx.flags
            and self.current_state != "unknown"
            and not self.waiting_for_flag_value
        ):
            flag = self.initial.flags[token]
            if flag.name == "help":
                flag.value = ctx.name  # what Invoke does with a task's --help: help for that task
            else:
                self.switch_to_flag(token)
            return
        handle(self, token)

    def complete_context_unless_help(self):
        asked = self.initial.args.get("help") if self.initial is not None else None
        if self.context is not None and asked is not None and asked.value == self.context.name:
            if self.context not in self.result:
                self.result.append(self.context)
            return
        complete_context(self)

    ParseMachine.handle = handle_core_flag_first
    ParseMachine.complete_context = complete_context_unless_help


class DeployTask(StackyardTask):
    """A deploy task's flags (with auto_shortflags=False): `-e` for --env like every
    task, and no other short flag, so that none is taken by chance. Its positional
    argument may be left out (`inv rollback [RELEASE]`): then the task gets ""."""

    def arg_opts(self, name, default, taken_names):
        opts = super().arg_opts(name, default, taken_names)
        if name == "env":
            opts["names"].append("e")
        return opts

    def get_arguments(self, *args, **kwargs):
        found = super().get_arguments(*args, **kwargs)
        for arg in found:
            arg.may_be_left_out = arg.positional
        return found


def _let_positionals_be_left_out(complete_context=ParseMachine.complete_context):
    """Invoke (3.0) has no optional positional argument: it gives the next word to a
    positional while the positional's value is None (its default must be None), and
    fails once the task's words are over if one is still None. Here, before that
    check, a positional marked `may_be_left_out` and still None becomes ""."""

    def complete(self):
        for arg in self.context.positional_args if self.context else ():
            if getattr(arg, "may_be_left_out", False) and arg.value is None:
                arg.value = ""
        complete_context(self)

    ParseMachine.complete_context = complete


def install() -> None:
    """Fix Invoke's parser where it needs fixing (once: both fixes wrap its methods)."""
    if getattr(ParseMachine, "_stackyard_fixed", False):
        return
    if not _invoke_reads_help_first():
        _read_core_flags_first(ParseMachine.handle, ParseMachine.complete_context)
    _let_positionals_be_left_out(ParseMachine.complete_context)  # wraps the fix above, if installed
    ParseMachine._stackyard_fixed = True


install()
