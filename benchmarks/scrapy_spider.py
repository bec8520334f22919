"""The Scrapy side of bench_crawl.py: follow every link of the benchmark site, nothing else.

    python -m scrapy runspider benchmarks/scrapy_spider.py -a urls=URL,URL -a out=FILE \
        -s ROBOTSTXT_OBEY=True -s LOG_LEVEL=INFO ...

Scrapy's defaults otherwise (16 requests in flight, 8 per domain, no delay, 2 retries, 180 s
timeout), as bench_crawl.py passes them. Each response's links are extracted with Scrapy's
selector and followed on the same host (the site's links are relative); Scrapy's duplicate
filter keeps each URL to one request (but a start URL's, which it asks for twice). At the
end it writes the number of distinct pages parsed and Scrapy's stats to `out` as JSON.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import scrapy  # type: ignore[import-not-found]


class SiteSpider(scrapy.Spider):  # type: ignore[misc]
    name = "benchmark-site"

    def __init__(self, urls: str = "", out: str = "", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.start_urls = urls.split(",")
        self.allowed_domains = sorted({urlsplit(u).hostname or "" for u in self.start_urls})
        self.out = Path(out)
        self.pages: set[str] = set()

    def parse(self, response: Any) -> Iterator[Any]:
        # Scrapy asks for a start URL twice (start requests bypass its duplicate filter, so a
        # link back to one is new to it): each page is counted once, as leakwatch's are.
        self.pages.add(response.url)
        for href in response.css("a::attr(href)").getall():
            yield response.follow(href, callback=self.parse)

    def closed(self, reason: str) -> None:
        stats = self.crawler.stats.get_stats()
        data = {"pages": len(self.pages), "reason": reason, "stats": stats}
        self.out.write_text(json.dumps(data, default=str))
