"""Where leakwatch keeps its files: the per-user data folder (the fingerprint key, the default
store), below every stage so that any of them can find it."""

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
