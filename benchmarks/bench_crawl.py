"""Crawl throughput: leakwatch next to a plain httpx loop, and next to Scrapy on slow sites.

    python benchmarks/bench_crawl.py                       # every scenario (~6 minutes)
    python benchmarks/bench_crawl.py --scenario throughput # sites of 1,000 and 10,000 pages
    python benchmarks/bench_crawl.py --scenario one-host --scenario slow-pages
    python benchmarks/bench_crawl.py --pages 2000          # throughput on one site size
    python benchmarks/bench_crawl.py --repeat 3            # best of 3 runs of each tool

A local server (its own process, asyncio, HTTP/1.1 keep-alive) serves a generated site:
pages of about 30 KB of Chinese prose in HTML, look-alike numbers on a quarter of the lines
and Korean identifiers on about 1% (the lines of corpus.py), each page linking to ten
children (a 10-ary tree), its parent and a random page of the same host. It can answer on
many loopback addresses (127.0.0.1, 127.0.0.2, ...: one host each, one tree each), wait
before every answer (latency) and make a share of the pages answer much later.

Scenarios:
- throughput: no latency, leakwatch `--delay 0 --concurrency 32` (detection on, recording
  into a fresh store) next to one `httpx.Client` fetching the same URLs in a loop and
  doing nothing with them. Also leakwatch's main-process CPU per page.
- one-host, forty-hosts, slow-pages: 50 ms before every answer; one host of 1,000 pages,
  40 hosts of 200 pages, and one host of 500 pages of which 2% answer after 20 s. leakwatch
  `--delay 0 --per-host 8` (its other settings default: 16 requests in flight) next to
  Scrapy with its defaults (16 in flight, CONCURRENT_REQUESTS_PER_DOMAIN=8, no delay)
  following the same links (scrapy_spider.py), robots.txt obeyed by both, on Twisted's
  epoll reactor (on its default asyncio reactor Scrapy 2.19 does not hold the per-domain
  limit) and LOG_LEVEL=INFO; and leakwatch with the default `--per-host 1` for reference
  (not on slow-pages, where it waits 20 s ten times). Scrapy comes with `pip install -e
  '.[bench]'`; without it those rows are skipped.

Every tool runs as a subprocess, one after the other, timed from start to exit
(interpreter start-up included); pages/s is pages received / that time. Peak memory is the
whole process tree's, sampled from /proc (see bench_detect.measure). TCP connections are
counted by the server.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import random
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import corpus
from bench_detect import leakwatch_command, machine, measure, source_state

TARGET_PAGES_PER_S = 200.0
TARGET_RSS_MB = 300.0
PAGE_BYTES = 30_000
TEMPLATES = 64
CHILDREN = 10
MB = 1_000_000
HERE = Path(__file__).resolve().parent
SCRAPY_SETTINGS = {
    "ROBOTSTXT_OBEY": "True",
    "CONCURRENT_REQUESTS_PER_DOMAIN": "8",
    "DOWNLOAD_DELAY": "0",
    "LOG_LEVEL": "INFO",
    "TWISTED_REACTOR": "twisted.internet.epollreactor.EPollReactor",
}


@dataclass(frozen=True)
class Scenario:
    name: str
    title: str
    hosts: int
    pages: int  # per host
    latency: float  # seconds before every answer
    slow_share: float = 0.0  # of pages answering after slow_seconds instead
    slow_seconds: float = 20.0
    per_host_one: bool = True  # also run leakwatch --per-host 1


SCENARIOS = {
    s.name: s
    for s in (
        Scenario("one-host", "one host, 1,000 pages, 50 ms latency", 1, 1000, 0.05),
        Scenario("forty-hosts", "40 hosts of 200 pages, 50 ms latency", 40, 200, 0.05),
        Scenario(
            "slow-pages",
            "one host, 500 pages, 50 ms latency, 2% answering after 20 s",
            1,
            500,
            0.05,
            slow_share=0.02,
            per_host_one=False,
        ),
    )
}


# -- the site ---------------------------------------------------------------------------------


def templates(seed: int) -> list[bytes]:
    """Page bodies without their links: ~30 KB of corpus lines as paragraphs."""
    rng = random.Random(seed)
    bodies = []
    for n in range(TEMPLATES):
        parts = [f"<h1>帖子 {n}</h1>"]
        size = 0
        while size < PAGE_BYTES:
            line, _ = corpus.make_line(rng)
            paragraph = f"<p>{line.strip()}</p>\n"
            parts.append(paragraph)
            size += len(paragraph.encode("utf-8"))
        bodies.append("".join(parts).encode("utf-8"))
    return bodies


def page(number: int, pages: int, bodies: list[bytes], rng: random.Random) -> bytes:
    links = [c for c in range(number * CHILDREN + 1, number * CHILDREN + CHILDREN + 1) if c < pages]
    links += [max(0, (number - 1) // CHILDREN), rng.randrange(pages)]
    nav = "".join(f'<a href="/p/{c}">帖子 {c}</a> ' for c in links)
    head = (
        f"<!doctype html><html><head><meta charset=utf-8><title>论坛 {number}</title></head><body>"
    )
    return head.encode() + bodies[number % TEMPLATES] + f"<nav>{nav}</nav></body></html>".encode()


async def serve(port_file: Path, options: argparse.Namespace) -> None:
    pages, seed = options.pages[-1], options.seed
    bodies = templates(seed)
    rng = random.Random(seed)
    slow = set(random.Random(seed + 1).sample(range(1, pages), round(pages * options.slow_share)))
    counts = {"connections": 0, "requests": 0}

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        counts["connections"] += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                counts["requests"] += 1
                path = head.split(b" ", 2)[1].decode()
                number = int(path[3:]) if path.startswith("/p/") and path[3:].isdigit() else -1
                if path == "/__stats":
                    status, body = b"200 OK", json.dumps(counts).encode()
                elif 0 <= number < pages:
                    await asyncio.sleep(options.slow_seconds if number in slow else options.latency)
                    status, body = b"200 OK", page(number, pages, bodies, rng)
                else:
                    await asyncio.sleep(options.latency)
                    status, body = b"404 Not Found", b"not found"
                writer.write(
                    b"HTTP/1.1 " + status + b"\r\nContent-Type: text/html; charset=utf-8\r\n"
                    b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    first = await asyncio.start_server(handle, "127.0.0.1", 0, backlog=1024)
    port = first.sockets[0].getsockname()[1]
    servers = [first]
    for n in range(2, options.hosts + 1):  # the same port on 127.0.0.2, 127.0.0.3, ...
        servers.append(await asyncio.start_server(handle, f"127.0.0.{n}", port, backlog=1024))
    port_file.write_text(str(port))
    await asyncio.gather(*(s.serve_forever() for s in servers))


class Server:
    """The site in its own process, so it never competes with the measured one's GIL."""

    def __init__(self, pages: int, seed: int, scenario: Scenario | None = None) -> None:
        port_file = corpus.DATA / f"crawl-port-{os.getpid()}"
        port_file.unlink(missing_ok=True)
        extra = []
        if scenario is not None:
            extra = ["--hosts", str(scenario.hosts), "--latency", str(scenario.latency),
                     "--slow-share", str(scenario.slow_share),
                     "--slow-seconds", str(scenario.slow_seconds)]  # fmt: skip
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--serve", str(port_file), "--pages", str(pages),
             "--seed", str(seed), *extra]
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while not port_file.exists() or not port_file.read_text():
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise SystemExit("the benchmark site did not start")
            time.sleep(0.05)
        self.port = int(port_file.read_text())
        self.base = f"http://127.0.0.1:{self.port}"
        port_file.unlink()

    def starts(self, hosts: int) -> list[str]:
        return [f"http://127.0.0.{n}:{self.port}/p/0" for n in range(1, hosts + 1)]

    def connections(self) -> int:
        """TCP connections accepted so far, this look's own included."""
        import httpx

        return int(httpx.get(f"{self.base}/__stats").json()["connections"])

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


# -- the tools --------------------------------------------------------------------------------


def run_baseline(base: str, pages: int) -> int:
    import httpx

    fetched = size = 0
    with httpx.Client() as client:
        for number in range(pages):
            response = client.get(f"{base}/p/{number}")
            fetched += response.status_code == 200
            size += len(response.content)
    print(json.dumps({"pages": fetched, "bytes": size}))
    return 0


THROUGHPUT_OPTIONS = ["--delay", "0", "--concurrency", "32", "--depth", "10"]


def run_leakwatch(
    command: list[str], starts: list[str], pages: int, options: list[str], env: dict[str, str]
) -> dict[str, float]:
    out = corpus.DATA / "crawl-out.jsonl"
    db = corpus.DATA / "crawl-store.db"  # a fresh store each run: recording is measured too
    usage = corpus.DATA / "crawl-usage.json"
    for stale in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm"), usage):
        stale.unlink(missing_ok=True)
    args = [*starts, *options, "--max-pages", str(pages), "-f", "jsonl", "-o", str(out), "-q",
            "--db", str(db)]  # fmt: skip
    if command == leakwatch_command(None):  # CPU of the main process and of its workers
        full = [sys.executable, str(HERE / "cpu_meter.py"), str(usage), "scan", *args]
    else:
        full = [*command, "scan", *args]
    seconds, rss = measure(full, corpus.DATA / "crawl-stdout.txt", env)
    documents = findings = 0
    with out.open(encoding="utf-8") as lines:
        for line in lines:
            kind = json.loads(line).get("kind")
            documents += kind == "document"
            findings += kind == "finding"
    result = {"seconds": seconds, "rss": rss, "pages": documents, "findings": findings}
    if usage.exists():
        cpu = json.loads(usage.read_text())
        result |= {"main_cpu": cpu["main"], "workers_cpu": cpu["workers"]}
    return result


def run_plain(base: str, pages: int, env: dict[str, str]) -> dict[str, float]:
    out = corpus.DATA / "crawl-baseline.json"
    args = [sys.executable, __file__, "--run-baseline", base, "--pages", str(pages)]
    seconds, rss = measure(args, out, env)
    result = json.loads(out.read_text())
    return {"seconds": seconds, "rss": rss, "pages": result["pages"], "findings": 0}


def run_scrapy(starts: list[str], env: dict[str, str]) -> dict[str, float]:
    out = corpus.DATA / "crawl-scrapy.json"
    out.unlink(missing_ok=True)
    settings = [item for k, v in SCRAPY_SETTINGS.items() for item in ("-s", f"{k}={v}")]
    args = [sys.executable, "-m", "scrapy", "runspider", str(HERE / "scrapy_spider.py"),
            "-a", f"urls={','.join(starts)}", "-a", f"out={out}", *settings]  # fmt: skip
    started = time.perf_counter()
    with (corpus.DATA / "crawl-scrapy.log").open("wb") as log:
        proc = subprocess.Popen(
            args, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=corpus.DATA
        )
        _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0 or not out.exists():
        raise SystemExit(f"scrapy failed: see {corpus.DATA / 'crawl-scrapy.log'}")
    result = json.loads(out.read_text())
    cpu = usage.ru_utime + usage.ru_stime
    return {"seconds": seconds, "rss": usage.ru_maxrss * 1024, "pages": result["pages"],
            "findings": 0, "main_cpu": cpu}  # fmt: skip


def best(runs: list[dict[str, float]]) -> dict[str, float]:
    """The fastest run, with the highest peak memory of all."""
    return min(runs, key=lambda r: r["seconds"]) | {"rss": max(r["rss"] for r in runs)}


def median_of(runs: list[dict[str, float]]) -> dict[str, float]:
    """The run of median time (of an odd number), with the highest peak memory of all."""
    ordered = sorted(runs, key=lambda r: r["seconds"])
    return ordered[len(ordered) // 2] | {"rss": max(r["rss"] for r in runs)}


def cpu_note(result: dict[str, float], pages: int) -> str:
    if "main_cpu" not in result or not pages:
        return ""
    note = f"main {1000 * result['main_cpu'] / pages:.2f}"
    if "workers_cpu" in result:
        note += f" + workers {1000 * result['workers_cpu'] / pages:.2f}"
    return note + " ms CPU/page"


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# -- scenarios --------------------------------------------------------------------------------


def throughput(args: argparse.Namespace, command: list[str], env: dict[str, str]) -> dict:
    sizes = args.pages or [1000, 10000]
    rows = []
    for pages in sizes:
        server = Server(pages, args.seed)
        try:
            leak_runs, plain_runs = [], []
            for i in range(args.repeat):
                say(f"  throughput, {pages} pages, run {i + 1}/{args.repeat}: leakwatch ...")
                leak_runs.append(
                    run_leakwatch(command, [f"{server.base}/p/0"], pages, THROUGHPUT_OPTIONS, env)
                )
                say(f"  throughput, {pages} pages, run {i + 1}/{args.repeat}: baseline ...")
                plain_runs.append(run_plain(server.base, pages, env))
        finally:
            server.close()
        rows.append((pages, best(leak_runs), best(plain_runs)))
    fixed = fixed_cost(command, env, args.seed)

    print(f"\nthroughput: leakwatch {shlex.join(['scan', 'URL', *THROUGHPUT_OPTIONS])} ... "
          f"next to a sequential httpx loop (fetch only); best of {args.repeat}")  # fmt: skip
    header = f"{'tool':<30} {'seconds':>8} {'pages/s':>8} {'peak RSS MB':>12} {'findings':>9}"
    print(f"{'pages':>7}  {header}")
    for pages, leak, plain in rows:
        for name, result in (("leakwatch (detection on)", leak), ("baseline (fetch only)", plain)):
            rate = result["pages"] / result["seconds"]
            print(f"{pages:>7,}  {name:<30} {result['seconds']:>8.2f} {rate:>8.1f} "
                  f"{result['rss'] / MB:>12.1f} {int(result['findings']):>9,}  "
                  f"{cpu_note(result, int(result['pages']))}")  # fmt: skip
        if leak["pages"] != pages or plain["pages"] != pages:
            print(f"  WARNING: expected {pages} pages, got {leak['pages']} / {plain['pages']}")
    pages, leak, plain = rows[-1]
    rate = leak["pages"] / leak["seconds"]
    ratio = rate / (plain["pages"] / plain["seconds"])
    print(f"leakwatch/baseline on {pages:,} pages: {ratio:.2f}x the pages/s")
    if "main_cpu" in leak and fixed is not None:
        per_page = 1000 * (leak["main_cpu"] - fixed) / max(1, leak["pages"] - 1)
        print(f"leakwatch main process: {per_page:.2f} ms CPU per page beyond its start "
              f"({fixed:.2f} s: a 1-page crawl's)")  # fmt: skip
    print("targets:")
    peak = max(r[1]["rss"] for r in rows) / MB
    verdict = {True: "ok", False: "MISSED"}
    fast = rate >= TARGET_PAGES_PER_S
    print(f"  pages/s >= {TARGET_PAGES_PER_S:.0f}    {rate:8.1f}  {verdict[fast]}")
    print(f"  peak RSS < {TARGET_RSS_MB:.0f} MB  {peak:8.1f}  {verdict[peak < TARGET_RSS_MB]}")
    if len(rows) > 1:
        first, last = rows[0], rows[-1]
        print(f"  memory flat in pages: {first[0]:,} pages {first[1]['rss'] / MB:.1f} MB, "
              f"{last[0]:,} pages {last[1]['rss'] / MB:.1f} MB")  # fmt: skip
    return {"rows": [{"pages": p, "leakwatch": lw, "baseline": b} for p, lw, b in rows]}


def fixed_cost(command: list[str], env: dict[str, str], seed: int) -> float | None:
    """The main process's CPU for a 1-page crawl: start-up and set-up, not pages."""
    server = Server(10, seed)
    try:
        result = run_leakwatch(command, [f"{server.base}/p/0"], 1, THROUGHPUT_OPTIONS, env)
    finally:
        server.close()
    return result.get("main_cpu")


def versus_scrapy(
    scenario: Scenario, args: argparse.Namespace, command: list[str], env: dict[str, str]
) -> dict:
    have_scrapy = importlib.util.find_spec("scrapy") is not None
    tools: list[tuple[str, list[str] | None]] = [
        ("leakwatch --per-host 8", ["--delay", "0", "--per-host", "8", "--depth", "10"]),
        ("scrapy", None),
    ]
    if scenario.per_host_one:
        tools.append(("leakwatch --per-host 1", ["--delay", "0", "--depth", "10"]))
    if not have_scrapy:
        tools = [t for t in tools if t[1] is not None]
    server = Server(scenario.pages, args.seed, scenario)
    starts = server.starts(scenario.hosts)
    runs: dict[str, list[dict[str, float]]] = {name: [] for name, _ in tools}
    try:
        for i in range(args.repeat):
            for name, options in tools:  # in turn, so all see the same machine
                say(f"  {scenario.name}, run {i + 1}/{args.repeat}: {name} ...")
                before = server.connections()
                if options is None:
                    result = run_scrapy(starts, env)
                else:
                    result = run_leakwatch(command, starts, scenario.pages, options, env)
                result["connections"] = server.connections() - before - 1  # not the look's
                runs[name].append(result)
    finally:
        server.close()
    expected = scenario.hosts * scenario.pages
    print(f"\n{scenario.name}: {scenario.title}; median of {args.repeat}")
    print(f"  {'tool':<24} {'seconds':>8} {'pages':>6} {'pages/s':>8} {'TCP conns':>9} "
          f"{'peak RSS MB':>11}  CPU")  # fmt: skip
    medians = {name: median_of(r) for name, r in runs.items()}
    for name, result in medians.items():
        rate = result["pages"] / result["seconds"]
        print(f"  {name:<24} {result['seconds']:>8.2f} {int(result['pages']):>6} {rate:>8.1f} "
              f"{int(result['connections']):>9} {result['rss'] / MB:>11.1f}  "
              f"{cpu_note(result, int(result['pages']))}")  # fmt: skip
        if result["pages"] != expected:
            print(f"  WARNING: {name} got {int(result['pages'])} pages of {expected}")
    if have_scrapy:
        lw, sc = medians["leakwatch --per-host 8"], medians["scrapy"]
        ratio = (lw["pages"] / lw["seconds"]) / (sc["pages"] / sc["seconds"])
        pairs = [
            (a["pages"] / a["seconds"]) / (b["pages"] / b["seconds"])
            for a, b in zip(runs["leakwatch --per-host 8"], runs["scrapy"], strict=True)
        ]
        spread = ", ".join(f"{p:.2f}" for p in pairs)
        print(f"  leakwatch --per-host 8 / scrapy: {ratio:.2f}x the pages/s (runs: {spread})")
    else:
        print("  scrapy is not installed: pip install -e '.[bench]' to compare with it")
    return {"scenario": scenario.name, "runs": runs}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenario", action="append", choices=["throughput", *SCENARIOS],
                        help="what to run (repeatable; default: all)")  # fmt: skip
    parser.add_argument("--pages", type=int, action="append", help="throughput: site size "
                        "(repeatable; default: 1000 and 10000)")  # fmt: skip
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=1, help="runs of each tool")
    parser.add_argument("--leakwatch", metavar="CMD", help="leakwatch command")
    parser.add_argument("--json", metavar="FILE", type=Path, help="also write results as JSON")
    parser.add_argument("--serve", metavar="PORTFILE", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--hosts", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--latency", type=float, default=0.0, help=argparse.SUPPRESS)
    parser.add_argument("--slow-share", type=float, default=0.0, help=argparse.SUPPRESS)
    parser.add_argument("--slow-seconds", type=float, default=20.0, help=argparse.SUPPRESS)
    parser.add_argument("--run-baseline", metavar="BASE", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        args.pages = args.pages or [1000]
        asyncio.run(serve(args.serve, args))
        return 0
    if args.run_baseline:
        return run_baseline(args.run_baseline, (args.pages or [1000])[-1])

    corpus.DATA.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env.setdefault("LEAKWATCH_HOME", str(corpus.DATA / "leakwatch-home"))
    command = leakwatch_command(args.leakwatch)
    print(machine())
    print(source_state())
    print(f"site: {CHILDREN}-ary tree of ~{PAGE_BYTES // 1000} KB pages, seed {args.seed}")
    if importlib.util.find_spec("scrapy") is not None:
        import scrapy

        print(f"scrapy {scrapy.__version__}: python -m scrapy runspider "
              f"{HERE / 'scrapy_spider.py'} -a urls=... -a out=... "
              f"{' '.join(f'-s {k}={v}' for k, v in SCRAPY_SETTINGS.items())}")  # fmt: skip
    else:
        print("scrapy: not installed (pip install -e '.[bench]'); its rows are skipped")
    chosen = args.scenario or ["throughput", *SCENARIOS]
    results = []
    for name in chosen:
        if name == "throughput":
            results.append({"scenario": name, **throughput(args, command, env)})
        else:
            results.append(versus_scrapy(SCENARIOS[name], args, command, env))
    print(f"\n{source_state()}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
