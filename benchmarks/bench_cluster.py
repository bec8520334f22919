"""WARC shards scanned in one process, in this machine's worker processes, and on a Dask
LocalCluster: shards/s, records/s and peak memory of each, in one invocation.

    python benchmarks/bench_cluster.py               # the 100 MB archive, 8 MB shards
    python benchmarks/bench_cluster.py --mb 20 --shard-mb 2

The archive is bench_archive.py's (seeded, cached in benchmarks/.data/): pages of about 30 KB,
each record its own gzip member. The baseline is `--jobs 1` (one process); then `--jobs 2`
(this machine's pool: records go to two workers) and `--cluster local:2` (a LocalCluster of
two worker processes: the archive is cut into shards of --shard-mb at record boundaries, one
Dask task each). Every run is `leakwatch scan FILE -f jsonl -o OUT -q --no-store`; wall time
includes start-up (a LocalCluster takes a few seconds to start); memory is the peak resident
set of the whole process tree, and per worker is the cluster run's peak less the one-process
run's, shared by its workers.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import bench_archive  # noqa: E402
from bench_detect import measure  # noqa: E402

MB = 1 << 20


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--mb", type=int, default=100, help="archive size in MB (default 100)")
    parser.add_argument("--shard-mb", type=float, default=8, help="shard size (default 8 MB)")
    args = parser.parse_args()
    archive = bench_archive.generate(args.seed, args.mb)
    size = archive.stat().st_size
    shard_bytes = int(args.shard_mb * MB)
    shards = max(1, math.ceil(size / shard_bytes))
    env = {
        **os.environ,
        "LEAKWATCH_HOME": tempfile.mkdtemp(prefix="bench-cluster-"),
        "LEAKWATCH_SHARD_BYTES": str(shard_bytes),
    }
    runs = [("--jobs 1 (baseline)", ["--jobs", "1"]), ("--jobs 2", ["--jobs", "2"]),
            ("--cluster local:2", ["--cluster", "local:2"])]  # fmt: skip
    results = []
    with tempfile.TemporaryDirectory() as scratch:
        found = Path(scratch) / "found.jsonl"
        for name, options in runs:
            command = [sys.executable, "-m", "leakwatch", "scan", str(archive), *options,
                       "--no-store", "-q", "-f", "jsonl", "-o", str(found)]  # fmt: skip
            seconds, peak = measure(command, Path(scratch) / "out", env)
            records = sum(1 for line in found.open() if '"kind": "document"' in line)
            findings = sum(1 for line in found.open() if '"kind": "finding"' in line)
            results.append((name, seconds, peak, records, findings))
    base = results[0][1]
    print(f"archive: {archive.name}, {size / MB:.1f} MB; {shards} shards of {args.shard_mb:g} "
          "MB for the cluster")  # fmt: skip
    for name, seconds, peak, records, findings in results:
        print(
            f"  {name:22} {seconds:7.2f} s  {shards / seconds:6.2f} shards/s  "
            f"{records / seconds:7.0f} records/s  peak {peak / MB:6.1f} MB  "
            f"{base / seconds:4.2f}x  ({records:,} documents, {findings:,} findings)"
        )
    same = len({(r[3], r[4]) for r in results}) == 1
    per_worker = (results[2][2] - results[0][2]) / 2 / MB
    print(f"  same documents and findings in every run: {same}; one cluster worker costs "
          f"about {per_worker:.0f} MB")  # fmt: skip
    print(json.dumps({name: {"seconds": round(s, 2), "peak_mb": round(p / MB, 1)}
                      for name, s, p, _, _ in results}))  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
