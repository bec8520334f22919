"""Detection throughput and peak memory: leakwatch next to a naive baseline, same invocation.

    python benchmarks/bench_detect.py                 # 200 MB corpus, seed 1
    python benchmarks/bench_detect.py --repeat 3      # best of 3 runs of each tool
    python benchmarks/bench_detect.py --big           # 1 GB corpus: the memory target

Both tools run as subprocesses on the same seeded corpus (see corpus.py), one after the other,
so the ratio leakwatch/baseline holds even when the machine is busy. leakwatch runs as users
run it, `leakwatch scan FILE -f jsonl -o OUT -q`; the baseline is one Python `re` alternation
with python-stdnum and phonenumbers checks (`--run-baseline FILE`). Wall time includes
interpreter start-up; peak memory is the child's maximum resident set size (wait4 rusage).
Sizes and throughput are in decimal MB (10^6 bytes); memory too.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import re
import shlex
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import corpus

MB = corpus.MB
TARGET_MBS = 100.0
TARGET_RATIO = 5.0
TARGET_RSS_MB = 300.0
TARGET_STORE_COST = 0.20  # recording into the store, over --no-store
BIG_MB = 1000

# -- the naive baseline -----------------------------------------------------------------------
# What a competent engineer writes in an afternoon: one alternation, digit look-arounds
# instead of \b (which fails next to CJK), and each match checked with the usual libraries.
NAIVE = re.compile(
    r"(?<!\d)(?P<rrn>\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])[- ]?[1-8]\d{6})(?!\d)"
    r"|(?<![\d+])(?P<phone>(?:(?:\+|00)?82[- .]?(?:\(0\) ?|0)?|\(\+82\) ?0|0)"
    r"(?:1[016789]|2|3[1-3]|4[1-4]|5[1-5]|6[1-4])[- .]?\d{3,4}[- .]?\d{4})(?!\d)"
    r"|(?<![A-Za-z0-9])(?P<passport>[MSROD]\d{8}|[MSROD]\d{3}[A-Z]\d{4})(?![A-Za-z0-9])"
    r"|(?<!\d)(?P<licence>(?:1[1-9]|2[0-6]|28)-\d{2}-\d{6}-\d{2})(?!\d)"
    r"|(?<!\d)(?P<brn>\d{3}-\d{2}-\d{5})(?!\d)"
    r"|(?<!\d)(?P<card>\d{4}[- ]?\d{4}[- ]?\d{4}[- ]?\d{4})(?!\d)"
)


def run_baseline(path: str) -> int:
    """Scan `path` with the naive baseline; print a JSON line with the findings by type."""
    import phonenumbers
    from stdnum import luhn
    from stdnum.kr import brn, rrn

    def phone_ok(text: str) -> bool:
        try:
            return bool(phonenumbers.is_valid_number(phonenumbers.parse(text, "KR")))
        except phonenumbers.NumberParseException:
            return False

    checks = {
        "rrn": lambda t: rrn.is_valid(t.replace(" ", "")),
        "phone": phone_ok,
        "passport": lambda t: True,  # no public check
        "licence": lambda t: True,  # no public check
        "brn": brn.is_valid,
        "card": lambda t: luhn.is_valid(re.sub(r"[- ]", "", t)),
    }
    found: Counter[str] = Counter()
    candidates = 0
    with open(path, encoding="utf-8", errors="replace") as stream:
        # About 1 MiB of whole lines at a time: one regex call per MiB, not per line.
        for lines in iter(lambda: stream.readlines(1 << 20), []):
            for match in NAIVE.finditer("".join(lines)):
                candidates += 1
                kind = match.lastgroup
                assert kind is not None
                if checks[kind](match.group()):
                    found[kind] += 1
    result = {"findings": sum(found.values()), "by_type": dict(found), "candidates": candidates}
    print(json.dumps(result))
    return 0


# -- measuring --------------------------------------------------------------------------------


@dataclass(slots=True)
class Run:
    seconds: float
    peak_rss: int  # bytes
    findings: int
    by_type: dict[str, int] = field(default_factory=dict)


def measure(command: list[str], out: Path, env: dict[str, str]) -> tuple[float, int]:
    """Wall seconds and peak memory (bytes) of a child and all its descendants.

    leakwatch scans large files in worker processes, so the memory that counts is the sum
    over the process tree: sampled from /proc every 20 ms (and never below the main process's
    own peak, from wait4). Its stdout goes to `out`.
    """
    with out.open("wb") as stdout, tempfile.TemporaryFile() as stderr:
        started = time.perf_counter()
        proc = subprocess.Popen(command, stdout=stdout, stderr=stderr, env=env)
        peak_tree = 0
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            peak_tree = max(peak_tree, tree_rss(proc.pid))
            time.sleep(0.02)
        seconds = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode not in (0, 1):
            stderr.seek(0)
            message = stderr.read().decode("utf-8", "replace").strip()
            raise SystemExit(f"{shlex.join(command)} exited {proc.returncode}: {message}")
    return seconds, max(peak_tree, usage.ru_maxrss * 1024)  # Linux reports KiB


def tree_rss(root: int) -> int:
    """Resident bytes of process `root` and every descendant (Linux /proc)."""
    parents: dict[int, int] = {}
    resident: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            status = (entry / "status").read_text()
        except OSError:
            continue
        parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                resident[int(entry.name)] = int(line.split()[1]) * 1024
    family = {root}
    grew = True
    while grew:
        grew = False
        for pid, parent in parents.items():
            if parent in family and pid not in family:
                family.add(pid)
                grew = True
    return sum(resident.get(pid, 0) for pid in family)


def leakwatch_command(option: str | None) -> list[str]:
    if option:
        return shlex.split(option)
    script = Path(sys.executable).parent / "leakwatch"
    return [str(script)] if script.exists() else [sys.executable, "-m", "leakwatch"]


def run_leakwatch(
    base: list[str], path: Path, env: dict[str, str], *extra: str, store: bool = True
) -> Run:
    """leakwatch as users run it; recording into a fresh store unless `store` is False."""
    out = corpus.DATA / "leakwatch-out.jsonl"
    db = corpus.DATA / "bench-store.db"
    for stale in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")):
        stale.unlink(missing_ok=True)
    recording = ["--db", str(db)] if store else ["--no-store"]
    command = [*base, "scan", str(path), "-f", "jsonl", "-o", str(out), "-q", *recording, *extra]
    seconds, rss = measure(command, corpus.DATA / "leakwatch-stdout.txt", env)
    by_type: Counter[str] = Counter()
    with out.open(encoding="utf-8") as results:  # counted after the clock stopped
        for line in results:
            record = json.loads(line)
            if record.get("kind") == "finding":
                by_type[record["type"].removeprefix("kr.")] += 1
    return Run(seconds, rss, sum(by_type.values()), dict(by_type))


def run_naive(path: Path, env: dict[str, str]) -> Run:
    out = corpus.DATA / "baseline-out.json"
    command = [sys.executable, str(Path(__file__).resolve()), "--run-baseline", str(path)]
    seconds, rss = measure(command, out, env)
    result = json.loads(out.read_text())
    return Run(seconds, rss, result["findings"], result["by_type"])


def warm(path: Path) -> None:
    """Read the file once so every timed run finds it in the page cache."""
    with path.open("rb") as stream:
        while stream.read(8 << 20):
            pass


def best(runs: list[Run]) -> Run:
    """The fastest run, with the highest peak memory seen over all runs."""
    fastest = min(runs, key=lambda r: r.seconds)
    return Run(fastest.seconds, max(r.peak_rss for r in runs), fastest.findings, fastest.by_type)


# -- report -----------------------------------------------------------------------------------


def machine() -> str:
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return (
        f"machine: {os.cpu_count()} CPUs ({model}), Python {platform.python_version()} "
        f"({platform.python_implementation()}), {platform.system()} {platform.release()}, "
        f"load average {load}"
    )


def source_state() -> str:
    """The code being measured: git commit, plus a digest of uncommitted src/patterns changes."""
    root = Path(__file__).resolve().parent.parent

    def git(*args: str) -> str:
        done = subprocess.run(["git", "-C", str(root), *args], capture_output=True, check=False)
        return done.stdout.decode("utf-8", "replace").strip() if done.returncode == 0 else ""

    commit = git("rev-parse", "--short", "HEAD")
    if not commit:
        return "source: not a git checkout"
    changed = git("status", "--porcelain", "--", "src", "patterns")
    if not changed:
        return f"source: git {commit}, src/ and patterns/ clean"
    digest = hashlib.sha256(git("diff", "HEAD", "--", "src", "patterns").encode()).hexdigest()
    count = len(changed.splitlines())
    return f"source: git {commit} + {count} changed files in src/ patterns/ (diff {digest[:12]})"


def table(rows: list[tuple[str, Run]], size: int) -> str:
    header = ("tool", "MB", "seconds", "MB/s", "peak RSS MB", "findings")
    body = [
        (
            name,
            f"{size / MB:,.1f}",
            f"{run.seconds:.2f}",
            f"{size / MB / run.seconds:.1f}",
            f"{run.peak_rss / MB:.1f}",
            f"{run.findings:,}",
        )
        for name, run in rows
    ]
    widths = [max(len(r[i]) for r in [header, *body]) for i in range(len(header))]
    lines = []
    for r in [header, *body]:
        cells = [r[0].ljust(widths[0])] + [
            c.rjust(w) for c, w in zip(r[1:], widths[1:], strict=True)
        ]
        lines.append("  ".join(cells))
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def detect_in_process(path: Path) -> int:
    """The detector's own cost: the corpus fed to one DocumentScan in 1 MiB pieces, in this
    process, after start-up (no reading, output, store, classifier or workers)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))
    from leakwatch.collector import settle
    from leakwatch.detect.engine import Detector
    from leakwatch.detect.packs import load_packs
    from leakwatch.detect.redact import Fingerprinter

    detector = Detector(load_packs(), Fingerprinter(b"bench-detect-in-process"))
    text = path.read_text(encoding="utf-8")
    settle()
    started = time.perf_counter()
    scan = detector.open(str(path))
    findings = 0
    for i in range(0, len(text), 1 << 20):
        findings += len(scan.feed(text[i : i + (1 << 20)]))
    findings += len(scan.finish())
    seconds = time.perf_counter() - started
    print(machine())
    print(f"detector alone, one process: {findings:,} findings in {seconds:.2f} s, "
          f"{len(text.encode()) / MB / seconds:.1f} MB/s, "
          f"{seconds / max(1, findings) * 1e6:.1f} us a finding")  # fmt: skip
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=1, help="corpus seed (default 1)")
    parser.add_argument("--mb", type=int, default=200, help="corpus size in MB (default 200)")
    parser.add_argument("--big", action="store_true", help=f"use a {BIG_MB} MB corpus")
    parser.add_argument(
        "--dump", action="store_true", help="a CSV dump with identifiers on every line instead"
    )
    parser.add_argument(
        "--dense-prose",
        action="store_true",
        help="prose with one to three look-alikes on each look-alike line instead",
    )
    parser.add_argument("--repeat", type=int, default=1, help="runs of each tool; best is kept")
    parser.add_argument("--no-baseline", action="store_true", help="run leakwatch only")
    parser.add_argument("--leakwatch", metavar="CMD", help="leakwatch command (default: beside "
                        "this Python, else `python -m leakwatch`)")  # fmt: skip
    parser.add_argument("--json", metavar="FILE", type=Path, help="also write results as JSON")
    parser.add_argument(
        "--in-process",
        action="store_true",
        help="time the detector alone in this process (no output, no store, no workers)",
    )
    parser.add_argument("--run-baseline", metavar="FILE", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.run_baseline:
        return run_baseline(args.run_baseline)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")

    env = dict(os.environ)
    # Never write a fingerprint key into the real home folder from a benchmark.
    env.setdefault("LEAKWATCH_HOME", str(corpus.DATA / "leakwatch-home"))
    size_mb = BIG_MB if args.big else args.mb
    kind = "dump" if args.dump else "dense-prose" if args.dense_prose else "prose"
    path, meta = corpus.generate(args.seed, size_mb, kind=kind)
    size = path.stat().st_size
    if args.in_process:
        return detect_in_process(path)
    print(machine())
    source = source_state()
    print(source)
    print(corpus.describe(meta))
    base = leakwatch_command(args.leakwatch)
    print(f"leakwatch: {shlex.join([*base, 'scan', str(path), '-f', 'jsonl', '-o', 'OUT', '-q'])}")
    print(f"baseline:  {shlex.join([sys.executable, __file__, '--run-baseline', str(path)])}")
    sys.stdout.flush()

    # Start-up cost (interpreter, imports, pattern compilation) on a one-line file.
    tiny = corpus.DATA / "tiny.txt"
    tiny.write_text("今天天气很好，手机：010-2345-6789。\n", encoding="utf-8")
    startup = {"leakwatch": run_leakwatch(base, tiny, env).seconds}
    if not args.no_baseline:
        startup["baseline"] = run_naive(tiny, env).seconds

    warm(path)
    leak_runs: list[Run] = []
    bare_runs: list[Run] = []
    single_runs: list[Run] = []
    naive_runs: list[Run] = []
    for i in range(args.repeat):  # interleaved, so all tools see the same machine load
        print(f"  run {i + 1}/{args.repeat}: leakwatch ...", file=sys.stderr, flush=True)
        leak_runs.append(run_leakwatch(base, path, env))
        print(f"  run {i + 1}/{args.repeat}: leakwatch --no-store ...", file=sys.stderr, flush=True)
        bare_runs.append(run_leakwatch(base, path, env, store=False))
        print(f"  run {i + 1}/{args.repeat}: leakwatch --jobs 1 ...", file=sys.stderr, flush=True)
        single_runs.append(run_leakwatch(base, path, env, "--jobs", "1"))
        if not args.no_baseline:
            print(f"  run {i + 1}/{args.repeat}: baseline ...", file=sys.stderr, flush=True)
            naive_runs.append(run_naive(path, env))
    leak = best(leak_runs)
    bare = best(bare_runs)
    single = best(single_runs)
    rows = [
        (f"leakwatch (--jobs {os.cpu_count()}, default)", leak),
        ("leakwatch --no-store", bare),
        ("leakwatch --jobs 1", single),
    ]
    naive = best(naive_runs) if naive_runs else None
    if naive:
        rows.append(("baseline (re + stdnum + phonenumbers)", naive))

    print()
    print(table(rows, size))
    print(f"best of {args.repeat}; peak RSS: all processes together, the highest over the runs")
    print("start-up (one-line file): " + ", ".join(f"{k} {v:.2f} s" for k, v in startup.items()))
    mbs = size / MB / leak.seconds
    results: dict[str, object] = {
        "corpus": {k: meta[k] for k in ("seed", "mb", "bytes", "lines", "composition")},
        "machine": machine(),
        "source": source,
        "repeat": args.repeat,
        "startup_seconds": startup,
        "leakwatch": {"seconds": leak.seconds, "mb_per_s": mbs, "peak_rss_mb": leak.peak_rss / MB,
                      "findings": leak.findings, "by_type": leak.by_type},
        "leakwatch_jobs_1": {"seconds": single.seconds, "mb_per_s": size / MB / single.seconds,
                             "peak_rss_mb": single.peak_rss / MB, "findings": single.findings},
    }  # fmt: skip
    print("leakwatch/baseline: ", end="")
    if naive:
        speed = naive.seconds / leak.seconds
        memory = leak.peak_rss / naive.peak_rss
        print(f"{speed:.2f}x the throughput, {memory:.2f}x the peak memory "
              f"(--jobs 1: {naive.seconds / single.seconds:.2f}x)")  # fmt: skip
        results["baseline"] = {
            "seconds": naive.seconds,
            "mb_per_s": size / MB / naive.seconds,
            "peak_rss_mb": naive.peak_rss / MB,
            "findings": naive.findings,
            "by_type": naive.by_type,
        }
        results["ratio"] = speed
    else:
        print("(baseline not run)")
    planted = {k.split(".", 1)[1]: v for k, v in meta["composition"].items()
               if k.startswith("korean.")}  # type: ignore[union-attr]  # fmt: skip
    print(f"planted Korean identifiers: {sum(planted.values()):,}")
    for name, run in rows:
        kinds = ", ".join(f"{k} {v:,}" for k, v in sorted(run.by_type.items(), key=lambda x: -x[1]))
        print(f"  {name.split()[0]} findings by type: {kinds or '-'}")
    print()
    print("targets:")
    rss = leak.peak_rss / MB
    checks = [(f"throughput >= {TARGET_MBS:.0f} MB/s", f"{mbs:.1f} MB/s", mbs >= TARGET_MBS)]
    if naive:
        ratio = naive.seconds / leak.seconds
        checks.append((f">= {TARGET_RATIO:.0f}x baseline", f"{ratio:.2f}x", ratio >= TARGET_RATIO))
    checks.append((f"peak RSS < {TARGET_RSS_MB:.0f} MB", f"{rss:.1f} MB", rss < TARGET_RSS_MB))
    cost = leak.seconds / bare.seconds - 1
    results["store_cost"] = cost
    checks.append(
        (f"store cost < {TARGET_STORE_COST:.0%}", f"{cost:+.1%}", cost < TARGET_STORE_COST)
    )
    for name, value, ok in checks:
        print(f"  {name:<24} {value:>12}  {'ok' if ok else 'BELOW TARGET'}")
    if size_mb < BIG_MB:
        print(f"  (peak RSS measured on {size / MB:.0f} MB; the target is for 1 GB: --big)")
    if source_state() != source:
        print("WARNING: src/ or patterns/ changed during the run; these figures mix versions")
        results["source_changed"] = True
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
