"""The config file on the command line, and `leakwatch config`.

leakwatch.toml's settings become the options' defaults (the context's `default_map`), each
checked first against its option as if typed; the command line and the options' environment
variables override them. `leakwatch config` shows every setting in force and where it came
from.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import typer
from typer import _click

from leakwatch.cli.common import EXIT_USAGE, command, fail, parse_size
from leakwatch.config import SHARED_TABLES, Config, ConfigError
from leakwatch.config import load as load_config
from leakwatch.ignore import discovered
from leakwatch.models import Severity
from leakwatch.report import trends
from leakwatch.store import location_of, shown

# The commands a config table can set, and what must be typed each time: --reveal writes
# raw identifiers, and leakwatch does that only when the user asks on the command line.
CONFIGURABLE = ("scan", "report", "export", "runs")
COMMAND_LINE_ONLY = frozenset({"reveal", "resume", "help"})


def _key(option: Any) -> str:
    """An option's name in the config file: its long name (`max-pages`)."""
    long = [o for o in option.opts if o.startswith("--")]
    return long[0][2:] if long else str(option.name)


def _options(command: Any) -> dict[str, Any]:
    return {
        _key(p): p
        for p in command.params
        if p.param_type_name == "option" and p.name not in COMMAND_LINE_ONLY
    }


def default_map(config: Config, root: Any) -> dict[str, dict[str, Any]]:
    """Each command's defaults from `config`, checked; ConfigError naming file and key."""
    where = config.name
    defaults: dict[str, dict[str, Any]] = {}
    for table, settings in config.tables.items():
        if table in SHARED_TABLES:
            continue
        if table not in CONFIGURABLE:
            tables = ", ".join(f"[{t}]" for t in (*CONFIGURABLE, *SHARED_TABLES))
            raise ConfigError(f"{where}: [{table}]: not a table leakwatch knows ({tables})")
        command = root.commands[table]
        options = _options(command)
        context = _click.Context(command, info_name=table)
        for key, written in settings.items():
            option = options.get(key.replace("_", "-"))
            if option is None:
                if key.replace("_", "-") in COMMAND_LINE_ONLY:
                    raise ConfigError(
                        f"{where}: [{table}] {key}: only on the command line (say it each time)"
                    )
                allowed = ", ".join(sorted(options))
                raise ConfigError(f"{where}: [{table}] {key}: unknown key (allowed: {allowed})")
            value = _relative_paths(option, written, config)
            try:
                option.process_value(context, value)
                check = _CHECKED_IN_THE_COMMAND.get(str(option.name))
                if check is not None and value is not None:
                    check(value)
            except Exception as exc:  # click's BadParameter, whatever module it comes from
                message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
                said = message.split("': ", 1)[-1].replace("Value error, ", "")
                raise ConfigError(f"{where}: [{table}] {key} = {written!r}: {said}") from None
            defaults.setdefault(table, {})[option.name] = value
    for name, command in root.commands.items():
        names = {p.name for p in command.params}
        if config.store is not None and "db" in names:
            defaults.setdefault(name, {}).setdefault("db", config.store)
        if config.ignore_files and "ignore" in names and name != "ignore":
            files = [str(f) for f in config.ignore_files]
            defaults.setdefault(name, {}).setdefault("ignore", files)
        if config.ignore_files and name == "ignore":  # adds to the first file in force
            defaults.setdefault(name, {}).setdefault("to", str(config.ignore_files[0]))
    return defaults


# Options whose text is a file path though not typed as one (the store may be a URL, the
# output '-').
_PATH_TEXT = frozenset({"db", "output"})


def _relative_paths(option: Any, value: Any, config: Config) -> Any:
    """Paths in the file are relative to the file's folder, as a reader of it expects."""
    descriptor = getattr(option, "type_descriptor", None)
    if config.path is None:
        return value
    if option.name in _PATH_TEXT:
        if not isinstance(value, str) or value == "-" or "://" in value:
            return value
        return str(config.path.parent / Path(value).expanduser())
    if descriptor is None or "Path" not in str(descriptor.annotation):
        return value
    base = config.path.parent
    if isinstance(value, list):
        return [str(base / Path(v).expanduser()) if isinstance(v, str) else v for v in value]
    return str(base / Path(value).expanduser()) if isinstance(value, str) else value


def _size(value: Any) -> None:
    parse_size(str(value))


def _severity(value: Any) -> None:
    Severity.parse(str(value))


def _countries(value: Any) -> None:
    trends.parse_countries(str(value))


def _date(value: Any) -> None:
    trends.since_bound(str(value))


# The values a command checks itself (their option takes any text): checked here too, so
# that a mistake names the file.
_CHECKED_IN_THE_COMMAND: dict[str, Any] = {
    "max_bytes": _size, "fail_on": _severity, "severity": _severity,
    "site_country": _countries, "since": _date, "until": _date,
}  # fmt: skip


# -- leakwatch config -------------------------------------------------------------------------


@command()
def config(
    ctx: typer.Context,
    fmt: Annotated[
        str, typer.Option("--format", "-f", metavar="toml|json", help="The output format.")
    ] = "toml",
) -> None:
    """Show the settings in force for each command and where each came from (leakwatch.toml,
    an environment variable, or the default); --config FILE names the file to use."""
    if fmt not in ("toml", "json"):
        fail(f"--format: {fmt!r} is not one of 'toml', 'json'", EXIT_USAGE)
    loaded: Config = ctx.obj if isinstance(ctx.obj, Config) else Config()
    root: Any = ctx.find_root().command
    defaults = ctx.find_root().default_map or {}
    shown_settings: dict[str, dict[str, tuple[Any, str]]] = {}
    for table in CONFIGURABLE:
        command = root.commands[table]
        context = _click.Context(command, info_name=table)
        settings: dict[str, tuple[Any, str]] = {}
        for key, option in sorted(_options(command).items()):
            envvar = option.envvar if isinstance(option.envvar, str) else None
            if envvar and os.environ.get(envvar):
                value, source = option.process_value(context, os.environ[envvar]), f"${envvar}"
            elif option.name in defaults.get(table, {}):
                raw = defaults[table][option.name]
                value, source = option.process_value(context, raw), loaded.name
            else:
                value, source = option.get_default(context), "default"
            settings[key] = (_plain(value), source)
        shown_settings[table] = settings
    # The store as a command would pick it: $LEAKWATCH_DB, else the file's, else the default.
    db = os.environ.get("LEAKWATCH_DB") or defaults.get("report", {}).get("db")
    store = str(shown(location_of(db, os.environ)))
    ignore_files = [str(f) for f in loaded.ignore_files] or [
        str(f) for f in discovered(os.environ, Path.cwd())
    ]
    if fmt == "json":
        typer.echo(json.dumps({
            "config_file": str(loaded.path) if loaded.path else None,
            "found_as": loaded.found_as or None,
            "store": store,
            "ignore_files": ignore_files,
            "targets": {k: list(v) for k, v in loaded.targets.items()},
            "commands": {t: {k: {"value": v, "from": s} for k, (v, s) in settings.items()}
                         for t, settings in shown_settings.items()},
        }, indent=2, ensure_ascii=False))  # fmt: skip
        return
    lines = [
        f"# config file: {loaded.path} (found as {loaded.found_as})"
        if loaded.path
        else "# no config file (looked for --config, $LEAKWATCH_CONFIG, ./leakwatch.toml and "
        "the user config folder)",
        f"# store: {store}",
        f"# ignore files: {', '.join(ignore_files) or 'none'}",
    ]
    for table, settings in shown_settings.items():
        lines += ["", f"[{table}]"]
        width = min(40, max(len(f"{k} = {_toml(v)}") for k, (v, _) in settings.items()))
        for key, (value, source) in settings.items():
            lines.append(f"{f'{key} = {_toml(value)}':<{width}}  # {source}")
    if loaded.targets:
        lines += ["", "[targets]"]
        lines += [f"{name} = {_toml(list(t))}" for name, t in loaded.targets.items()]
    typer.echo("\n".join(lines))


def _plain(value: Any) -> Any:
    """A setting as JSON and TOML can show it (enums by value, paths as text)."""
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "value") and not isinstance(value, (int, float, str)):
        return value.value
    if isinstance(value, Path):
        return str(value)
    return value


def _toml(value: Any) -> str:
    if value is None:
        return "(not set)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return json.dumps(str(value), ensure_ascii=False)


def apply(ctx: Any, named: str | None, environ: Mapping[str, str]) -> None:
    """Load the config in force into the root context (called by the root callback). Asked
    for help, a command shows it even when the config file is broken."""
    wants_help = any(a in ("--help", "-h") for a in sys.argv[1:])
    try:
        loaded = load_config(named, environ, Path.cwd())
        ctx.default_map = default_map(loaded, ctx.command)
    except ConfigError:
        if not wants_help:
            raise
        loaded = Config()
    ctx.obj = loaded
