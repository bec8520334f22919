"""A throwaway PostgreSQL server on 127.0.0.1 for tests: `initdb` and `pg_ctl` (Debian's
PostgreSQL 15 puts them on PATH), a data folder under the test's tmp dir, trust auth for one
user, no fsync. PostgreSQL refuses to run as root: as root the server runs as `nobody`.

Without initdb/pg_ctl the tests that need it skip, saying how to get them; under CI=true
that is a failure (CI must prove them)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

NOBODY = 65534
USER = "leakwatch"


def unavailable(why: str) -> None:
    message = f"{why}: install PostgreSQL 15+ (Debian: apt install postgresql) to run these"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{message} (CI=true: a server test may not be skipped)")
    pytest.skip(message)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def postgres_server(folder: Path) -> Iterator[str]:
    """Start a server in `folder`; yield its URL (postgresql://leakwatch@127.0.0.1:PORT/postgres)."""
    tools = {name: shutil.which(name) for name in ("initdb", "pg_ctl")}
    if not all(tools.values()):
        unavailable("initdb and pg_ctl are not on PATH")
    as_user: list[str] = []
    folder.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            unavailable("running as root without setpriv to run PostgreSQL as another user")
        as_user = [str(setpriv), f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]
        # pytest's tmp folders are root's alone (0700): nobody could not reach one.
        folder = Path(tempfile.mkdtemp(prefix="leakwatch-pg-"))
        os.chown(folder, NOBODY, NOBODY)
    data, log = folder / "data", folder / "server.log"
    subprocess.run(
        [*as_user, str(tools["initdb"]), "-D", str(data), "-A", "trust", "-U", USER,
         "--no-sync", "-E", "UTF8", "--locale=C"],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    port = _free_port()
    options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off"
    subprocess.run(
        [*as_user, str(tools["pg_ctl"]), "-D", str(data), "-o", options, "-l", str(log), "-w",
         "start"],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    try:
        yield f"postgresql://{USER}@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            [*as_user, str(tools["pg_ctl"]), "-D", str(data), "-m", "immediate", "-w", "stop"],
            check=False, capture_output=True, timeout=120,
        )  # fmt: skip
        if as_user:
            shutil.rmtree(folder, ignore_errors=True)
