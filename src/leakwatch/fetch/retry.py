"""One request to a host, paced by its throttle and retried with back-off: the politeness
that the crawler and the archive backfill share.

A try waits for the host's turn (see throttle.py), and its outcome adapts the host's delay.
Overload (429, 503 and the like), timeouts and broken connections are retried with
exponential back-off, randomised 0.5-1.5x, and a server's Retry-After holds the host until
then (up to a cap). A request that ran out its deadline once the server had begun to answer
(a trickle) is not retried: the same server would trickle again, holding a connection as
long.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager, nullcontext
from dataclasses import dataclass

from leakwatch.errors import FetchError
from leakwatch.fetch.http import Fetcher, Response
from leakwatch.fetch.throttle import Throttle

# Scrapy's retry list: overload, gateway trouble and timeouts are worth a second try.
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504, 522, 524})
RETRY_KINDS = frozenset({"timeout", "connection"})


@dataclass(frozen=True, slots=True)
class Retries:
    """How often, and how patiently, a request is tried again."""

    retries: int = 2
    backoff: float = 1.0  # seconds before the first retry, doubled for each next
    max_retry_after: float = 120.0  # a longer Retry-After is cut to this
    # A longer Retry-After ends the tries instead (the answer is returned as it is): a shared
    # service that asks for hours means it, and asking again early gets an address blocked.
    beyond_cap_gives_up: bool = False


async def polite_get(
    fetcher: Fetcher,
    throttle: Throttle,
    url: str,
    retries: Retries,
    rng: random.Random,
    *,
    slots: AbstractAsyncContextManager[object] | None = None,
    headers: Sequence[tuple[str, str]] = (),
    max_bytes: int | None = None,
    any_type: bool = False,
    error_body: bool = False,
) -> Response:
    """GET `url` politely (see the module's docstring); `slots` bounds requests in flight
    over all hosts. Raises the last try's FetchError; an overloaded answer that stayed so
    is returned as it is (its status says why)."""
    loop = asyncio.get_running_loop()
    attempt = 0
    while True:
        await paced(throttle)
        async with slots if slots is not None else nullcontext():
            started = loop.time()
            throttle.start(started)
            response: Response | None = None
            try:
                response = await fetcher.get(
                    url, max_bytes=max_bytes, any_type=any_type, headers=headers,
                    error_body=error_body,
                )  # fmt: skip
            except FetchError as exc:
                failure: FetchError | None = exc
            else:
                failure = None
            now = loop.time()
        troubled = (
            failure.kind in RETRY_KINDS
            if failure is not None
            else response is not None and response.status in RETRY_STATUSES
        )
        throttle.record(now, now - started, ok=_health(response, troubled))
        if response is not None and response.retry_after is not None:
            if retries.beyond_cap_gives_up and response.retry_after > retries.max_retry_after:
                return response
            throttle.hold(now, min(response.retry_after, retries.max_retry_after))
        trickled = failure is not None and failure.kind == "timeout" and failure.answered
        if troubled and not trickled and attempt < retries.retries:
            throttle.hold(now, retries.backoff * 2**attempt * rng.uniform(0.5, 1.5))
            attempt += 1
            continue
        if failure is not None:
            raise failure
        assert response is not None
        return response


async def paced(throttle: Throttle) -> None:
    """Sleep until the throttle lets the next request start (another driver of the site may
    start meanwhile and push that time on: wait again)."""
    loop = asyncio.get_running_loop()
    while (pause := throttle.wait(loop.time())) > 0:
        await asyncio.sleep(pause)


def _health(response: Response | None, troubled: bool) -> bool | None:
    """What an answer says of the server, for its throttle: True for a 2xx (the delay may
    adapt to its latency), False for overload, a timeout or a broken connection (it
    doubles), None for anything else (a 404, a redirect: the delay stays as it is)."""
    if troubled:
        return False
    if response is not None and 200 <= response.status < 300:
        return True
    return None
