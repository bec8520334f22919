"""Synthetic findings, documents and stores for the store and report tests. Never real data:
identifiers come from tests/synthetic.py, fingerprints from a test key."""

from __future__ import annotations

import hashlib
import random
from collections import Counter
from collections.abc import Sequence

from leakwatch.detect.redact import Fingerprinter, mask
from leakwatch.models import Category, DocumentFacts, FetchInfo, Finding, Severity
from leakwatch.store import Location, Store
from tests import synthetic

FINGERPRINTER = Fingerprinter(b"test-key")
STARTED = "2026-11-28T09:00:00+00:00"


def finding(source: str, value: str, type_: str = "kr.rrn", *, reveal: bool = False) -> Finding:
    """A finding as the detector makes it (`value` kept only when `reveal`)."""
    digits = "".join(ch for ch in value if ch.isdigit())
    return Finding(
        source=source,
        type=type_,
        pattern=type_,
        label="resident registration number",
        severity=Severity.CRITICAL,
        masked=mask(value, (7, 0)),
        fingerprint=FINGERPRINTER.fingerprint(type_, digits),
        confidence=0.95,
        evidence=("checksum", "context:身份证号"),
        line=1,
        column=1,
        context=f"身份证号：{mask(value, (7, 0))}",
        value=value if reveal else None,
    )


def rrns(rng: random.Random, count: int) -> list[str]:
    return [synthetic.rrn(rng) for _ in range(count)]


def page(
    url: str,
    *,
    category: Category | None = Category.TRADING,
    published: str | None = None,
    findings: Sequence[Finding] = (),
    sha256: str | None = None,
    fetched_at: str = "2026-11-28T10:00:00+00:00",
    country: str | None = None,
    address: str | None = None,
    site: str | None = None,
) -> DocumentFacts:
    """The facts of a crawled page (its content hash, unless given, is its URL's: pages at
    different URLs have different content)."""
    host = site or url.split("/")[2]
    if sha256 is None:
        sha256 = hashlib.sha256(url.encode()).hexdigest()
    by_type = dict(Counter(f.type for f in findings))
    return DocumentFacts(
        source=url,
        media_type="text/html",
        size=1000,
        encoding="utf-8",
        encoding_source="meta",
        category=category,
        category_evidence=("sale:出售",) if category is Category.TRADING else (),
        published=published,
        published_source="meta" if published else None,
        findings=len(findings),
        findings_by_type=by_type,
        content_sha256=sha256,
        fetch=FetchInfo(
            url=url,
            final_url=url,
            site=host,
            target=f"https://{host}/",
            depth=1,
            status=200,
            fetched_at=fetched_at,
            address=address,
            country=country,
        ),
    )


def local(
    path: str,
    *,
    category: Category | None,
    findings: Sequence[Finding] = (),
    sha256: str = "b" * 64,
) -> DocumentFacts:
    by_type = dict(Counter(f.type for f in findings))
    return DocumentFacts(
        source=path,
        media_type="text/plain",
        size=100,
        encoding="utf-8",
        encoding_source="utf-8",
        category=category,
        category_evidence=(),
        published=None,
        published_source=None,
        findings=len(findings),
        findings_by_type=by_type,
        content_sha256=sha256,
    )


def start(store: Store, targets: Sequence[str] = (), **kwargs: object) -> int:
    return store.start_run(
        started=STARTED,
        version="test",
        arguments=["scan", *targets],
        targets=targets,
        settings={"jobs": 1},
        **kwargs,  # type: ignore[arg-type]
    )


def kisa_store(path: Location) -> Location:
    """KISA's figures: 4,297 cases in 2020; in 2023 1,522 exposure pages and 3,892 trading
    posts (5,414 cases, 71.9% trading, +26.0% on 2020), on Greater-China sites, plus a few
    findings so that records count too. Through the real schema, in one batch."""
    rng = random.Random(2023)
    hosts = ("bbs.example.cn", "forum.example.tw", "shop.example.hk")
    with Store.open(path, ip_country=lambda address: None) as store:
        run = start(store, ["https://bbs.example.cn/"])
        with store.batch():
            plan = [
                (2020, Category.TRADING, 2_500),
                (2020, Category.EXPOSURE, 1_797),
                (2023, Category.EXPOSURE, 1_522),
                (2023, Category.TRADING, 3_892),
            ]
            n = 0
            for year, category, count in plan:
                for _ in range(count):
                    n += 1
                    host = hosts[n % 3]
                    url = f"https://{host}/thread/{n}"
                    found = [finding(url, value) for value in rrns(rng, 1)] if n % 100 == 0 else []
                    facts = page(
                        url,
                        category=category,
                        published=f"{year}-0{1 + n % 9}-15",
                        findings=found,
                        sha256=f"{n:064x}",
                    )
                    store.record(run, findings=found, document=facts)
            # Pages that are not cases must not count.
            for i in range(50):
                url = f"https://bbs.example.cn/index/{i}"
                store.record(run, document=page(url, category=None, published="2023-03-01"))
        store.finish_run(run, finished=STARTED, outcome="completed", summary={"documents": n})
    return path
