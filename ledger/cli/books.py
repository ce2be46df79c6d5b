"""Commands over the whole book, which only read it: `ledger verify` checks every invariant
and exits 1 naming the first failure, and `ledger export` writes the whole journal as a
beancount ledger or a CSV of postings (to a file through a `.partial` file renamed when
complete, so a failed export never leaves a truncated file where a good one was).
"""

from __future__ import annotations

import json
import os
import sys
from typing import TextIO

import click

from ledger.cli.common import Counter, open_ledger


@click.command("verify")
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
@click.pass_context
def verify_cmd(ctx: click.Context, fmt: str) -> None:
    """Check every invariant over the whole book; exit 1 naming the first failure."""
    counter = Counter("verified entries")
    report = open_ledger(ctx).verify(progress=counter)
    counter.done()
    first = report.first
    if fmt == "json":
        click.echo(
            json.dumps(
                {
                    "ok": report.ok,
                    "entries_checked": report.entries_checked,
                    "last_sequence": report.last_sequence,
                    "head_hash": report.head_hash,
                    "first": (
                        {
                            "invariant": first.invariant,
                            "sequence": first.sequence,
                            "message": first.message,
                        }
                        if first
                        else None
                    ),
                    "violations": [
                        {"invariant": v.invariant, "sequence": v.sequence, "message": v.message}
                        for v in sorted(report.violations, key=lambda v: v.sort_key())
                    ],
                },
                ensure_ascii=False,
                indent=2,
            )
        )
    elif first is None:
        click.echo(
            f"ok: {report.entries_checked} entries checked, every invariant holds "
            f"(head {report.head_hash})"
        )
    else:
        where = (
            f"sequence {first.sequence}" if first.sequence is not None else "the book as a whole"
        )
        click.echo(f"FAILED: first failure at {where}: {first.invariant}: {first.message}")
        others = sorted(report.violations, key=lambda v: v.sort_key())[1:]
        for v in others:
            seq = f"sequence {v.sequence}" if v.sequence is not None else "book"
            click.echo(f"  also {v.invariant} at {seq}: {v.message}")
    if first is not None:
        ctx.exit(1)


@click.command("export")
@click.option("--format", "fmt", type=click.Choice(["beancount", "csv"]), required=True)
@click.option(
    "--output",
    type=click.Path(dir_okay=False, writable=True),
    default=None,
    help="File to write (default: standard output).",
)
@click.pass_context
def export_cmd(ctx: click.Context, fmt: str, output: str | None) -> None:
    """Export the whole journal as a beancount ledger or a CSV of postings."""
    from ledger.statements.export import export_beancount, export_csv

    exporter = export_beancount if fmt == "beancount" else export_csv
    counter = Counter("exported entries", every=1000)
    ledger = open_ledger(ctx)

    def write(stream: TextIO) -> None:
        summary = ledger.read(lambda s: exporter(s, stream, progress=counter))
        counter.done()
        if output is not None:
            click.echo(
                f"wrote {summary.entries} entries ({summary.postings} postings) to {output}",
                err=True,
            )

    if output is None:
        write(sys.stdout)
        return
    # Written beside the target and renamed, so a failed export never leaves a
    # truncated file where a good one was; newline="" keeps csv's line endings.
    partial = f"{output}.partial"
    try:
        with open(partial, "w", encoding="utf-8", newline="") as stream:
            write(stream)
        os.replace(partial, output)
    finally:
        if os.path.exists(partial):
            os.remove(partial)
