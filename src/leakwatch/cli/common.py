"""What every command shares: the typer app, exit codes, one-line errors, common options."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from contextlib import suppress
from pathlib import Path
from typing import Annotated, Any, NoReturn, TextIO, TypeVar

import typer
from rich.console import Console
from typer._click.globals import get_current_context
from typer.core import TyperCommand, TyperGroup

from leakwatch.config import Config
from leakwatch.detect.packs import Pack, load_packs
from leakwatch.detect.redact import key_path
from leakwatch.detect.selftest import check_examples
from leakwatch.errors import PackError, UsageError
from leakwatch.ignore import IgnoreRules, discovered, rules_in_force
from leakwatch.output_file import STDOUT
from leakwatch.safe_text import visible
from leakwatch.store import location_of

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE, EXIT_INCOMPLETE, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE: what a shell reports for a writer whose reader left

# The order `leakwatch --help` lists the commands in: the day's work first.
COMMAND_ORDER = ("scan", "report", "export", "runs", "ignore", "forget", "config", "patterns")


class _CommandsInOrder(TyperGroup):
    def list_commands(self, ctx: typer.Context) -> list[str]:  # type: ignore[override]
        names = super().list_commands(ctx)
        rank = {name: i for i, name in enumerate(COMMAND_ORDER)}
        return sorted(names, key=lambda name: rank.get(name, len(rank)))


# `[default: 2; x>=0]`, `[1<=x<=1000]`: click's notation for a range, words for a programmer;
# each option's help says its bounds in words where they matter.
# Type names too (`<list[str]>`, `<int range>`): the metavar says what to give.
_RANGE = re.compile(
    r";? ?-?[0-9.]*<?=?x[<>]=?-?[0-9.]+|<(?:int|float) range>|<(?:list\[\w+\]|str|int|float)>"
)


_LIST_OF_CHOICES = re.compile(r"<list\[([^\]]+)\]>")


class PanelledCommand(TyperCommand):
    """A command whose help lists its options in panels (input, crawl, output, store...),
    in the order the options are declared, without click's type names."""

    def format_options(self, ctx: typer.Context, formatter: Any) -> None:  # type: ignore[override]
        panels: dict[str, list[tuple[str, str]]] = {}
        for param in self.get_params(ctx):
            record = param.get_help_record(ctx)
            if record is None:
                continue
            name, text = (_RANGE.sub("", part).replace("[]", "").strip() for part in record)
            name = _LIST_OF_CHOICES.sub(r"<\1>", name)  # <list[a|b]>: <a|b>
            panel = "Arguments" if param.param_type_name == "argument" else None
            panel = panel or self.panels.get(str(param.name), "Options")
            panels.setdefault(panel, []).append((name, text.replace("  ", " ")))
        for panel, records in panels.items():
            with formatter.section(panel):
                formatter.write_dl(records)

    def collect_usage_pieces(self, ctx: typer.Context) -> list[str]:  # type: ignore[override]
        # `{ENTRY}...`: typer's braces around a required argument, noise in a usage line.
        return [p.replace("{", "").replace("}", "") for p in super().collect_usage_pieces(ctx)]

    @property
    def panels(self) -> dict[str, str]:
        return getattr(self.callback, HELP_PANELS, {})


HELP_PANELS = "_leakwatch_help_panels"
CommandFunction = TypeVar("CommandFunction", bound=Callable[..., Any])


def command(
    panels: dict[str, str] | None = None, **settings: Any
) -> Callable[[CommandFunction], CommandFunction]:
    """`@command(panels={option: panel})` registers a command on `app`; its help lists the
    options by panel, the rest under "Options"."""
    register = app.command(cls=PanelledCommand, **settings)

    def decorate(function: CommandFunction) -> CommandFunction:
        setattr(function, HELP_PANELS, panels or {})
        register(function)
        return function

    return decorate


app = typer.Typer(
    name="leakwatch",
    cls=_CommandsInOrder,
    help="Find South Korean personal data exposed or traded on web pages and files.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)

PatternsOption = Annotated[
    list[Path] | None,
    typer.Option(
        "--patterns",
        metavar="DIR",
        help="Extra pattern packs: a folder of .toml files or one file (repeatable).",
    ),
]

DbOption = Annotated[
    str | None,
    typer.Option(
        "--db",
        metavar="PATH|URL",
        envvar="LEAKWATCH_DB",
        show_envvar=True,
        help="The findings store: a SQLite file, or a postgresql://user@host/dbname URL "
        "(default: leakwatch.db in leakwatch's data folder).",
    ),
]


IgnoreOption = Annotated[
    list[Path] | None,
    typer.Option(
        "--ignore",
        metavar="FILE",
        help="Leave out what this ignore file lists (repeatable), instead of "
        "./.leakwatchignore and the user's leakwatchignore.",
    ),
]

NoIgnoreOption = Annotated[
    bool,
    typer.Option("--no-ignore", help="Apply no ignore file: show everything."),
]


def ignore_rules(
    files: Sequence[Path] | None, off: bool, packs: Sequence[Pack] | None, no_color: bool = False
) -> IgnoreRules:
    """The ignore rules in force, or one line and exit 2 for a bad file or line. `packs`
    None: any pattern id is taken (a report does not know which packs the scans used)."""
    known = None if packs is None else {p.id for pack in packs for p in pack.patterns}
    try:
        return rules_in_force(files, off, known, os.environ, Path.cwd())
    except UsageError as exc:
        fail(str(exc), EXIT_USAGE, no_color)


def stderr_console(no_color: bool = False) -> Console:
    return Console(stderr=True, no_color=no_color or None, highlight=False)


def output_console(out: TextIO, target: str, no_color: bool) -> Console:
    """A console for a table written to `out`: the terminal's width on stdout, 160 columns
    and no colour codes in a file (`target` is -o's value)."""
    to_file = target != STDOUT
    return Console(
        file=out,
        no_color=no_color or None,
        highlight=False,
        force_terminal=False if to_file else None,
        width=160 if to_file else None,
    )


def fail(message: str, code: int, no_color: bool = False) -> NoReturn:
    """One line on stderr (control characters escaped: it may quote a name or a server),
    then exit with `code`."""
    with suppress(OSError):  # no stderr to write to: the exit code still tells
        stderr_console(no_color).print(
            f"leakwatch: error: {visible(message)}", markup=False, soft_wrap=True
        )
    raise typer.Exit(code)


def packs_or_fail(extra: Sequence[Path] | None, *, tested: bool = False) -> tuple[Pack, ...]:
    """The packs, or one line and exit 2. `tested`: also run every pattern's own examples
    and refuse a pack that fails one (a scan must not run on rules that miss their own
    cases; `leakwatch patterns test` lists them all)."""
    try:
        packs = load_packs(list(extra or ()))
        if tested:
            check_examples(packs)
    except PackError as exc:
        fail(f"pattern pack {exc}", EXIT_USAGE)
    return packs


_SIZE_UNITS = {"": 1, "b": 1, "k": 10**3, "kb": 10**3, "m": 10**6, "mb": 10**6, "g": 10**9,
               "gb": 10**9, "kib": 2**10, "mib": 2**20, "gib": 2**30}  # fmt: skip


def parse_size(text: str) -> int:
    """`10MB`, `500k`, `2MiB`, `1000000` -> bytes (decimal units unless `iB`)."""
    match = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([a-zA-Z]*)\s*", text)
    unit = match.group(2).lower() if match else ""
    if match is None or unit not in _SIZE_UNITS:
        raise ValueError(f"{text!r} is not a size (e.g. 10MB, 500kB, 2MiB)")
    size = int(float(match.group(1)) * _SIZE_UNITS[unit])
    if size < 1:
        raise ValueError(f"{text!r} is less than one byte")
    return size


def leakwatch_files(
    db: str | None, ignore_files: Sequence[str] = (), *, with_ignore_files: bool = True
) -> dict[str, Path | str]:
    """The files leakwatch keeps (the store, its journal, the key, the config file, the
    ignore files in force or found), which no -o may replace: what each is, by path."""
    store = location_of(db, os.environ)
    key = key_path(os.environ)
    kept: dict[str, Path | str] = {f"the fingerprint key ({key})": key}
    if isinstance(store, Path):  # a PostgreSQL store has no file here
        kept[f"the findings store ({store})"] = store
        for side in ("-wal", "-shm", "-journal"):
            kept[f"the findings store's journal ({store}{side})"] = f"{store}{side}"
    context = get_current_context(silent=True)
    config = context.find_root().obj if context is not None else None
    if isinstance(config, Config) and config.path is not None:
        kept[f"the config file ({config.path})"] = config.path
    named = [Path(f) for f in ignore_files]
    if isinstance(config, Config):
        named += config.ignore_files
    if not with_ignore_files:
        return kept
    for ignore_file in (*discovered(os.environ, Path.cwd()), *named):
        kept[f"an ignore file ({ignore_file})"] = ignore_file
    return kept
