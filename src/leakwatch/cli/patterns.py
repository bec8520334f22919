"""`leakwatch patterns list|test`: what the loaded packs detect, and their own examples run."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich import box
from rich.console import Console
from rich.table import Table

from leakwatch.cli.common import EXIT_FINDINGS, EXIT_USAGE, PatternsOption, app, fail, packs_or_fail
from leakwatch.detect.selftest import run_examples

patterns_app = typer.Typer(help="List and test the pattern packs.", no_args_is_help=True)
app.add_typer(patterns_app, name="patterns")


@patterns_app.command("list")
def patterns_list(
    patterns: PatternsOption = None,
    fmt: Annotated[
        str, typer.Option("--format", "-f", metavar="table|json", help="Output format.")
    ] = "table",
) -> None:
    """List every pattern of the loaded packs."""
    packs = packs_or_fail(patterns)
    rows = [
        {
            "id": p.id,
            "country": pack.country,
            "severity": str(p.severity),
            "validator": p.validator_name,
            "requires_context": p.requires_context,
            "label": p.label,
            "pack": pack.path,
        }
        for pack in packs
        for p in pack.patterns
    ]
    if fmt == "json":
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    if fmt != "table":
        fail(f"--format must be table or json, not {fmt!r}", EXIT_USAGE)
    console = Console(highlight=False)
    # Below 120 columns the validator's name (the same as the id, mostly) makes way for
    # the label; the id, the severity and whether a label is needed never wrap.
    wide = console.width >= 120
    table = Table(title=f"{len(rows)} patterns", title_justify="left", box=box.SIMPLE_HEAD,
                  pad_edge=False)  # fmt: skip
    table.add_column("id", no_wrap=True)
    table.add_column("cc", no_wrap=True)
    table.add_column("severity", no_wrap=True)
    if wide:
        table.add_column("validator", no_wrap=True)
    table.add_column("context", no_wrap=True)
    table.add_column("label", overflow="fold", min_width=20)
    for row in rows:
        cells = [str(row["id"]), str(row["country"]), str(row["severity"])]
        if wide:
            cells.append(str(row["validator"]))
        cells += ["required" if row["requires_context"] else "", str(row["label"])]
        table.add_row(*cells)
    console.print(table)


@patterns_app.command("test")
def patterns_test(
    patterns: PatternsOption = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="List every pattern.")] = False,
) -> None:
    """Run every pattern's examples; exit 1 if any example is missed or wrongly matched."""
    packs = packs_or_fail(patterns)
    results = run_examples(packs)
    out = Console(highlight=False)
    failures = 0
    for result in results:
        if result.failures:
            failures += len(result.failures)
            out.print(f"FAIL {result.pattern_id}", markup=False)
            for failure in result.failures:
                out.print(f"  {failure}", markup=False)
        elif verbose:
            out.print(f"ok   {result.pattern_id} ({result.checked} examples)", markup=False)
    checked = sum(r.checked for r in results)
    out.print(f"{len(results)} patterns, {checked} examples, {failures} failures", markup=False)
    if failures:
        raise typer.Exit(EXIT_FINDINGS)
