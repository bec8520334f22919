"""Python's cycle collector kept out of a scan's way.

A scan makes millions of small objects (matches, candidates, findings, their dicts) that
live until their document is written; with the default thresholds the collector walks them
again and again, 8-10% of a dump scan's time in a profile, to find almost no cycles. Once a
process has loaded what it keeps for its whole life (modules, packs, the detector), `settle`
moves that out of the collector's sight (`gc.freeze`) and makes the youngest generation
hundreds of times larger: cycles are still collected, less often.
"""

from __future__ import annotations

import gc

# Allocations before the youngest generation is collected (Python's default: 700).
YOUNG_THRESHOLD = 100_000


def settle() -> None:
    """Call once start-up is done, in every process that scans (the CLI, pool and cluster
    workers)."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)
