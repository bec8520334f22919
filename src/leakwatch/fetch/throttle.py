"""Politeness per site: when the next request to a host may start, adapted as it goes.

The delay starts at --delay (raised to the site's robots.txt Crawl-delay), and each wait is
randomised to 0.5-1.5x, as Scrapy does. With one connection per host (--per-host 1, the
default) the delay runs from the end of one request to the start of the next. With N, up to
N requests are in flight and each also starts at least the delay after the one before it
(as Scrapy spaces a download slot's requests), and still the delay after the last one that
finished: N connections never make the host see more than one request per delay.

Adaptation: after a success the delay becomes the mean of itself and the response's latency
divided by N (so it moves halfway towards it, up or down, and never below the base); after
an error (5xx, 429, 408, a timeout, a broken connection) it doubles, up to MAX_DELAY; other
answers (404, redirects) leave it as it is. Only successes shorten it, so the crawler does
not speed up exactly when the server struggles. (Scrapy's AutoThrottle also aims at
latency / target concurrency, but jumps straight up to it where this moves halfway, and
does not double on errors.) A server's Retry-After holds the site until then. `--delay 0`
means the site is the user's own: no waiting, no adaptation (Retry-After and retry back-off
still apply).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

MAX_DELAY = 60.0


@dataclass(slots=True)
class Throttle:
    base: float  # seconds; --delay, or the site's Crawl-delay if longer
    rng: random.Random
    slots: int = 1  # requests in flight on the host at most (--per-host)
    delay: float = -1.0  # current delay; starts at base
    next_at: float = 0.0  # monotonic time before which the site is not asked again
    last_at: float = 0.0  # when the last request finished
    floor: float = 0.0  # no pause is shorter, randomised or not (a shared service's minimum)

    def __post_init__(self) -> None:
        if self.delay < 0:
            self.delay = self.base

    def raise_base(self, seconds: float) -> None:
        """The site asked for at least this delay (robots.txt); the next request, scheduled
        before it said so, waits for it too."""
        if seconds > self.base:
            self.base = seconds
            self.delay = max(self.delay, seconds)
            self.next_at = max(self.next_at, self.last_at + seconds * self.rng.uniform(0.5, 1.5))

    def wait(self, now: float) -> float:
        """Seconds to wait before the next request to this site."""
        return max(0.0, self.next_at - now)

    def start(self, now: float) -> None:
        """A request starts now (after `wait` said 0). With several connections the next
        one starts a delay later at the earliest; with one, `record` schedules it."""
        if self.slots > 1 and self.delay > 0:
            self.next_at = max(self.next_at, now + self.delay * self.rng.uniform(0.5, 1.5))

    def record(self, now: float, latency: float, *, ok: bool | None) -> None:
        """A request finished `latency` seconds after it started; schedule the next. `ok`:
        True for a success (2xx), False for an error (overload, broken connection), None
        for an answer that says nothing of the server's health (a 404, a redirect)."""
        self.last_at = now
        if self.base > 0 and ok is not None:
            aim = latency / self.slots  # N in flight, each taking `latency`: one every aim
            if ok:
                self.delay = max(self.base, min(MAX_DELAY, (self.delay + aim) / 2))
            else:
                self.delay = min(MAX_DELAY, max(self.delay * 2, aim, self.base))
        pause = self.delay * self.rng.uniform(0.5, 1.5) if self.delay > 0 else 0.0
        self.next_at = max(self.next_at, now + max(pause, self.floor))

    def hold(self, now: float, seconds: float) -> None:
        """Ask the site nothing for `seconds` (Retry-After, retry back-off)."""
        self.next_at = max(self.next_at, now + seconds)
