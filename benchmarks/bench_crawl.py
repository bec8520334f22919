"""Crawl throughput and peak memory: leakwatch next to a plain sequential httpx loop.

    python benchmarks/bench_crawl.py                  # sites of 1,000 and 10,000 pages
    python benchmarks/bench_crawl.py --pages 2000     # one site of 2,000 pages
    python benchmarks/bench_crawl.py --repeat 3       # best of 3 runs of each tool

A local server (its own process, asyncio, HTTP/1.1 keep-alive) serves a generated site:
pages of about 30 KB of Chinese prose in HTML, look-alike numbers on a quarter of the lines
and Korean identifiers on about 1% (the lines of corpus.py), each page linking to ten
children (a 10-ary tree, so 10,000 pages lie within depth 4), its parent and a random page.
leakwatch crawls it as users would, `leakwatch scan URL --delay 0 --concurrency 32 -f jsonl
-o OUT -q`, detection on, recording into a fresh store; the baseline (`--run-baseline`)
fetches the same URLs with one `httpx.Client` in a loop and does nothing with them. Both
run as subprocesses, one after the other, timed from start to exit (interpreter start-up
included); peak memory is the whole process tree's, sampled from /proc (see
bench_detect.measure).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shlex
import subprocess
import sys
import time
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


async def serve(port_file: Path, pages: int, seed: int) -> None:
    bodies = templates(seed)
    rng = random.Random(seed)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                path = head.split(b" ", 2)[1].decode()
                number = int(path[3:]) if path.startswith("/p/") and path[3:].isdigit() else -1
                if 0 <= number < pages:
                    status, body = b"200 OK", page(number, pages, bodies, rng)
                else:
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

    server = await asyncio.start_server(handle, "127.0.0.1", 0, backlog=1024)
    port_file.write_text(str(server.sockets[0].getsockname()[1]))
    async with server:
        await server.serve_forever()


class Server:
    """The site in its own process, so it never competes with the measured one's GIL."""

    def __init__(self, pages: int, seed: int) -> None:
        port_file = corpus.DATA / f"crawl-port-{os.getpid()}"
        port_file.unlink(missing_ok=True)
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--serve", str(port_file), "--pages", str(pages),
             "--seed", str(seed)]
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while not port_file.exists() or not port_file.read_text():
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise SystemExit("the benchmark site did not start")
            time.sleep(0.05)
        self.base = f"http://127.0.0.1:{port_file.read_text()}"
        port_file.unlink()

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


CRAWL_OPTIONS = ["--delay", "0", "--concurrency", "32", "--depth", "10"]


def run_leakwatch(
    command: list[str], base: str, pages: int, env: dict[str, str]
) -> dict[str, float]:
    out = corpus.DATA / "crawl-out.jsonl"
    db = corpus.DATA / "crawl-store.db"  # a fresh store each run: recording is measured too
    for stale in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")):
        stale.unlink(missing_ok=True)
    args = [*command, "scan", f"{base}/p/0", *CRAWL_OPTIONS, "--max-pages", str(pages),
            "-f", "jsonl", "-o", str(out), "-q", "--db", str(db)]  # fmt: skip
    seconds, rss = measure(args, corpus.DATA / "crawl-stdout.txt", env)
    documents = findings = 0
    with out.open(encoding="utf-8") as lines:
        for line in lines:
            kind = json.loads(line).get("kind")
            documents += kind == "document"
            findings += kind == "finding"
    return {"seconds": seconds, "rss": rss, "pages": documents, "findings": findings}


def run_plain(base: str, pages: int, env: dict[str, str]) -> dict[str, float]:
    out = corpus.DATA / "crawl-baseline.json"
    args = [sys.executable, __file__, "--run-baseline", base, "--pages", str(pages)]
    seconds, rss = measure(args, out, env)
    result = json.loads(out.read_text())
    return {"seconds": seconds, "rss": rss, "pages": result["pages"], "findings": 0}


def best(runs: list[dict[str, float]]) -> dict[str, float]:
    """The fastest run, with the highest peak memory of all."""
    return min(runs, key=lambda r: r["seconds"]) | {"rss": max(r["rss"] for r in runs)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, action="append", help="site size (repeatable; "
                        "default: 1000 and 10000)")  # fmt: skip
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=1, help="runs of each tool; best is kept")
    parser.add_argument("--leakwatch", metavar="CMD", help="leakwatch command")
    parser.add_argument("--json", metavar="FILE", type=Path, help="also write results as JSON")
    parser.add_argument("--serve", metavar="PORTFILE", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--run-baseline", metavar="BASE", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    sizes = args.pages or [1000, 10000]
    if args.serve:
        asyncio.run(serve(args.serve, sizes[-1], args.seed))
        return 0
    if args.run_baseline:
        return run_baseline(args.run_baseline, sizes[-1])

    corpus.DATA.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env.setdefault("LEAKWATCH_HOME", str(corpus.DATA / "leakwatch-home"))
    command = leakwatch_command(args.leakwatch)
    print(machine())
    print(source_state())
    print(f"site: {CHILDREN}-ary tree of ~{PAGE_BYTES // 1000} KB pages, seed {args.seed}")
    shown = [*command, "scan", "URL", *CRAWL_OPTIONS, "--max-pages", "N", "-f", "jsonl"]
    print(f"leakwatch: {shlex.join([*shown, '-o', 'OUT', '-q'])}")
    print(f"baseline:  {sys.executable} {__file__} --run-baseline URL --pages N")
    rows = []
    for pages in sizes:
        server = Server(pages, args.seed)
        try:
            leak_runs, plain_runs = [], []
            for i in range(args.repeat):
                print(
                    f"  {pages} pages, run {i + 1}/{args.repeat}: leakwatch ...",
                    file=sys.stderr,
                    flush=True,
                )
                leak_runs.append(run_leakwatch(command, server.base, pages, env))
                print(
                    f"  {pages} pages, run {i + 1}/{args.repeat}: baseline ...",
                    file=sys.stderr,
                    flush=True,
                )
                plain_runs.append(run_plain(server.base, pages, env))
        finally:
            server.close()
        rows.append((pages, best(leak_runs), best(plain_runs)))

    print()
    header = f"{'tool':<30} {'seconds':>8} {'pages/s':>8} {'peak RSS MB':>12} {'findings':>9}"
    print(f"{'pages':>7}  {header}")
    for pages, leak, plain in rows:
        for name, result in (("leakwatch (detection on)", leak), ("baseline (fetch only)", plain)):
            rate = result["pages"] / result["seconds"]
            print(f"{pages:>7,}  {name:<30} {result['seconds']:>8.2f} {rate:>8.1f} "
                  f"{result['rss'] / MB:>12.1f} {int(result['findings']):>9,}")  # fmt: skip
        if leak["pages"] != pages or plain["pages"] != pages:
            print(f"  WARNING: expected {pages} pages, got {leak['pages']} / {plain['pages']}")
    pages, leak, plain = rows[-1]
    rate = leak["pages"] / leak["seconds"]
    ratio = rate / (plain["pages"] / plain["seconds"])
    print(f"leakwatch/baseline on {pages:,} pages: {ratio:.2f}x the pages/s")
    print("\ntargets:")
    peak = max(r[1]["rss"] for r in rows) / MB
    verdict = {True: "ok", False: "MISSED"}
    fast = rate >= TARGET_PAGES_PER_S
    print(f"  pages/s >= {TARGET_PAGES_PER_S:.0f}    {rate:8.1f}  {verdict[fast]}")
    print(f"  peak RSS < {TARGET_RSS_MB:.0f} MB  {peak:8.1f}  {verdict[peak < TARGET_RSS_MB]}")
    if len(rows) > 1:
        first, last = rows[0], rows[-1]
        print(f"  memory flat in pages: {first[0]:,} pages {first[1]['rss'] / MB:.1f} MB, "
              f"{last[0]:,} pages {last[1]['rss'] / MB:.1f} MB")  # fmt: skip
    if args.json:
        results = [{"pages": p, "leakwatch": lw, "baseline": b} for p, lw, b in rows]
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
