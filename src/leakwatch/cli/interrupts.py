"""Stopping a command: SIGTERM (sent by cron's `timeout`, systemd, `kill`) stops a run as
Ctrl-C does, and once a run is writing its results, one more Ctrl-C does not throw them away.

Signal handlers can only be installed from the main thread; elsewhere (a test calling the
CLI from a thread) these do nothing.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from types import FrameType
from typing import Any


@contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """While the block runs, SIGTERM is handled as SIGINT is at that moment (Python's own
    KeyboardInterrupt, or asyncio's runner cancelling a crawl)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _as_interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _as_interrupt(signum: int, frame: FrameType | None) -> None:
    handler = signal.getsignal(signal.SIGINT)
    if callable(handler):
        handler(signal.SIGINT, frame)
        return
    raise KeyboardInterrupt


class Finishing:
    """Guards the writing of a run's results: after `start`, the first Ctrl-C (or SIGTERM)
    only says that the results are being written; the next one abandons them
    (KeyboardInterrupt). `stop` restores the handlers."""

    NOTICE = (
        b"leakwatch: still writing the results found so far; press Ctrl-C again to abandon them\n"
    )

    def __init__(self) -> None:
        self.pressed = 0
        self._previous: dict[int, Any] = {}

    def start(self) -> None:
        if self._previous or threading.current_thread() is not threading.main_thread():
            return
        for number in (signal.SIGINT, signal.SIGTERM):
            self._previous[number] = signal.signal(number, self._press)

    def stop(self) -> None:
        for number, handler in self._previous.items():
            signal.signal(number, handler)
        self._previous.clear()

    def _press(self, signum: int, frame: FrameType | None) -> None:
        self.pressed += 1
        if self.pressed > 1:
            raise KeyboardInterrupt
        with suppress(OSError):  # a plain write: a handler may run in the middle of a print
            os.write(2, self.NOTICE)
