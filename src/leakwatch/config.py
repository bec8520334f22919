"""leakwatch.toml: where the config file is, and what it says.

Found as gitleaks finds its config, the first that exists of: `--config FILE`,
$LEAKWATCH_CONFIG, `./leakwatch.toml`, `leakwatch.toml` in the user config folder. It
holds a table per command with that command's options by their long names (`[scan]
depth = 2`, `[report] by = "site"`), the store (`[store] db = ...`, for every command),
the ignore files (`[ignore] files = [...]`, relative to the config file) and named target
lists (`[targets] china = ["https://bbs.example.cn/ country=CN", ...]`, scanned as
`leakwatch scan @china`). The command line overrides it.

This module reads and checks the file's shape; the command line checks each value against
its option (`leakwatch.cli.configuration`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from leakwatch.errors import UsageError
from leakwatch.paths import config_dir

CONFIG_ENV = "LEAKWATCH_CONFIG"
CONFIG_FILENAME = "leakwatch.toml"
# Tables that are not a command's options.
SHARED_TABLES = ("store", "ignore", "targets")


class ConfigError(UsageError):
    """The config file cannot be used: one line naming the file, the key and what is wrong."""


@dataclass(frozen=True, slots=True)
class Config:
    """The config file's settings, by table; an empty Config when there is no file."""

    path: Path | None = None
    found_as: str = ""  # how it was found: --config, $LEAKWATCH_CONFIG, ./leakwatch.toml, ...
    tables: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return str(self.path) if self.path else "leakwatch.toml"

    @property
    def targets(self) -> Mapping[str, tuple[str, ...]]:
        return {k: tuple(v) for k, v in self.tables.get("targets", {}).items()}

    @property
    def store(self) -> str | None:
        """The store's location; a relative file path is relative to the config file."""
        db = self.tables.get("store", {}).get("db")
        if db is None:
            return None
        if "://" in db or self.path is None:
            return str(db)
        return str(self.path.parent / Path(db).expanduser())

    @property
    def ignore_files(self) -> tuple[Path, ...]:
        files = self.tables.get("ignore", {}).get("files", ())
        base = self.path.parent if self.path else Path.cwd()
        return tuple(base / Path(f).expanduser() for f in files)


def find(named: str | None, environ: Mapping[str, str], cwd: Path) -> tuple[Path, str] | None:
    """The config file in force and how it was found, or None."""
    if named:
        return Path(named), "--config"
    if environ.get(CONFIG_ENV):
        return Path(environ[CONFIG_ENV]).expanduser(), f"${CONFIG_ENV}"
    here = cwd / CONFIG_FILENAME
    if here.is_file():
        return here, f"./{CONFIG_FILENAME}"
    user = config_dir(environ) / CONFIG_FILENAME
    if user.is_file():
        return user, "the user config folder"
    return None


def load(named: str | None, environ: Mapping[str, str], cwd: Path) -> Config:
    """The config in force (empty when there is none); ConfigError if it cannot be used."""
    found = find(named, environ, cwd)
    if found is None:
        return Config()
    path, how = found
    # Imported only when there is a file: every command starts 3 ms sooner without.
    import tomllib  # noqa: PLC0415

    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file (given by {how})") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: a folder, not a config file (given by {how})") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the config file: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a UTF-8 text file") from None
    for key, value in data.items():
        if not isinstance(value, dict):
            raise ConfigError(
                f"{path}: {key}: settings go in a table ([scan], [report], [store], ...), "
                f"not at the top level"
            )
    _check_shared(path, data)
    return Config(path.absolute(), how, data)


def _check_shared(path: Path, data: Mapping[str, Any]) -> None:
    store = data.get("store", {})
    for key, value in store.items():
        if key != "db":
            raise ConfigError(f"{path}: [store] {key}: unknown key (allowed: db)")
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(f"{path}: [store] db: a file path or a postgresql:// URL (text)")
    ignore = data.get("ignore", {})
    for key, value in ignore.items():
        if key != "files":
            raise ConfigError(f"{path}: [ignore] {key}: unknown key (allowed: files)")
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(
                f'{path}: [ignore] files: a list of file names, e.g. [".leakwatchignore"]'
            )
    for name, value in data.get("targets", {}).items():
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(
                f"{path}: [targets] {name}: a list of target lines, e.g. "
                f'["https://bbs.example.cn/ country=CN depth=2"]'
            )
