"""Command line: typer only. Each command lives in its own module and registers on `app`;
`main` turns every error into one line and an exit code, never a traceback.

Exit codes: 0 completed; 1 findings at or above --fail-on; 2 usage, configuration or pack
error; 3 could not complete; 130 interrupted; 141 the reader of stdout went away (`| head`),
as for a program that SIGPIPE stopped.
"""

from __future__ import annotations

import os
import re
import sys
import traceback
from collections.abc import Sequence
from contextlib import suppress
from typing import Annotated, NoReturn

import typer

from leakwatch import __version__, collector
from leakwatch.cli import configuration, correct, patterns, report, scan  # noqa: F401  (they register their commands)
from leakwatch.cli.common import (
    EXIT_BROKEN_PIPE,
    EXIT_INCOMPLETE,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    app,
)
from leakwatch.errors import LeakwatchError, UsageError
from leakwatch.output_file import OutputClosed
from leakwatch.safe_text import visible

__all__ = ["EXIT_INCOMPLETE", "app", "main"]


def _version(value: bool) -> None:
    if value:
        typer.echo(f"leakwatch {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    ctx: typer.Context,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
    config: Annotated[
        str | None,
        typer.Option(
            "--config",
            metavar="FILE",
            help="The config file (leakwatch.toml) to use; may also follow the command. "
            "Default: $LEAKWATCH_CONFIG, ./leakwatch.toml, then the user config folder's.",
        ),
    ] = None,
) -> None:
    """leakwatch: monitor foreign sites for South Korean personal data."""
    configuration.apply(ctx, config, os.environ)


def main(argv: Sequence[str] | None = None) -> NoReturn:
    """Entry point: run the app; usage errors become one line and exit 2, never a traceback."""
    _fill_closed_descriptors()
    command = typer.main.get_command(app)
    collector.settle()  # modules loaded: what follows is the command's own work
    args = _config_first(list(sys.argv[1:] if argv is None else argv))
    try:
        code = command.main(args=args, prog_name="leakwatch", standalone_mode=False)
    except typer.Exit as exc:
        code = exc.exit_code
    except (KeyboardInterrupt, typer.Abort):
        code = EXIT_INTERRUPTED
    except (BrokenPipeError, OutputClosed):
        _silence_stdout()
        code = EXIT_BROKEN_PIPE
    except UsageError as exc:
        _print_error(str(exc))
        code = EXIT_USAGE
    except LeakwatchError as exc:
        _print_error(str(exc))
        code = EXIT_INCOMPLETE
    except Exception as exc:
        # typer's (vendored) click reports bad options with exceptions that carry their own
        # message and exit code; print them as one line instead of a usage box.
        if not hasattr(exc, "format_message"):
            code = _internal_error(exc)
            sys.exit(code)
        context = getattr(exc, "ctx", None)
        hint = f" (see {context.command_path} --help)" if context is not None else ""
        if type(exc).__name__ == "NoArgsIsHelpError" and context is not None:
            # No command given (`leakwatch`, `leakwatch patterns`): a usage error, so the
            # help goes to stderr and the exit code is 2, as a script calling it wrongly
            # expects; `--help` prints it to stdout and exits 0.
            with suppress(OSError, AttributeError):
                print(context.get_help(), file=sys.stderr)
            code = EXIT_USAGE
        else:
            # typer validates choices through pydantic, whose message starts "Value error, ":
            # words for a programmer, not for the person who typed the option.
            message = exc.format_message().replace("Value error, ", "")
            _print_error(f"{message}{hint}")
            code = getattr(exc, "exit_code", EXIT_USAGE) or EXIT_USAGE
    sys.exit(code if isinstance(code, int) else EXIT_OK)


def _config_first(args: list[str]) -> list[str]:
    """`--config FILE` may follow the command (`leakwatch scan --config f.toml ...`), as
    users write it: it is moved before the command, where the root reads it."""
    for i, arg in enumerate(args):
        if arg == "--":
            break
        if arg == "--config" and i + 1 < len(args):
            return ["--config", args[i + 1], *args[:i], *args[i + 2 :]]
        if arg.startswith("--config="):
            return [arg, *args[:i], *args[i + 1 :]]
    return args


def _print_error(message: str) -> None:
    with suppress(OSError, AttributeError):  # stderr closed or gone: the exit code tells
        print(f"leakwatch: error: {visible(message)}", file=sys.stderr)


def _internal_error(exc: BaseException) -> int:
    """A bug, not a user mistake: one line (the traceback with LEAKWATCH_DEBUG=1), exit 3."""
    if os.environ.get("LEAKWATCH_DEBUG"):  # opted in: may show raw input
        traceback.print_exception(exc)
    # The message may quote input: its digit runs are hidden like everything else printed.
    detail = re.sub(r"[0-9]{4,}", lambda m: "*" * len(m.group()), str(exc))
    _print_error(
        f"internal error: {type(exc).__name__}: {detail} "
        "(a bug in leakwatch; run again with LEAKWATCH_DEBUG=1 for details and report it)"
    )
    return EXIT_INCOMPLETE


def _silence_stdout() -> None:
    """After the reader of our stdout went away, stop Python complaining at exit (it would
    flush what is still buffered into the broken pipe)."""
    if sys.stdout is None:
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def _fill_closed_descriptors() -> None:
    """Started with stdin, stdout or stderr closed (`>&-`), a process would hand that number
    to the next file it opens, the store say, and a stray print would land in it. Point a
    closed one at /dev/null; Python has already set sys.stdout to None for it, which the
    output reports as an error."""
    for descriptor in (0, 1, 2):
        try:
            os.fstat(descriptor)
        except OSError:
            filler = os.open(os.devnull, os.O_RDWR)
            if filler != descriptor:
                os.dup2(filler, descriptor)
                os.close(filler)
