"""The journal commands: `ledger post` reads one JSON entry or JSON lines (amounts are decimal
strings; no float is ever made) and posts each entry in its own transaction, and `ledger
reverse` posts the exact opposite of an entry at most once, both through the use cases of
`ledger.books.commands` (which write the `entry.post` and `entry.reverse` audit events);
`ledger entries show`, `ledger balance` and `ledger trial-balance` read the journal and what
it adds up to. The JSON entry parsing (`split_documents`, `entry_from_json`) and
`entry_json` live here too.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, NoReturn, TextIO

import click

from ledger.books import commands as books
from ledger.cli.common import (
    DATE,
    CommandError,
    Counter,
    _amount,
    _as_date,
    _json_line,
    open_ledger,
)
from ledger.commands import Origin
from ledger.core.balances import currency_totals
from ledger.core.errors import (
    AccountNotFoundError,
    CurrencyMismatchError,
    InvalidAmountError,
    InvalidEntryError,
    LedgerError,
)
from ledger.core.journal import EntrySpec, EntryView, PostingSpec, PostResult
from ledger.core.money import Money
from ledger.core.service import Ledger
from ledger.statements.csv_cells import Figure, csv_writer

ENTRY_FIELDS = frozenset(
    {"idempotency_key", "kind", "effective_date", "narration", "postings", "metadata", "actor"}
)
POSTING_FIELDS = frozenset({"account", "amount", "currency"})
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


# --------------------------------------------------------------------------- entries read from JSON
class _DuplicateKeyError(ValueError):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKeyError(f"duplicate key {key!r}")
        out[key] = value
    return out


def _refuse_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not a number")


def _loads(text: str) -> Any:
    # No float is ever made: decimals arrive as Decimal and are refused as amounts.
    try:
        return json.loads(
            text,
            parse_float=Decimal,
            parse_constant=_refuse_constant,
            object_pairs_hook=_no_duplicates,
        )
    except RecursionError:
        raise ValueError("nested too deeply") from None


@dataclass(frozen=True, slots=True)
class _Item:
    """One request read from the input: its line number and parsed value or parse error."""

    line: int
    value: Any = None
    error: str | None = None


def split_documents(text: str) -> Iterator[_Item]:
    """Read one JSON document or JSON lines.

    The whole text is one document when it parses as one (it may be pretty-printed
    over many lines) or when its first non-blank line is a lone "{" or "[" (a
    pretty-printed document with a syntax error is one error, not one per line).
    Otherwise every non-blank line is its own document.
    """
    lines = text.splitlines()
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is None:
        return
    try:
        yield _Item(first + 1, _loads(text))
        return
    except ValueError as exc:
        if lines[first].strip() in ("{", "["):
            lineno = getattr(exc, "lineno", first + 1)
            yield _Item(lineno, error=f"not valid JSON: {exc}")
            return
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            yield _Item(number, _loads(line))
        except ValueError as exc:
            yield _Item(number, error=f"not valid JSON: {exc}")


class _AccountCurrencies:
    """Account currencies, loaded once and refreshed when a code is not known yet."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self.known: dict[str, str] = {}
        self.refresh()

    def refresh(self) -> None:
        self.known = {a.code: a.currency for a in self.ledger.accounts()}

    def __getitem__(self, code: str) -> str:
        if code not in self.known:
            self.refresh()
        if code not in self.known:
            raise AccountNotFoundError(f"no account {code}", code=code)
        return self.known[code]


def _require_str(obj: dict[str, Any], key: str, *, required: bool = True) -> str | None:
    value = obj.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str):
        raise InvalidEntryError(f"{key!r} must be a string", field=key)
    return value


def entry_from_json(obj: Any, currencies: Callable[[str], str]) -> EntrySpec:
    """Build an EntrySpec from a parsed JSON entry; amounts must be decimal strings."""
    if not isinstance(obj, dict):
        raise InvalidEntryError("an entry is a JSON object (use JSON lines for several)")
    unknown = sorted(set(obj) - ENTRY_FIELDS)
    if unknown:
        raise InvalidEntryError(
            f"unknown field {unknown[0]!r}; an entry has {', '.join(sorted(ENTRY_FIELDS))}",
            field=unknown[0],
        )
    key = _require_str(obj, "idempotency_key")
    kind = _require_str(obj, "kind")
    narration = _require_str(obj, "narration", required=False) or ""
    actor = _require_str(obj, "actor", required=False)
    effective = _require_str(obj, "effective_date", required=False)
    effective_on: date | None = None
    if effective is not None:
        try:
            if not _ISO_DATE.match(effective):
                raise ValueError
            effective_on = date.fromisoformat(effective)
        except ValueError:
            raise InvalidEntryError(
                f"effective_date {effective!r} is not a YYYY-MM-DD date", field="effective_date"
            ) from None
    metadata = obj.get("metadata", {})
    if not isinstance(metadata, dict):
        raise InvalidEntryError("metadata must be an object", field="metadata")
    raw_postings = obj.get("postings")
    if not isinstance(raw_postings, list):
        raise InvalidEntryError("postings must be a list", field="postings")
    postings = []
    for number, raw in enumerate(raw_postings, start=1):
        if not isinstance(raw, dict):
            raise InvalidEntryError(f"posting {number} is not an object")
        extra = sorted(set(raw) - POSTING_FIELDS)
        if extra:
            raise InvalidEntryError(f"posting {number} has an unknown field {extra[0]!r}")
        account = raw.get("account")
        if not isinstance(account, str):
            raise InvalidEntryError(f"posting {number} needs an account code")
        amount = raw.get("amount")
        if not isinstance(amount, str):
            raise InvalidAmountError(
                f'posting {number}: amounts are decimal strings like "12.50", '
                f"not {'a JSON number' if isinstance(amount, int | Decimal) else 'missing'}",
                posting=number,
            )
        currency = currencies(account)
        given = raw.get("currency")
        if given is not None and given != currency:
            raise CurrencyMismatchError(
                f"posting {number}: account {account} is in {currency}, not {given}",
                account=account,
            )
        postings.append(PostingSpec(account, Money.parse(amount, currency)))
    assert key is not None and kind is not None
    return EntrySpec(
        key,
        kind,
        postings,
        effective_on=effective_on,
        narration=narration,
        metadata=metadata,
        actor=actor,
    )


def _result_json(result: PostResult) -> dict[str, Any]:
    return {
        "sequence": result.entry.sequence,
        "id": result.entry.id,
        "status": "created" if result.created else "existing",
    }


def _error_json(
    line: int, code: str, message: str, details: dict[str, Any] | None = None
) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if details:
        error["details"] = details
    return {"line": line, "error": error}


# --------------------------------------------------------------------------- post, reverse
@click.command()
@click.argument("file", type=click.File("r", encoding="utf-8"), default="-")
@click.pass_context
def post(ctx: click.Context, file: TextIO) -> None:
    """Post journal entries from FILE (default: standard input).

    FILE holds one JSON entry (it may span several lines) or JSON lines, one
    entry per line; each entry is posted in its own transaction:

    \b
      {"idempotency_key": "don-0001", "kind": "donation",
       "effective_date": "2026-04-03", "narration": "Donazione",
       "postings": [{"account": "assets:bank:intesa", "amount": "25.00"},
                    {"account": "income:donations", "amount": "-25.00"}]}

    Amounts are decimal strings, debit positive, in the account's currency.
    Prints one JSON line per entry (sequence, id, status created|existing) or
    a JSON error naming its line, and exits 1 if any entry was refused. Each
    entry created writes an `entry.post` audit event; a replay writes none.
    """
    if file.isatty():
        click.echo("reading entries from standard input (end with Ctrl-D)", err=True)
    ledger = open_ledger(ctx)

    origin = Origin.command_line()

    def post_one(spec: EntrySpec) -> PostResult:
        outcome = ledger.run(
            lambda session: books.post_entry(
                session,
                spec.postings,
                kind=spec.kind,
                effective_on=spec.effective_on,
                narration=spec.narration,
                metadata=spec.metadata,
                actor=spec.actor,
                origin=origin,
                clock=ledger.clock,
                key=spec.idempotency_key,
            )
        )
        return PostResult(outcome.value, outcome.created)

    try:
        text = file.read()
    except UnicodeDecodeError as exc:
        raise CommandError("invalid_json", f"the input is not UTF-8 text ({exc.reason})") from exc
    currencies = _AccountCurrencies(ledger)
    counter = Counter("posted", every=100)
    done = refused = 0
    for item in split_documents(text):
        if item.error is not None:
            _json_line(_error_json(item.line, "invalid_json", item.error))
            refused += 1
            continue
        try:
            spec = entry_from_json(item.value, currencies.__getitem__)
            result = post_one(spec)
        except LedgerError as exc:
            _json_line(_error_json(item.line, exc.code, exc.message, exc.details))
            refused += 1
            continue
        _json_line(_result_json(result))
        done += 1
        counter(done)
    counter.done()
    if done == 0 and refused == 0:
        raise CommandError("invalid_json", "no entries in the input")
    if refused:
        click.echo(f"{refused} of {done + refused} entries refused", err=True)
        ctx.exit(1)


@click.command()
@click.argument("sequence", type=click.IntRange(min=1))
@click.option("--idempotency-key", required=True, help="Makes a retry safe.")
@click.option("--narration", default=None, help="Default: 'Storno della registrazione n. N'.")
@click.option(
    "--effective-date",
    type=DATE,
    default=None,
    help="Business date (default: today in Europe/Rome).",
)
@click.pass_context
def reverse(
    ctx: click.Context,
    sequence: int,
    idempotency_key: str,
    narration: str | None,
    effective_date: datetime | None,
) -> None:
    """Post the exact opposite of entry SEQUENCE (at most once per entry).

    Writes an `entry.reverse` audit event when the reversal is created.
    """
    ledger = open_ledger(ctx)
    outcome = ledger.run(
        lambda session: books.reverse_entry(
            session,
            sequence,
            narration=narration,
            effective_on=_as_date(effective_date),
            origin=Origin.command_line(),
            clock=ledger.clock,
            key=idempotency_key,
        )
    )
    _json_line(_result_json(PostResult(outcome.value, outcome.created)))


# --------------------------------------------------------------------------- entries
@click.group()
def entries() -> None:
    """Journal entries."""


def entry_json(entry: EntryView) -> dict[str, Any]:
    """An entry as JSON-safe data with decimal-string amounts."""
    return {
        "sequence": entry.sequence,
        "id": entry.id,
        "idempotency_key": entry.idempotency_key,
        "kind": entry.kind,
        "effective_date": entry.effective_on.isoformat(),
        "recorded_at": entry.recorded_at.isoformat(),
        "actor": entry.actor,
        "narration": entry.narration,
        "metadata": entry.metadata,
        "reverses_entry_id": entry.reverses_entry_id,
        "hold_id": entry.hold_id,
        "hash": entry.hash,
        "postings": [
            {
                "account": p.account,
                "currency": p.amount.currency,
                "amount": p.amount.amount_string(),
            }
            for p in entry.postings
        ],
    }


@entries.command("show")
@click.argument("sequence", type=click.IntRange(min=1))
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
@click.pass_context
def entries_show(ctx: click.Context, sequence: int, fmt: str) -> None:
    """Show entry SEQUENCE with its postings."""
    entry = open_ledger(ctx).entry(sequence)
    if fmt == "json":
        click.echo(json.dumps(entry_json(entry), ensure_ascii=False, indent=2))
        return
    click.echo(f"entry {entry.sequence}  {entry.effective_on.isoformat()}  {entry.kind}")
    click.echo(f"  id: {entry.id}")
    click.echo(f"  key: {entry.idempotency_key}")
    click.echo(f"  recorded: {entry.recorded_at.isoformat()}")
    if entry.narration:
        click.echo(f"  narration: {entry.narration}")
    if entry.metadata:
        click.echo(f"  metadata: {json.dumps(entry.metadata, ensure_ascii=False)}")
    if entry.reverses_entry_id:
        click.echo(f"  reverses: {entry.reverses_entry_id}")
    width = max(len(p.account) for p in entry.postings)
    for p in entry.postings:
        click.echo(f"    {p.account:<{width}}  {p.amount.amount_string():>15} {p.amount.currency}")
    click.echo(f"  hash: {entry.hash}")


# --------------------------------------------------------------------------- balances
@click.command()
@click.argument("code")
@click.option("--as-of", type=DATE, default=None, help="Replay up to this date (inclusive).")
@click.option(
    "--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True
)
@click.pass_context
def balance(ctx: click.Context, code: str, as_of: datetime | None, fmt: str) -> None:
    """Balance of account CODE in its normal orientation."""
    view = open_ledger(ctx).balance(code, _as_date(as_of))
    cur = view.account.currency
    data = {
        "account": view.account.code,
        "currency": cur,
        "posted": _amount(view.posted, cur),
        "pending": _amount(view.pending, cur),
        "available": _amount(view.available, cur),
    }
    if fmt == "json":
        _json_line(data)
        return
    when = f" as of {view.as_of.isoformat()}" if view.as_of else ""
    click.echo(f"{view.account.code} ({view.account.type}, {cur}){when}")
    for label in ("posted", "pending", "available"):
        click.echo(f"  {label:<10} {data[label]:>18}")


@click.command("trial-balance")
@click.option("--as-of", type=DATE, default=None, help="Replay up to this date (inclusive).")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json", "csv"]),
    default="table",
    show_default=True,
)
@click.pass_context
def trial_balance_cmd(ctx: click.Context, as_of: datetime | None, fmt: str) -> None:
    """Net balance of every account in debit and credit columns, totals per currency."""
    lines = open_ledger(ctx).trial_balance(_as_date(as_of))
    rows = [
        (
            ln.account.code,
            ln.account.type,
            ln.account.currency,
            _amount(ln.debit, ln.account.currency),
            _amount(ln.credit, ln.account.currency),
        )
        for ln in lines
    ]
    total_rows = [
        (t.currency, _amount(t.debit, t.currency), _amount(t.credit, t.currency))
        for t in currency_totals(lines)
    ]
    if fmt == "json":
        click.echo(
            json.dumps(
                {
                    "as_of": as_of.date().isoformat() if as_of else None,
                    "lines": [
                        dict(
                            zip(("account", "type", "currency", "debit", "credit"), r, strict=True)
                        )
                        for r in rows
                    ],
                    "totals": {cur: {"debit": d, "credit": c} for cur, d, c in total_rows},
                },
                ensure_ascii=False,
                indent=2,
            )
        )
        return
    if fmt == "csv":
        writer = csv_writer(sys.stdout)
        writer.writerow(("account", "type", "currency", "debit", "credit"))
        writer.writerows((code, kind, cur, Figure(d), Figure(c)) for code, kind, cur, d, c in rows)
        writer.writerows(("total", "", cur, Figure(d), Figure(c)) for cur, d, c in total_rows)
        return
    width = max([len("account"), *(len(r[0]) for r in rows)])
    num = max(
        [
            len("credit"),
            *(len(r[3]) for r in rows),
            *(len(r[4]) for r in rows),
            *(len(t[1]) for t in total_rows),
            *(len(t[2]) for t in total_rows),
        ]
    )
    click.echo(f"trial balance{' as of ' + as_of.date().isoformat() if as_of else ''}")
    click.echo(f"{'account':<{width}}  {'type':<9}  cur  {'debit':>{num}}  {'credit':>{num}}")
    for code, typ, cur, d, c in rows:
        click.echo(f"{code:<{width}}  {typ:<9}  {cur}  {d:>{num}}  {c:>{num}}")
    for cur, d, c in total_rows:
        click.echo(f"{'total':<{width}}  {'':<9}  {cur}  {d:>{num}}  {c:>{num}}")
