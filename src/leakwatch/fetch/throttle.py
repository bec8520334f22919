"""Politeness per site: the delay between one request and the next, adapted as it goes.

The delay starts at --delay (raised to the site's robots.txt Crawl-delay), and each wait is
randomised to 0.5-1.5x, as Scrapy does. AutoThrottle-style adaptation: after a success the
delay moves halfway towards the response's latency, never below the base; after an error
(5xx, 429, 408, a timeout, a broken connection) it doubles; other answers (404, redirects)
leave it as it is. Only successes shorten it, so the crawler does not speed up exactly when
the server struggles. A server's Retry-After holds the site until then. `--delay 0` means
the site is the user's own: no waiting, no adaptation (Retry-After and retry back-off
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
    delay: float = -1.0  # current delay; starts at base
    next_at: float = 0.0  # monotonic time before which the site is not asked again
    last_at: float = 0.0  # when the last request finished

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

    def record(self, now: float, latency: float, *, ok: bool | None) -> None:
        """A request finished `latency` seconds after it started; schedule the next. `ok`:
        True for a success (2xx), False for an error (overload, broken connection), None
        for an answer that says nothing of the server's health (a 404, a redirect)."""
        self.last_at = now
        if self.base > 0 and ok is not None:
            if ok:
                self.delay = max(self.base, min(MAX_DELAY, (self.delay + latency) / 2))
            else:
                self.delay = min(MAX_DELAY, max(self.delay * 2, latency, self.base))
        pause = self.delay * self.rng.uniform(0.5, 1.5) if self.delay > 0 else 0.0
        self.next_at = max(self.next_at, now + pause)

    def hold(self, now: float, seconds: float) -> None:
        """Ask the site nothing for `seconds` (Retry-After, retry back-off)."""
        self.next_at = max(self.next_at, now + seconds)
