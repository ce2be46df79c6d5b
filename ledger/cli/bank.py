"""`ledger bank`: bank accounts and their statements. `bank accounts create` makes a bank
account mirroring an asset account, `bank import` imports a statement file (camt.053,
camt.054; MT940, CSV and XLSX when their parsers are present) and prints one JSON object,
`bank lines` lists the lines to explain with their derived status (unexplained, matched,
booked, ignored), `bank match` applies the creditor references the lines carry (settles
the transfer gifts, records the loan repayments) and then the treasurer's rules, and prints the
counts. One line is explained by hand with `bank ignore`, `bank book`, `bank allocate`,
`bank to-gift` and `bank to-repayment`; `bank suggest` ranks what may explain it; `bank rules`
adds, lists, moves and disables the rules. `bank accounts hold` lists a further ledger account
whose money sits in the bank account (a fund's cash), and `bank report` prints the
reconciliation as of a day (JSON, CSV or PDF). Amounts are decimal strings, given positive (an
outgoing line's allocations take its sign). A refusal prints
`{"error": {"code", "message", "details"}}`, exits 1 and leaves nothing.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.cli.common import _Column, _echo_listing, open_ledger
from ledger.commands import Origin
from ledger.core.errors import LedgerError
from ledger.core.money import Money, format_minor

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


@bank_accounts.command("preset")
@click.option("--iban", required=True, help="The bank account.")
@click.option("--date-column", required=True, help="The booking date's column header.")
@click.option("--date-format", required=True, help="Its strptime format, e.g. %d/%m/%Y.")
@click.option("--value-date-column", default=None)
@click.option("--amount-column", default=None, help="One signed amount column, or:")
@click.option("--debit-column", default=None)
@click.option("--credit-column", default=None)
@click.option("--text-column", "text_columns", multiple=True, required=True, help="Repeatable.")
@click.option("--decimal", "decimal_style", type=click.Choice(["it", "en"]), default="it")
@click.option("--skip-rows", type=int, default=0, help="Rows before the header row.")
@click.option("--delimiter", default=";", help="; , | or \\t (CSV).")
@click.option("--sheet", default=None, help="The sheet's name (XLSX; default: the first).")
@click.pass_context
def accounts_preset(
    ctx: click.Context,
    iban: str,
    date_column: str,
    date_format: str,
    value_date_column: str | None,
    amount_column: str | None,
    debit_column: str | None,
    credit_column: str | None,
    text_columns: tuple[str, ...],
    decimal_style: str,
    skip_rows: int,
    delimiter: str,
    sheet: str | None,
) -> None:
    """Set once the columns of the account's CSV or XLSX export: `bank import` reads such
    a file with them when no --preset is named."""
    from ledger.reconcile.commands import set_account_preset
    from ledger.reconcile.formats.tabular import preset_settings

    ledger = open_ledger(ctx)
    settings: dict[str, Any] = {
        "date_column": date_column,
        "date_format": date_format,
        "value_date_column": value_date_column,
        "amount_column": amount_column,
        "debit_column": debit_column,
        "credit_column": credit_column,
        "text_columns": list(text_columns),
        "decimal": decimal_style,
        "skip_rows": skip_rows,
        "delimiter": "\t" if delimiter == "\\t" else delimiter,
        "sheet": sheet,
    }

    def work(session: Session) -> dict[str, Any]:
        preset = set_account_preset(
            session, iban, settings, origin=Origin.command_line(), clock=ledger.clock
        ).value
        return {"iban": iban, "preset": preset_settings(preset)}

    try:
        result = ledger.run(work)
    except LedgerError as exc:
        error = {"code": exc.code, "message": exc.message, "details": exc.details}
        click.echo(json.dumps({"error": error}, ensure_ascii=False, default=str))
        ctx.exit(1)
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
        "kept_whole": list(report.kept_whole),
        "skipped_statements": report.skipped_statements,
        "accepted_unbalanced": report.accepted_unbalanced,
    }


@bank.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--iban", required=True, help="The bank account the file is for.")
@click.option("--format", "fmt", type=click.Choice(FORMAT_CHOICES), default="auto")
@click.option(
    "--preset",
    default=None,
    help="The column preset of a CSV or XLSX file (default: the account's own, if set).",
)
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


# ------------------------------------------------------------------ one line by hand
KEY_HELP = "A request key: the same key and request again does nothing more."


def _run_json(
    ctx: click.Context, work: Callable[[Session], Any], *, indent: int | None = 2
) -> None:
    """Run `work` in one transaction and print its JSON, or the refusal (exit 1)."""
    ledger = open_ledger(ctx)
    try:
        result = ledger.run(work)
    except LedgerError as exc:
        error = {"code": exc.code, "message": exc.message, "details": exc.details}
        click.echo(json.dumps({"error": error}, ensure_ascii=False, default=str))
        ctx.exit(1)
    click.echo(json.dumps(result, ensure_ascii=False, indent=indent, default=str))


def _line_json(session: Session, line_id: int) -> dict[str, Any]:
    """The line's status, what is left and its allocations."""
    from ledger.reconcile import matching
    from ledger.reconcile.models import BankAccount, BankAllocation

    line = matching.lock_line(session, line_id)
    account = session.get(BankAccount, line.bank_account_id)
    assert account is not None
    state = matching.state_of(session, line)
    allocations = list(
        session.scalars(
            select(BankAllocation)
            .where(BankAllocation.line_id == line_id)
            .order_by(BankAllocation.id)
        )
    )
    records = matching.records_shown(session, allocations)
    return {
        "line": line.id,
        "amount": format_minor(line.amount_minor, account.currency),
        "status": state.status,
        "left": format_minor(state.left_minor, account.currency),
        "allocations": [
            {
                "kind": a.kind,
                "record_id": records.get(a.id),
                "amount": format_minor(a.amount_minor, account.currency),
                "reason": a.reason,
            }
            for a in allocations
        ],
    }


def _line_money(session: Session, line_id: int, text: str | None) -> int | None:
    """A positive decimal amount typed for a line, in minor units signed like the line."""
    from ledger.reconcile import matching
    from ledger.reconcile.models import BankAccount

    if text is None:
        return None
    line = matching.lock_line(session, line_id)
    account = session.get(BankAccount, line.bank_account_id)
    assert account is not None
    minor = abs(Money.parse(text, account.currency).minor)
    return -minor if line.amount_minor < 0 else minor


@bank.command("ignore")
@click.argument("line_id", type=int)
@click.option("--reason", required=True, help="Why the line is of no concern to the books.")
@click.option("--key", default=None, help=KEY_HELP)
@click.pass_context
def bank_ignore(ctx: click.Context, line_id: int, reason: str, key: str | None) -> None:
    """Explain what is left of a line as ignored, with the reason."""
    from ledger.reconcile.commands import ignore_line

    clock = open_ledger(ctx).clock

    def work(session: Session) -> dict[str, Any]:
        ignore_line(session, line_id, reason, origin=Origin.command_line(), clock=clock, key=key)
        return _line_json(session, line_id)

    _run_json(ctx, work)


@bank.command("book")
@click.argument("line_id", type=int)
@click.option("--account", "account_code", required=True, help="The account booked against.")
@click.option("--narration", required=True)
@click.option("--key", default=None, help=KEY_HELP)
@click.pass_context
def bank_book(
    ctx: click.Context, line_id: int, account_code: str, narration: str, key: str | None
) -> None:
    """Book what is left of a line between the bank's account and ACCOUNT (a fee, interest)."""
    from ledger.reconcile.commands import book_line

    clock = open_ledger(ctx).clock

    def work(session: Session) -> dict[str, Any]:
        book_line(
            session,
            line_id,
            account_code,
            narration,
            origin=Origin.command_line(),
            clock=clock,
            key=key,
        )
        return _line_json(session, line_id)

    _run_json(ctx, work)


def _parts(kind: str, values: tuple[str, ...]) -> list[tuple[str, str, str | None]]:
    out = []
    for value in values:
        record, _sep, amount = value.partition(":")
        if not record:
            raise click.BadParameter(f"{value!r}: ID[:AMOUNT]", param_hint=f"--{kind}")
        out.append((kind, record, amount or None))
    return out


@bank.command("allocate")
@click.argument("line_id", type=int)
@click.option("--gift", multiple=True, help="A donation: ID[:AMOUNT] (repeatable).")
@click.option("--repayment", multiple=True, help="A loan repayment: ID[:AMOUNT].")
@click.option("--entry", multiple=True, help="A journal entry: SEQUENCE[:AMOUNT].")
@click.option("--payout", multiple=True, help="A Stripe payout: PO[:AMOUNT].")
@click.option("--key", default=None, help=KEY_HELP)
@click.pass_context
def bank_allocate(
    ctx: click.Context,
    line_id: int,
    gift: tuple[str, ...],
    repayment: tuple[str, ...],
    entry: tuple[str, ...],
    payout: tuple[str, ...],
    key: str | None,
) -> None:
    """Explain a line by existing records; one part without an amount takes the rest."""
    from ledger.reconcile import matching
    from ledger.reconcile.commands import match_line

    wanted = [
        *_parts("gift", gift),
        *_parts("repayment", repayment),
        *_parts("entry", entry),
        *_parts("payout", payout),
    ]
    if not wanted:
        raise click.UsageError("name at least one record (--gift, --repayment, --entry, --payout)")
    if sum(1 for _k, _r, a in wanted if a is None) > 1:
        raise click.UsageError("at most one record without an amount (it takes the rest)")
    clock = open_ledger(ctx).clock

    def work(session: Session) -> dict[str, Any]:
        amounts = [_line_money(session, line_id, a) for _k, _r, a in wanted]
        left = matching.state_of(session, matching.lock_line(session, line_id)).left_minor
        rest = left - sum(a for a in amounts if a is not None)
        parts = [
            (kind, record, rest if amount is None else amount)
            for (kind, record, _a), amount in zip(wanted, amounts, strict=True)
        ]
        match_line(session, line_id, parts, origin=Origin.command_line(), clock=clock, key=key)
        return _line_json(session, line_id)

    _run_json(ctx, work)


@bank.command("suggest")
@click.argument("line_id", type=int)
@click.pass_context
def bank_suggest(ctx: click.Context, line_id: int) -> None:
    """What may explain what is left of a line, best first (JSON: kind, record_id, amount,
    label, score, reasons)."""
    from ledger.reconcile.models import BankAccount, BankLine
    from ledger.reconcile.suggestions import suggestions

    def read(session: Session) -> list[dict[str, Any]]:
        found = suggestions(session, line_id)
        line = session.get(BankLine, line_id)
        assert line is not None
        account = session.get(BankAccount, line.bank_account_id)
        assert account is not None
        return [s.as_dict(account.currency) for s in found]

    _run_json(ctx, read)


@bank.command("to-gift")
@click.argument("line_id", type=int)
@click.option("--campaign", "campaign_id", type=int, required=True)
@click.option("--donor", "donor_id", type=int, default=None, help="The donor's person id.")
@click.option("--anonymous/--named", default=True, help="Whether the gift is shown anonymous.")
@click.option("--amount", default=None, help="Default: what is left of the line.")
@click.option("--key", default=None, help=KEY_HELP)
@click.pass_context
def bank_to_gift(
    ctx: click.Context,
    line_id: int,
    campaign_id: int,
    donor_id: int | None,
    anonymous: bool,
    amount: str | None,
    key: str | None,
) -> None:
    """Turn an incoming line into an offline gift by transfer for the campaign."""
    from ledger.reconcile.rule_commands import line_to_gift

    clock = open_ledger(ctx).clock

    def work(session: Session) -> dict[str, Any]:
        gift = line_to_gift(
            session,
            line_id,
            campaign_id,
            donor_id=donor_id,
            anonymous=anonymous,
            amount_minor=_line_money(session, line_id, amount),
            origin=Origin.command_line(),
            clock=clock,
            key=key,
        ).value
        return {
            "donation_id": gift.id,
            "donation_status": gift.status,
            **_line_json(session, line_id),
        }

    _run_json(ctx, work)


@bank.command("to-repayment")
@click.argument("line_id", type=int)
@click.option("--loan", "loan_id", type=int, required=True)
@click.option("--amount", default=None, help="Default: what is left of the line.")
@click.option("--key", default=None, help=KEY_HELP)
@click.pass_context
def bank_to_repayment(
    ctx: click.Context, line_id: int, loan_id: int, amount: str | None, key: str | None
) -> None:
    """Turn an incoming line into a repayment of the loan."""
    from ledger.reconcile.rule_commands import line_to_repayment

    clock = open_ledger(ctx).clock

    def work(session: Session) -> dict[str, Any]:
        repayment = line_to_repayment(
            session,
            line_id,
            loan_id,
            amount_minor=_line_money(session, line_id, amount),
            origin=Origin.command_line(),
            clock=clock,
            key=key,
        ).value
        return {"repayment_id": repayment.id, **_line_json(session, line_id)}

    _run_json(ctx, work)


# ------------------------------------------------------------------ rules
@bank.group("rules")
def bank_rules() -> None:
    """The treasurer's rules of a bank account, in order (first match wins)."""


def _rule_json(session: Session, rule: Any) -> dict[str, Any]:
    from ledger.core.models import Account
    from ledger.reconcile.models import BankAccount

    bank_account = session.get(BankAccount, rule.bank_account_id)
    assert bank_account is not None
    target = session.get(Account, rule.account_id) if rule.account_id is not None else None

    def money(minor: int | None) -> str | None:
        return None if minor is None else format_minor(minor, bank_account.currency)

    return {
        "id": rule.id,
        "iban": bank_account.iban,
        "position": rule.position,
        "name": rule.name,
        "active": rule.active,
        "counterparty_iban": rule.counterparty_iban,
        "text_contains": rule.text_contains,
        "text_regex": rule.text_regex,
        "min": money(rule.amount_min_minor),
        "max": money(rule.amount_max_minor),
        "direction": rule.direction,
        "action": rule.action,
        "book_to": target.code if target is not None else None,
        "narration": rule.narration,
        "propose": (
            {"kind": rule.propose_kind, "id": rule.propose_id} if rule.action == "propose" else None
        ),
    }


@bank_rules.command("add")
@click.option("--iban", required=True, help="The bank account the rule is for.")
@click.option("--name", required=True)
@click.option("--counterparty-iban", default=None)
@click.option("--text-contains", default=None)
@click.option("--text-regex", default=None)
@click.option("--min", "minimum", default=None, help="The smallest absolute amount.")
@click.option("--max", "maximum", default=None, help="The largest absolute amount.")
@click.option("--direction", type=click.Choice(["in", "out", "any"]), default="any")
@click.option("--book-to", default=None, help="Book matching lines to this account ...")
@click.option("--narration", default=None, help="... with this narration.")
@click.option("--propose-campaign", type=int, default=None, help="Propose a gift to it.")
@click.option("--propose-loan", type=int, default=None, help="Propose a repayment of it.")
@click.option("--position", type=int, default=None, help="Its place (default: last).")
@click.option("--key", default=None, help=KEY_HELP)
@click.pass_context
def rules_add(
    ctx: click.Context,
    iban: str,
    name: str,
    counterparty_iban: str | None,
    text_contains: str | None,
    text_regex: str | None,
    minimum: str | None,
    maximum: str | None,
    direction: str,
    book_to: str | None,
    narration: str | None,
    propose_campaign: int | None,
    propose_loan: int | None,
    position: int | None,
    key: str | None,
) -> None:
    """Add a rule: --book-to CODE --narration TEXT, or --propose-campaign ID, or
    --propose-loan ID."""
    from ledger.reconcile.commands import get_bank_account
    from ledger.reconcile.rule_commands import create_rule
    from ledger.reconcile.rules import Conditions

    actions = [book_to is not None, propose_campaign is not None, propose_loan is not None]
    if sum(actions) != 1:
        raise click.UsageError("one action: --book-to, --propose-campaign or --propose-loan")
    clock = open_ledger(ctx).clock

    def work(session: Session) -> dict[str, Any]:
        currency = get_bank_account(session, iban).currency

        def minor(text: str | None) -> int | None:
            return None if text is None else Money.parse(text, currency).minor

        rule = create_rule(
            session,
            iban,
            name,
            Conditions(
                counterparty_iban,
                text_contains,
                text_regex,
                minor(minimum),
                minor(maximum),
                direction,
            ),
            action="book" if book_to is not None else "propose",
            account_code=book_to,
            narration=narration,
            propose_kind=(
                None
                if book_to is not None
                else ("campaign" if propose_campaign is not None else "loan")
            ),
            propose_id=propose_campaign if propose_campaign is not None else propose_loan,
            position=position,
            origin=Origin.command_line(),
            clock=clock,
            key=key,
        ).value
        return _rule_json(session, rule)

    _run_json(ctx, work)


@bank_rules.command("list")
@click.option("--iban", required=True)
@click.pass_context
def rules_list(ctx: click.Context, iban: str) -> None:
    """The account's rules in order, the disabled ones too (JSON)."""
    from ledger.reconcile.commands import get_bank_account
    from ledger.reconcile.rules import rules_of

    def read(session: Session) -> list[dict[str, Any]]:
        account = get_bank_account(session, iban)
        return [_rule_json(session, r) for r in rules_of(session, account.id, active=False)]

    _run_json(ctx, read)


@bank_rules.command("move")
@click.argument("rule_id", type=int)
@click.option("--position", type=int, required=True, help="Its new place, from 1.")
@click.option("--key", default=None, help=KEY_HELP)
@click.pass_context
def rules_move(ctx: click.Context, rule_id: int, position: int, key: str | None) -> None:
    """Move a rule to another place in its account's order."""
    from ledger.reconcile.rule_commands import move_rule

    clock = open_ledger(ctx).clock

    def work(session: Session) -> dict[str, Any]:
        rule = move_rule(
            session, rule_id, position, origin=Origin.command_line(), clock=clock, key=key
        ).value
        return _rule_json(session, rule)

    _run_json(ctx, work)


@bank_rules.command("disable")
@click.argument("rule_id", type=int)
@click.option("--key", default=None, help=KEY_HELP)
@click.pass_context
def rules_disable(ctx: click.Context, rule_id: int, key: str | None) -> None:
    """Disable a rule (it is kept, and applies no more)."""
    from ledger.reconcile.rule_commands import disable_rule

    clock = open_ledger(ctx).clock

    def work(session: Session) -> dict[str, Any]:
        rule = disable_rule(
            session, rule_id, origin=Origin.command_line(), clock=clock, key=key
        ).value
        return _rule_json(session, rule)

    _run_json(ctx, work)


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
