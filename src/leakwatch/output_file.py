"""Write results where the user asked: stdout, a file that appears whole or not at all, or a
special file (a device, a FIFO) written as it is.

A regular file is written beside its target and renamed into place when complete, so a cron
job that reads the report never sees half of one, and a failed run (disk full, interrupted
write) leaves any previous report untouched. A symbolic link is followed and its target
replaced, so the link stays a link. What is not a regular file (`/dev/null`, a FIFO,
`/dev/stdout`) is never renamed over: it is opened and written directly, as a shell's `>`
would. Every write failure becomes one OutputError naming the place and the reason; a pipe
whose reader went away (`| head`) is OutputClosed, which the CLI ends quietly.
"""

from __future__ import annotations

import errno
import os
import re
import stat
import sys
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TextIO, cast

from leakwatch.errors import OutputError, UsageError

STDOUT = "-"
_MAX_LINKS = 40  # as the kernel's ELOOP limit
# A process's open file descriptor, reached through a link (/dev/stdout -> /proc/self/fd/1):
# it names an open file, not a place in a folder, so it is written, never replaced.
_DESCRIPTOR = re.compile(r"/(?:proc/(?:self|thread-self|[0-9]+)|dev)/fd/([0-9]+)")


class OutputClosed(OutputError):
    """The reader of the output went away (a broken pipe): nobody is left to tell."""


@contextmanager
def open_output(target: str) -> Iterator[TextIO]:
    """A text stream for `target` ('-' = stdout); see the module's docstring for what each
    kind of target gets. Raises OutputError (OutputClosed for a broken pipe)."""
    if target == STDOUT:
        with _write_to_stream(sys.stdout, "stdout") as out:
            yield out
        return
    place, through_descriptor = _follow_links(target)
    if through_descriptor is not None:
        with _write_to_descriptor(through_descriptor, target) as out:
            yield out
        return
    try:
        info: os.stat_result | None = os.stat(place)
    except FileNotFoundError:
        info = None
    except OSError as exc:
        raise _write_error(target, exc) from None
    if info is None or stat.S_ISREG(info.st_mode):
        with _replace_atomically(Path(place), target) as out:
            yield out
        return
    _check_special(target, info.st_mode)
    try:
        handle = open(place, "w", encoding="utf-8", newline="")  # noqa: SIM115
    except OSError as exc:
        raise _write_error(target, exc) from None
    with _owned(handle, target) as out:
        yield out


def refuse_overwriting(target: str, protected: Mapping[str, Path | str]) -> None:
    """Refuse, before anything is written, an output that is one of the files the run reads
    or keeps (`protected`: what it is -> its path): the store, the key, an input. Raises
    UsageError naming both."""
    if target == STDOUT:
        return
    mine = _identity(target)
    if mine is None:
        return
    for what, path in protected.items():
        if _identity(str(path)) == mine:
            raise UsageError(f"-o {target}: is {what}; choose another output file")


def _identity(path: str) -> tuple[int, int] | tuple[str] | None:
    """What makes two names the same file: device and inode when it exists, else where the
    name leads once links are followed."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return (os.path.realpath(path),)
    except OSError:
        return None
    if not stat.S_ISREG(info.st_mode):
        return None  # /dev/null may be named by anything: writing to it destroys nothing
    return (info.st_dev, info.st_ino)


def _follow_links(target: str) -> tuple[str, int | None]:
    """Where a chain of symbolic links leads, or the file descriptor it reaches on the way."""
    current = os.path.abspath(target)
    for _ in range(_MAX_LINKS):
        descriptor = _DESCRIPTOR.fullmatch(current)
        if descriptor is not None:
            return current, int(descriptor.group(1))
        try:
            link = os.readlink(current)
        except OSError:  # not a link, or not there: this is the place
            return current, None
        current = os.path.normpath(os.path.join(os.path.dirname(current), link))
    raise OutputError(f"{target}: cannot write: too many levels of symbolic links")


def _check_special(target: str, mode: int) -> None:
    if stat.S_ISDIR(mode):
        raise OutputError(f"{target}: is a folder, not a file")
    if stat.S_ISBLK(mode):
        raise OutputError(f"{target}: is a block device (a disk); leakwatch writes no report there")
    if stat.S_ISSOCK(mode):
        raise OutputError(f"{target}: is a socket, which cannot be written as a file")


@contextmanager
def _write_to_stream(stream: TextIO | None, name: str) -> Iterator[TextIO]:
    if stream is None:  # the process was started with that descriptor closed
        raise OutputError(f"{name}: cannot write: it is closed")
    with _guarded(stream, name) as out:
        yield out


@contextmanager
def _write_to_descriptor(descriptor: int, target: str) -> Iterator[TextIO]:
    """/dev/stdout, /dev/fd/N: the open file itself, as a shell writes to it (never reopened:
    reopening a file that stdout appends to would truncate it)."""
    if descriptor == 1:
        with _write_to_stream(sys.stdout, target) as out:
            yield out
        return
    if descriptor == 2:
        with _write_to_stream(sys.stderr, target) as out:
            yield out
        return
    try:
        handle = os.fdopen(os.dup(descriptor), "w", encoding="utf-8", newline="")
    except OSError as exc:
        raise _write_error(target, exc) from None
    with _owned(handle, target) as out:
        yield out


@contextmanager
def _replace_atomically(path: Path, target: str) -> Iterator[TextIO]:
    try:
        fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise _write_error(target, exc) from None
    handle = os.fdopen(fd, "w", encoding="utf-8", newline="")
    try:
        with _guarded(handle, target) as out:
            yield out
            out.flush()
        os.fsync(handle.fileno())
        handle.close()
        os.chmod(temp, 0o600)
        os.replace(temp, path)
    except OSError as exc:
        _discard(handle, temp)
        raise _write_error(target, exc) from None
    except BaseException:
        _discard(handle, temp)
        raise


def _discard(handle: TextIO, temp: str) -> None:
    with suppress(OSError):  # closing flushes what is buffered: on a full disk, that fails too
        handle.close()
    Path(temp).unlink(missing_ok=True)


@contextmanager
def _owned(handle: TextIO, name: str) -> Iterator[TextIO]:
    """`handle` guarded, then closed: a failure to close (its last flush) is a write failure,
    unless another error is already on its way."""
    try:
        with _guarded(handle, name) as out:
            yield out
    except BaseException:
        with suppress(OSError):
            handle.close()
        raise
    try:
        handle.close()
    except OSError as exc:
        raise _write_error(name, exc) from None


@contextmanager
def _guarded(stream: TextIO, name: str) -> Iterator[TextIO]:
    """`stream` whose write failures are OutputErrors naming `name`; flushed at the end."""
    guarded = GuardedStream(stream, name)
    yield cast(TextIO, guarded)
    guarded.flush()


class GuardedStream:
    """A text stream whose OSErrors become OutputError (OutputClosed for a broken pipe), so
    a full disk or a closed pipe is one clear line, wherever in the run the write happens.
    It never closes the stream it wraps."""

    def __init__(self, stream: TextIO, name: str) -> None:
        self._stream = stream
        self.name = name

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except OSError as exc:
            raise _write_error(self.name, exc) from None

    def flush(self) -> None:
        try:
            self._stream.flush()
        except OSError as exc:
            raise _write_error(self.name, exc) from None

    def isatty(self) -> bool:
        return self._stream.isatty()

    def fileno(self) -> int:
        return self._stream.fileno()

    @property
    def encoding(self) -> str:
        return self._stream.encoding

    def writable(self) -> bool:
        return True

    def close(self) -> None:
        return None


def _write_error(name: str, exc: OSError) -> OutputError:
    if exc.errno == errno.EPIPE:
        return OutputClosed(f"{name}: the reader went away")
    return OutputError(f"{name}: cannot write: {exc.strerror or exc}")
