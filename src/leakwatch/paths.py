"""Where leakwatch keeps its files: the per-user data folder (the fingerprint key, the default
store) and config folder (the user's ignore file and leakwatch.toml), below every stage so
that any of them can find them."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import platformdirs

HOME_ENV = "LEAKWATCH_HOME"


def data_dir(environ: Mapping[str, str]) -> Path:
    """leakwatch's per-user data folder: $LEAKWATCH_HOME, else the platform's user data dir."""
    override = environ.get(HOME_ENV)
    if override:
        return Path(override).expanduser()
    return Path(platformdirs.user_data_dir("leakwatch", appauthor=False))


CONFIG_ENV = "LEAKWATCH_CONFIG_HOME"


def config_dir(environ: Mapping[str, str]) -> Path:
    """leakwatch's per-user config folder (the user's ignore file and leakwatch.toml):
    $LEAKWATCH_CONFIG_HOME, else $LEAKWATCH_HOME (one folder for everything, as a test or a
    container sets it), else the platform's user config dir."""
    override = environ.get(CONFIG_ENV) or environ.get(HOME_ENV)
    if override:
        return Path(override).expanduser()
    return Path(platformdirs.user_config_dir("leakwatch", appauthor=False))
