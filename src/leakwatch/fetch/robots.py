"""robots.txt per RFC 9309, parsed by Protego, fetched once per origin and run.

- 2xx: the rules apply (the first 500 KiB are parsed, as the RFC asks at least), whatever
  the content type.
- 4xx (including 404): "unavailable" in the RFC's words: no rules, everything allowed.
- 5xx, or the server not answering: "unreachable": everything disallowed, believed only
  for a minute. (Feeding a 500 error page to the parser would read as "allow all": a bug
  Scrapy and others have had.) URLs refused this way are not marked done: a resumed crawl
  asks again. A 5xx is the site's answer (its pages are "disallowed"); no answer at all
  (refused connection, unknown host, timeout) is kept as `failure` (its error kind), for the
  crawler to report the pages as failed with that kind: a site that is down is not a policy.
- Redirects: up to five are followed, even to another host; a longer chain, or one that
  leads nowhere, counts as unreachable (the cautious reading).
`Crawl-delay` (and `Request-rate`) raise the site's delay, up to MAX_CRAWL_DELAY.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from protego import Protego

from leakwatch.errors import FetchError
from leakwatch.fetch.http import Response
from leakwatch.fetch.urls import canonical

ROBOTS_MAX_BYTES = 500 * 1024
MAX_REDIRECTS = 5
UNREACHABLE_TTL = 60.0  # seconds an unreachable robots.txt (5xx, no answer) is believed
MAX_CRAWL_DELAY = 60.0  # a robots.txt cannot stall the run for longer per request

Get = Callable[[str, int], Awaitable[Response]]


@dataclass(frozen=True, slots=True)
class Rules:
    """What one origin's robots.txt says for our user agent."""

    status: str  # "rules", "unavailable (404)", "unreachable (503)", "unreachable: ...", "ignored"
    parser: Protego | None = None
    allow_all: bool = True
    expires: float = float("inf")
    failure: str | None = None  # the error kind when no answer came at all (timeout, ...)

    def allows(self, url: str, agent: str) -> bool:
        if self.parser is None:
            return self.allow_all
        return bool(self.parser.can_fetch(url, agent))

    def delay(self, agent: str) -> float | None:
        """Seconds between requests the site asks for, if any."""
        if self.parser is None:
            return None
        asked = self.parser.crawl_delay(agent)
        rate = self.parser.request_rate(agent)
        if rate is not None and rate.requests:
            per_request = rate.seconds / rate.requests
            asked = per_request if asked is None else max(asked, per_request)
        return None if asked is None else min(float(asked), MAX_CRAWL_DELAY)


IGNORED = Rules("ignored")


class RobotsCache:
    """Rules per origin, fetched on first need; concurrent askers share one fetch."""

    def __init__(self, get: Get, clock: Callable[[], float] = time.monotonic) -> None:
        self._get = get
        self._clock = clock
        self._rules: dict[str, Rules] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def rules(self, origin: str) -> Rules:
        """The origin's rules; raises FetchError 'refused' when its address may not be used."""
        cached = self._rules.get(origin)
        if cached is not None and cached.expires > self._clock():
            return cached
        lock = self._locks.setdefault(origin, asyncio.Lock())
        async with lock:
            cached = self._rules.get(origin)
            if cached is None or cached.expires <= self._clock():
                cached = await self._fetch(origin)
                self._rules[origin] = cached
            return cached

    async def _fetch(self, origin: str) -> Rules:
        url = origin + "/robots.txt"
        try:
            for _ in range(MAX_REDIRECTS + 1):
                response = await self._get(url, ROBOTS_MAX_BYTES)
                if not response.is_redirect:
                    break
                assert response.location is not None
                following = canonical(response.location, url)
                if following is None:
                    return self._unreachable(f"unreachable (redirect to {response.location!r})")
                url = following
            else:
                return self._unreachable("unreachable (too many redirects)")
        except FetchError as exc:
            if exc.kind == "refused":  # the address guard, not the site: the page is refused
                raise
            return self._unreachable(f"unreachable: {exc.problem}", exc.kind)
        status = response.status
        if 200 <= status < 300:
            text = response.body.decode("utf-8", errors="replace")  # RFC 9309: UTF-8
            return Rules("rules", Protego.parse(text), allow_all=False)
        if 400 <= status < 500:
            return Rules(f"unavailable ({status})")
        return self._unreachable(f"unreachable ({status})")

    def _unreachable(self, status: str, failure: str | None = None) -> Rules:
        expires = self._clock() + UNREACHABLE_TTL
        return Rules(status, allow_all=False, expires=expires, failure=failure)
