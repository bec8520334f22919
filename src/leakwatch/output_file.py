"""Write results to stdout or to a file that appears whole or not at all.

A file is written beside its target and renamed into place when complete, so a cron job that
reads the report never sees half of one, and a failed run (disk full, interrupted write) leaves
any previous report untouched.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

from leakwatch.errors import OutputError

STDOUT = "-"


@contextmanager
def open_output(target: str) -> Iterator[TextIO]:
    """A text stream for `target` ('-' = stdout); a file is replaced atomically on success."""
    if target == STDOUT:
        yield sys.stdout
        sys.stdout.flush()
        return
    path = Path(target)
    if path.is_dir():
        raise OutputError(f"{target}: is a folder, not a file")
    try:
        fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent or ".")
    except OSError as exc:
        raise OutputError(f"{target}: cannot write: {exc.strerror or exc}") from None
    handle = os.fdopen(fd, "w", encoding="utf-8", newline="")
    try:
        yield handle
        handle.flush()
        os.fsync(handle.fileno())
        handle.close()
        os.chmod(temp, 0o600)
        os.replace(temp, path)
    except OSError as exc:
        handle.close()
        Path(temp).unlink(missing_ok=True)
        raise OutputError(f"{target}: cannot write: {exc.strerror or exc}") from None
    except BaseException:
        handle.close()
        Path(temp).unlink(missing_ok=True)
        raise
