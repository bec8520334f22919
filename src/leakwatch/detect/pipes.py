"""Worker processes that an event loop hands jobs to through pipes, with no thread between.

A crawl sends every page it fetches to a worker process to be scanned. Through a process
pool executor each page costs the crawl's main process more than fetching it: a manager
thread and a queue feeder thread are woken for every job and every result, each wake-up a
pipe write and a thread switch under the GIL. Here each worker has a pipe each way; the
event loop writes a job (pickled, framed as multiprocessing.Connection frames it, so the
worker reads it with `recv_bytes`) without blocking, and reads results as they arrive.
A worker that dies fails its jobs with BrokenProcessPool, as an executor's would.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import pickle
import struct
from collections.abc import Callable
from concurrent.futures.process import BrokenProcessPool
from multiprocessing.connection import Connection
from typing import Any

from leakwatch.detect.parallel import DetectorSpec, start_worker

_SHORT = struct.Struct("!i")  # multiprocessing.Connection's frame header
_LONG = struct.Struct("!Q")  # after a short header of -1: frames over 2 GiB
_READ = 1 << 20


class PipeWorkers:
    """`function(job)` run in `count` spawned processes, each with the detector of `spec`
    (see parallel.worker_detector); `await run(job)` from the event loop that started them."""

    def __init__(self, spec: DetectorSpec, count: int, function: Callable[[Any], Any]) -> None:
        self.spec = spec
        self.count = count
        self.function = function
        self._workers: list[_Worker] = []

    async def run(self, job: Any) -> Any:
        if not self._workers:
            self._start()
        alive = [w for w in self._workers if w.alive]
        if not alive:
            raise BrokenProcessPool("every page worker has died")
        worker = min(alive, key=lambda w: len(w.pending))
        return await worker.submit(job)

    def _start(self) -> None:
        context = multiprocessing.get_context("spawn")  # not fork: see parallel.ScanPool
        loop = asyncio.get_running_loop()
        for _ in range(self.count):
            jobs_out, jobs_in = context.Pipe(duplex=False)
            results_out, results_in = context.Pipe(duplex=False)
            process = context.Process(
                target=_serve,
                args=(self.spec, self.function, jobs_out, results_in),
                daemon=True,
            )
            process.start()
            jobs_out.close()  # the worker's ends
            results_in.close()
            self._workers.append(_Worker(loop, process, jobs_in, results_out))

    def close(self) -> None:
        """Let every worker finish its job and leave (their job pipes close)."""
        workers, self._workers = self._workers, []
        for worker in workers:
            worker.close()
        for worker in workers:
            worker.process.join(5)
            if worker.process.is_alive():
                worker.process.terminate()
                worker.process.join(5)


class _Worker:
    """One process: jobs written without blocking the loop, results read as they come."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        process: multiprocessing.process.BaseProcess,
        jobs: Connection,
        results: Connection,
    ) -> None:
        self.loop = loop
        self.process = process
        self.jobs = jobs
        self.results = results
        self.pending: dict[int, asyncio.Future[Any]] = {}
        self.alive = True
        self._next = 0
        self._out = bytearray()
        self._in = bytearray()
        os.set_blocking(jobs.fileno(), False)
        os.set_blocking(results.fileno(), False)
        loop.add_reader(results.fileno(), self._readable)

    async def submit(self, job: Any) -> Any:
        number = self._next
        self._next += 1
        future = self.loop.create_future()
        self.pending[number] = future
        data = pickle.dumps((number, job), protocol=pickle.HIGHEST_PROTOCOL)
        if len(data) > 0x7FFFFFFF:
            self._out += _SHORT.pack(-1) + _LONG.pack(len(data))
        else:
            self._out += _SHORT.pack(len(data))
        self._out += data
        self._flush()
        try:
            return await future
        finally:
            self.pending.pop(number, None)

    def _flush(self) -> None:
        if not self.alive:
            return
        try:
            written = os.write(self.jobs.fileno(), self._out) if self._out else 0
        except BlockingIOError:
            written = 0
        except OSError:  # the worker is gone; its results pipe says so too
            self._died()
            return
        del self._out[:written]
        if self._out:
            self.loop.add_writer(self.jobs.fileno(), self._flush)
        else:
            self.loop.remove_writer(self.jobs.fileno())

    def _readable(self) -> None:
        try:
            chunk = os.read(self.results.fileno(), _READ)
        except BlockingIOError:
            return
        except OSError:
            chunk = b""
        if not chunk:
            self._died()
            return
        self._in += chunk
        while (frame := self._frame()) is not None:
            number, ok, value = pickle.loads(frame)
            future = self.pending.get(number)
            if future is not None and not future.done():
                if ok:
                    future.set_result(value)
                else:
                    future.set_exception(value)

    def _frame(self) -> bytes | None:
        buffer = self._in
        if len(buffer) < _SHORT.size:
            return None
        (size,) = _SHORT.unpack_from(buffer)
        start = _SHORT.size
        if size == -1:
            if len(buffer) < start + _LONG.size:
                return None
            (size,) = _LONG.unpack_from(buffer, start)
            start += _LONG.size
        if len(buffer) < start + size:
            return None
        frame = bytes(buffer[start : start + size])
        del buffer[: start + size]
        return frame

    def _died(self, why: str = "a page worker died") -> None:
        if not self.alive:
            return
        self.alive = False
        self.loop.remove_reader(self.results.fileno())
        self.loop.remove_writer(self.jobs.fileno())
        for future in self.pending.values():
            if not future.done():
                future.set_exception(BrokenProcessPool(why))

    def close(self) -> None:
        self._died("the page workers were stopped")  # jobs still out go elsewhere
        self.jobs.close()
        self.results.close()


def _serve(
    spec: DetectorSpec, function: Callable[[Any], Any], jobs: Connection, results: Connection
) -> None:
    """A worker's life: jobs in, results (or the exception a job raised) out, until the
    job pipe closes."""
    start_worker(spec)
    while True:
        try:
            number, job = pickle.loads(jobs.recv_bytes())
        except (EOFError, OSError):  # the crawl closed our pipe, or stopped and went
            return
        try:
            reply = (number, True, function(job))
        except Exception as exc:  # the caller's to report, as an executor would
            reply = (number, False, exc)
        try:
            data = pickle.dumps(reply, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:  # a result or an exception that does not pickle
            what = reply[2] if not reply[1] else exc
            error = RuntimeError(f"{type(what).__name__}: {what}")
            data = pickle.dumps((number, False, error), protocol=pickle.HIGHEST_PROTOCOL)
        try:
            results.send_bytes(data)
        except OSError:  # the crawl stopped (Ctrl-C, SIGTERM) while this job ran
            return
