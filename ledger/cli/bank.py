"""`ledger bank`: bank accounts and their statements. `bank accounts create` makes a bank
account mirroring an asset account, `bank import` imports a statement file (camt.053,
camt.054; MT940, CSV and XLSX when their parsers are present) and prints one JSON object,
`bank lines` lists the lines to explain with their derived status (unexplained, matched,
booked, ignored), `bank match` applies the creditor references the lines carry (settles
the transfer gifts, records the loan repayments) and prints the counts. `bank accounts hold`
lists a further ledger account whose money sits in the bank account (a fund's cash), and
`bank report` prints the reconciliation as of a day (JSON, CSV or PDF). A refused import prints
`{"error": {"code", "message", "details"}}`, exits 1 and leaves nothing.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click
from sqlalchemy.orm import Session

from ledger.cli.common import _Column, _echo_listing, open_ledger
from ledger.commands import Origin
from ledger.core.errors import LedgerError
from ledger.core.money import format_minor

FORMAT_CHOICES = ["auto", "camt053", "camt054", "mt940", "csv", "xlsx"]


@click.group()
def bank() -> None:
    """Bank accounts and statement imports."""


@bank.group("accounts")
def bank_accounts() -> None:
    """Bank accounts (IBAN, currency, the ledger account they mirror)."""


def _error(ctx: click.Context, exc: LedgerError) -> None:
    error = {"code": exc.code, "message": exc.message, "details": exc.details}
    click.echo(json.dumps({"error": error}, ensure_ascii=False, default=str))
    ctx.exit(1)


@bank_accounts.command("create")
@click.option("--iban", required=True, help="The account's IBAN.")
@click.option("--account", "account_code", required=True, help="The asset account it mirrors.")
@click.option("--name", default=None, help="A name (default: the ledger account's).")
@click.option(
    "--holds",
    "holds",
    multiple=True,
    help="A further asset account whose money sits in this bank account (repeatable).",
)
@click.pass_context
def accounts_create(
    ctx: click.Context, iban: str, account_code: str, name: str | None, holds: tuple[str, ...]
) -> None:
    """Create a bank account mirroring a ledger asset account (in its currency), and
    holding the further accounts given with --holds (all of it, or nothing)."""
    from ledger.reconcile.commands import create_bank_account, hold_account

    ledger = open_ledger(ctx)

    def work(session: Session) -> dict[str, Any]:
        origin = Origin.command_line()
        account = create_bank_account(
            session,
            iban=iban,
            account_code=account_code,
            name=name,
            origin=origin,
            clock=ledger.clock,
        ).value
        held = [account_code]
        for code in holds:
            held = [
                a.code
                for a in hold_account(
                    session, account.iban, code, origin=origin, clock=ledger.clock
                ).value
            ]
        return {
            "id": account.id,
            "iban": account.iban,
            "name": account.name,
            "currency": account.currency,
            "account": account_code,
            "held_accounts": held,
        }

    try:
        result = ledger.run(work)
    except LedgerError as exc:
        _error(ctx, exc)
    click.echo(json.dumps(result, ensure_ascii=False))


@bank_accounts.command("hold")
@click.option("--iban", required=True, help="The bank account's IBAN.")
@click.option(
    "--account", "account_code", required=True, help="The asset account whose money it holds."
)
@click.pass_context
def accounts_hold(ctx: click.Context, iban: str, account_code: str) -> None:
    """List an asset account among those whose money sits in the bank account (a fund's
    cash); print every account it holds, the mirrored one first."""
    from ledger.reconcile.commands import hold_account

    ledger = open_ledger(ctx)

    def work(session: Session) -> dict[str, Any]:
        outcome = hold_account(
            session, iban, account_code, origin=Origin.command_line(), clock=ledger.clock
        )
        return {
            "iban": iban.replace(" ", "").upper(),
            "held_accounts": [a.code for a in outcome.value],
            "created": outcome.created,
        }

    try:
        result = ledger.run(work)
    except LedgerError as exc:
        _error(ctx, exc)
    click.echo(json.dumps(result, ensure_ascii=False))


def _report_json(report: Any) -> dict[str, Any]:
    currency = report.currency

    def money(minor: int | None) -> str | None:
        return None if minor is None else format_minor(minor, currency)

    return {
        "import_id": report.import_id,
        "iban": report.iban,
        "format": report.format,
        "sha256": report.sha256,
        "statements": [
            {
                "statement_id": s.statement_id,
                "balance_kind": s.balance_kind,
                "opening": money(s.opening_minor),
                "closing": money(s.closing_minor),
                "computed_closing": money(s.computed_closing_minor),
                "balanced": s.balanced,
                "difference": money(s.difference_minor),
                "continuity_difference": money(s.continuity_minor),
                "accepted": s.accepted,
                "lines": s.lines,
            }
            for s in report.statements
        ],
        "lines": report.lines,
        "new": report.new,
        "already_imported": [
            {
                "id": k.line_id,
                "booked_on": k.booked_on.isoformat(),
                "amount": money(k.amount_minor),
                "bank_ref": k.bank_ref,
                "text": k.text,
            }
            for k in report.already_imported
        ],
        "details_added": report.details_added,
        "skipped_statements": report.skipped_statements,
        "accepted_unbalanced": report.accepted_unbalanced,
    }


@bank.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--iban", required=True, help="The bank account the file is for.")
@click.option("--format", "fmt", type=click.Choice(FORMAT_CHOICES), default="auto")
@click.option("--preset", default=None, help="The column preset of a CSV or XLSX file.")
@click.option(
    "--accept-unbalanced",
    is_flag=True,
    help="Import statements that do not add up or do not continue the previous one.",
)
@click.option("--reason", default=None, help="Why they are accepted (required with the flag).")
@click.pass_context
def bank_import(
    ctx: click.Context,
    file: Path,
    iban: str,
    fmt: str,
    preset: str | None,
    accept_unbalanced: bool,
    reason: str | None,
) -> None:
    """Import a statement file; print what it held, what was new and what was already there."""
    from ledger.reconcile.commands import import_statement

    ledger = open_ledger(ctx)
    data = file.read_bytes()

    def work(session: Session) -> dict[str, Any]:
        report = import_statement(
            session,
            iban,
            data,
            format=fmt,
            preset=preset,
            accept_unbalanced=accept_unbalanced,
            reason=reason,
            origin=Origin.command_line(),
            clock=ledger.clock,
        ).value
        return _report_json(report)

    try:
        result = ledger.run(work)
    except LedgerError as exc:
        error = {"code": exc.code, "message": exc.message, "details": exc.details}
        click.echo(json.dumps({"error": error}, ensure_ascii=False, default=str))
        ctx.exit(1)
    click.echo(json.dumps(result, ensure_ascii=False, indent=2))


@bank.command("lines")
@click.option("--iban", required=True)
@click.option(
    "--status", type=click.Choice(["unexplained", "matched", "booked", "ignored"]), default=None
)
@click.option("--format", "fmt", type=click.Choice(["json", "table"]), default="table")
@click.pass_context
def bank_lines(ctx: click.Context, iban: str, status: str | None, fmt: str) -> None:
    """The lines to explain (entries, and the details of split batches) with their status."""
    from ledger.reconcile.commands import get_bank_account
    from ledger.reconcile.matching import line_views

    ledger = open_ledger(ctx)

    def read(session: Session) -> list[dict[str, Any]]:
        account = get_bank_account(session, iban)
        return [
            {
                "id": v.id,
                "booked_on": v.booked_on.isoformat(),
                "value_on": v.value_on.isoformat() if v.value_on else None,
                "amount": format_minor(v.amount_minor, v.currency),
                "currency": v.currency,
                "text": v.text,
                "bank_ref": v.bank_ref,
                "reference": v.reference,
                "reason_code": v.reason_code,
                "reversal": v.reversal,
                "parent_id": v.parent_line_id,
                "status": v.status,
            }
            for v in line_views(session, account, status)
        ]

    _echo_listing(
        ledger.read(read),
        fmt,
        empty="no lines",
        columns=[
            _Column("id", lambda r: str(r["id"]), right=True),
            _Column("booked", lambda r: r["booked_on"]),
            _Column("amount", lambda r: r["amount"], right=True),
            _Column("status", lambda r: r["status"]),
            _Column("text", lambda r: r["text"][:60]),
        ],
    )


@bank.command("match")
@click.option("--iban", required=True)
@click.pass_context
def bank_match(ctx: click.Context, iban: str) -> None:
    """Apply the creditor references the unexplained lines carry: settle the transfer
    gifts they pay, record the loan repayments; print the counts as JSON."""
    from ledger.reconcile.commands import apply_references

    ledger = open_ledger(ctx)

    def work(session: Session) -> dict[str, int]:
        return apply_references(
            session, iban, origin=Origin.command_line(), clock=ledger.clock
        ).value.as_dict()

    try:
        result = ledger.run(work)
    except LedgerError as exc:
        error = {"code": exc.code, "message": exc.message, "details": exc.details}
        click.echo(json.dumps({"error": error}, ensure_ascii=False, default=str))
        ctx.exit(1)
    click.echo(json.dumps(result, ensure_ascii=False))


@bank.command("report")
@click.option("--iban", required=True)
@click.option(
    "--as-of",
    "as_of",
    required=True,
    type=click.DateTime(formats=["%Y-%m-%d"]),
    help="The day (YYYY-MM-DD) the reconciliation is made at the end of.",
)
@click.option("--format", "fmt", type=click.Choice(["json", "csv", "pdf"]), default="json")
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write to this file (a PDF needs one unless stdout is not a terminal).",
)
@click.pass_context
def bank_report(ctx: click.Context, iban: str, as_of: Any, fmt: str, output: Path | None) -> None:
    """The reconciliation of a bank account as of a day: the bank's balance from the
    statements, the books' (every account it holds), the reconciling items (lines not
    yet explained, lines ignored, entries not yet on the bank) and the difference,
    which must be zero."""
    from ledger.reconcile.report import reconciliation

    ledger = open_ledger(ctx)
    try:
        report = ledger.read(lambda session: reconciliation(session, iban, as_of.date()))
    except LedgerError as exc:
        _error(ctx, exc)
    data: bytes
    if fmt == "json":
        data = (json.dumps(report.as_dict(), ensure_ascii=False, indent=2) + "\n").encode()
    elif fmt == "csv":
        from ledger.statements.reconciliation import reconciliation_csv

        data = reconciliation_csv(report).encode("utf-8")
    else:
        from ledger.statements.reconciliation_pdf import render_reconciliation_pdf

        data = render_reconciliation_pdf(report)
    if output is not None:
        output.write_bytes(data)
        click.echo(json.dumps({"output": str(output), "bytes": len(data)}))
    else:
        sys.stdout.flush()
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
