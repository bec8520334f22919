"""Worker processes spoken to through pipes from an event loop (detect/pipes.py): the crawl's
page workers. Results, exceptions, jobs larger than a pipe holds, and workers that die."""

from __future__ import annotations

import asyncio
import os
import random
import time
from concurrent.futures.process import BrokenProcessPool
from dataclasses import replace
from typing import Any

import pytest

from leakwatch.detect.classify import PageClassifier
from leakwatch.detect.engine import Detector
from leakwatch.detect.parallel import DetectorSpec, ScanPool, worker_detector
from leakwatch.detect.pipes import PipeWorkers
from leakwatch.fetch.targets import plan
from leakwatch.models import DocumentFacts, Event, Finding
from leakwatch.pipeline import crawl
from tests import synthetic
from tests.conftest import TODAY
from tests.test_crawl import FAST
from tests.webserver import html, serve

SPEC = DetectorSpec((), b"test-key", 0.5, True, TODAY)


def echo(job: Any) -> Any:
    """Runs in a worker: what it was sent, its size, and the worker's detector's date."""
    if job == "boom":
        raise ValueError("cannot handle 1234")
    if job == "die":
        os._exit(3)
    if job == "nap":
        time.sleep(1)
    detector, _ = worker_detector()
    return len(job), job[:8], detector.today


def test_jobs_results_and_exceptions_go_both_ways() -> None:
    async def go() -> list[Any]:
        workers = PipeWorkers(SPEC, 2, echo)
        try:
            big = b"x" * 5_000_000  # far more than a pipe holds: written as the worker reads
            results = await asyncio.gather(*(workers.run(b"job %d" % n) for n in range(6)))
            results.append(await workers.run(big))
            with pytest.raises(ValueError, match="cannot handle 1234"):
                await workers.run("boom")
            results.append(await workers.run(b"after"))  # a job's exception harms no other
            return results
        finally:
            workers.close()

    results = asyncio.run(go())
    assert results[:6] == [(len(b"job %d" % n), b"job %d" % n, TODAY) for n in range(6)]
    assert results[6] == (5_000_000, b"x" * 8, TODAY)
    assert results[7] == (5, b"after", TODAY)


def test_a_worker_whose_crawl_stopped_leaves_quietly(capfd: pytest.CaptureFixture[str]) -> None:
    # Ctrl-C closes the pipes while a worker is busy: its answer has nowhere to go, and that
    # is no error worth a traceback on the user's terminal.
    async def go() -> Any:
        workers = PipeWorkers(SPEC, 1, echo)
        job = asyncio.ensure_future(workers.run("nap"))
        await asyncio.sleep(0.5)
        process = workers._workers[0].process
        workers.close()
        with pytest.raises(BrokenProcessPool):
            await job
        return process

    process = asyncio.run(go())
    process.join(10)
    assert process.exitcode == 0
    assert "Traceback" not in capfd.readouterr().err


def test_a_dead_worker_fails_its_job_and_the_others_go_on() -> None:
    async def go() -> Any:
        workers = PipeWorkers(SPEC, 2, echo)
        try:
            with pytest.raises(BrokenProcessPool):
                await workers.run("die")
            after = await workers.run(b"still")  # the other worker
            with pytest.raises(BrokenProcessPool):
                await workers.run("die")
            with pytest.raises(BrokenProcessPool):  # none left
                await workers.run(b"nobody")
            return after
        finally:
            workers.close()

    after = asyncio.run(go())
    assert after == (5, b"still", TODAY)


def test_a_crawl_scans_the_same_in_worker_processes_as_in_a_thread(
    detector: Detector, classifier: PageClassifier
) -> None:
    rng = random.Random(5)
    rows = "".join(f"<tr><td>김민준</td><td>{synthetic.rrn(rng)}</td></tr>" for _ in range(3))
    with serve() as site:
        links = " ".join(f'<a href="/p{n}">p{n}</a>' for n in range(12))
        site.page("/", html("home", links))
        table = f"<table><tr><th>성명</th><th>주민등록번호</th></tr>{rows}</table>"
        for n in range(12):
            site.page(f"/p{n}", html(f"p{n}", table))
        targets = plan([site.url("/")]).targets
        settings = replace(FAST, contain_errors=True)
        here: list[Event] = []
        crawl(targets, settings, detector, classifier, here.append)
        there: list[Event] = []
        with ScanPool(replace(SPEC, today=detector.today), 2) as pool:
            crawl(targets, settings, detector, classifier, there.append, pool=pool)

    def findings(events: list[Event]) -> list[tuple[str, int, str]]:
        return sorted((e.source, e.line, e.fingerprint) for e in events if isinstance(e, Finding))

    assert findings(there) == findings(here)
    assert len(findings(there)) == 12 * 3
    assert sum(isinstance(e, DocumentFacts) for e in there) == 13
