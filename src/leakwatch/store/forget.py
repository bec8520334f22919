"""Taking pages out of the store (`leakwatch forget`): a test on stdin, a wrong folder, a
tutorial site scanned by mistake.

What goes: the documents named (by a glob on their URL or path, or as the pages a run first
recorded), with their findings, earlier versions and archive captures, and the records
(identifiers) no other page holds. Runs stay in `leakwatch runs`, as a log of what was done.
A page a run only saw again (first recorded by an earlier run) is kept: forgetting the run
must not lose what the earlier one recorded; `--source` takes such a page out.

Everything is counted and removed in one write transaction: all of it, or (on any error)
none; a dry run counts and removes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from leakwatch.errors import UsageError
from leakwatch.store.database import Database


@dataclass(frozen=True, slots=True)
class Forgotten:
    """What a forget removed (or, in a dry run, would remove)."""

    documents: int
    cases: int
    findings: int
    records: int
    kept: int  # pages the runs saw again but an earlier run recorded first: not removed


def forget_pages(
    db: Database,
    *,
    runs: Sequence[int] = (),
    source: Callable[[str], bool] | None = None,
    dry_run: bool = False,
) -> Forgotten:
    """Remove the documents `source` matches (by key) and those `runs` first recorded."""

    def work() -> Forgotten:
        known = {int(r) for (r,) in db.fetch("SELECT id FROM runs")}
        for run in runs:
            if run not in known:
                raise UsageError(f"--run {run}: no such run in {db.location} (see leakwatch runs)")
        ids: set[int] = set()
        kept = 0
        wanted = set(runs)
        for document, key, first_run, last_run in db.fetch(
            "SELECT id, key, first_run, last_run FROM documents"
        ):
            if first_run in wanted or (source is not None and source(key)):
                ids.add(int(document))
            elif last_run in wanted:
                kept += 1
        chosen = json.dumps(sorted(ids))
        among = f"IN (SELECT CAST(value AS BIGINT) FROM {db.dialect.elements('?')})"
        ((cases,),) = db.fetch(
            f"SELECT count(*) FROM documents WHERE case_category IS NOT NULL AND id {among}",
            (chosen,),
        )
        ((findings,),) = db.fetch(f"SELECT count(*) FROM findings WHERE document_id {among}",
                                  (chosen,))  # fmt: skip
        # The records only these documents hold.
        only_here = f"""SELECT DISTINCT f.record_id FROM findings f WHERE f.document_id {among}
                        AND NOT EXISTS (SELECT 1 FROM findings o WHERE o.record_id = f.record_id
                                        AND o.document_id NOT {among})"""
        records = [int(r) for (r,) in db.fetch(only_here, (chosen, chosen))]
        if not dry_run and ids:
            for table, column in (("findings", "document_id"), ("document_history",
                                  "document_id"), ("captures", "document_id"),
                                  ("documents", "id")):  # fmt: skip
                db.run(f"DELETE FROM {table} WHERE {column} {among}", (chosen,))
            db.run(f"DELETE FROM records WHERE id {among}", (json.dumps(records),))
        return Forgotten(len(ids), int(cases), int(findings), len(records), kept)

    if dry_run:
        with db.snapshot("counting what to forget"), db.errors("counting what to forget"):
            return work()
    return db.write("forgetting", work)
