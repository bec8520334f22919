"""Run leakwatch's command line in this process and write, at exit, the CPU seconds of this
process and of its (reaped) worker processes to a JSON file: bench_crawl.py judges the
crawl's own overhead by the main process's CPU per page.

    python benchmarks/cpu_meter.py USAGE.json scan URL ...

Only the standard library is imported before leakwatch: worker processes are spawned, and
they import this file again as their main module.
"""

from __future__ import annotations

import atexit
import json
import resource
import sys
from pathlib import Path


def report(usage_file: Path) -> None:
    own = resource.getrusage(resource.RUSAGE_SELF)
    workers = resource.getrusage(resource.RUSAGE_CHILDREN)
    usage = {"main": own.ru_utime + own.ru_stime, "workers": workers.ru_utime + workers.ru_stime}
    usage_file.write_text(json.dumps(usage))


if __name__ == "__main__":
    atexit.register(report, Path(sys.argv[1]))
    sys.argv = ["leakwatch", *sys.argv[2:]]
    from leakwatch.cli import main

    main()
