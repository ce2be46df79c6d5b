"""The statement importer: check parsed statements, tell new lines from known ones, store them.

Called by `ledger.reconcile.commands.import_statement` inside its transaction;
a refusal raises before anything is committed, so a refused file leaves nothing.

Checks, per statement of the file:
- the IBAN and currency are the chosen account's (a file holding statements of
  several accounts imports only the chosen account's; a file with none of it is
  refused);
- opening + the booked lines = closing (`difference` = computed - stated
  closing; booked balances, the available ones OPAV/CLAV when a file carries
  only those); a statement without balances (a
  camt.054 notification, most CSV exports) is not checked (`balanced` None);
- the opening equals the closing of the stored statement that ends last
  before this statement's first day (not checked when none does, or when the
  statements overlap).
Either failure is refused with the exact figures unless the import accepts it
explicitly (recorded with who and why on the import and on each statement).

Identity of a line within its bank account (never within a file):
- fingerprint = SHA-256 of the account's IBAN, the booking date, the signed
  amount and the normalised text (lowercased, whitespace collapsed, the bank's
  id removed from it); `occurrence` counts identical fingerprints within one
  file, so three genuine identical rows stay three, and a file seen again
  repeats the same (fingerprint, occurrence) pairs;
- where the bank gives an id: (bank_ref, booking date, signed amount,
  `ref_occurrence`), since bank ids repeat (two PostFinance entries share one
  `AcctSvcrRef`, which comes back a year later).
A line is already there when either identity is stored; it is then reported
(with the stored line's id) and not stored again.

Batches: an entry whose details (two or more) add up to it is stored as the
entry and its details as child lines (`parent_line_id`); the bank balance is
the sum of entries, and the details are what gets explained. An entry already
stored unsplit gets its children when a later file (a camt.054 for a camt.053
entry with the same bank id) carries a breakdown that adds up, unless the
treasurer has explained the entry by then, even in part: it is kept whole
(`kept_whole`), as it was, and the breakdown is not stored.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session, aliased

from ledger.core.money import format_minor
from ledger.reconcile.errors import (
    StatementAccountMismatchError,
    StatementCurrencyMismatchError,
    StatementDiscontinuousError,
    StatementUnbalancedError,
)
from ledger.reconcile.models import (
    BankAccount,
    BankAllocation,
    BankLine,
    BankStatement,
    StatementImport,
)
from ledger.reconcile.parsed import Detail, ParsedLine, ParsedStatement

_CHUNK = 500  # values per IN list of the identity lookup
_FLUSH_EVERY = 100  # new lines per INSERT


@dataclass(frozen=True, slots=True)
class StatementResult:
    position: int
    statement_id: str | None
    balance_kind: str | None
    opening_minor: int | None
    closing_minor: int | None
    computed_closing_minor: int | None
    balanced: bool | None
    difference_minor: int | None
    continuity_minor: int | None
    accepted: bool
    lines: int


@dataclass(frozen=True, slots=True)
class KnownLine:
    """A line of the file that was already stored (`line_id` is the stored one)."""

    line_id: int
    booked_on: date
    amount_minor: int
    bank_ref: str | None
    text: str


@dataclass(frozen=True, slots=True)
class ImportReport:
    import_id: int
    iban: str
    currency: str
    format: str
    sha256: str
    statements: tuple[StatementResult, ...]
    lines: int
    new: int
    already_imported: tuple[KnownLine, ...]
    details_added: int = 0
    skipped_statements: int = 0
    accepted_unbalanced: bool = False
    new_line_ids: tuple[int, ...] = field(default_factory=tuple)
    # Known lines this file breaks down, explained already: left whole, without details.
    kept_whole: tuple[int, ...] = field(default_factory=tuple)

    @property
    def id(self) -> int:
        return self.import_id


def normalize_text(text: str, bank_ref: str | None = None) -> str:
    """Lowercase, whitespace collapsed, the bank's id taken out."""
    lowered = text.lower()
    if bank_ref:
        lowered = lowered.replace(bank_ref.lower(), " ")
    return " ".join(lowered.split())


def fingerprint(iban: str, booked_on: date, amount_minor: int, normalized: str) -> str:
    payload = "\x1f".join((iban, booked_on.isoformat(), str(amount_minor), normalized))
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def splits(line: ParsedLine) -> bool:
    """Whether the entry is stored with its details: two or more that add up to it."""
    return len(line.details) >= 2 and sum(d.amount_minor for d in line.details) == line.amount_minor


@dataclass(slots=True)
class _Identified:
    line: ParsedLine
    statement: int  # index in the file's kept statements
    normalized: str
    fingerprint: str
    occurrence: int
    ref_occurrence: int | None


def _identify(iban: str, statements: list[ParsedStatement]) -> list[_Identified]:
    seen: Counter[str] = Counter()
    refs: Counter[tuple[str, date, int]] = Counter()
    out = []
    for index, statement in enumerate(statements):
        for line in statement.lines:
            normalized = normalize_text(line.text, line.bank_ref)
            fp = fingerprint(iban, line.booked_on, line.amount_minor, normalized)
            seen[fp] += 1
            ref_occurrence = None
            if line.bank_ref:
                key = (line.bank_ref, line.booked_on, line.amount_minor)
                refs[key] += 1
                ref_occurrence = refs[key]
            out.append(_Identified(line, index, normalized, fp, seen[fp], ref_occurrence))
    return out


def _check_account(
    account: BankAccount, statements: list[ParsedStatement]
) -> tuple[list[ParsedStatement], int]:
    ibans = {s.iban.replace(" ", "").upper() for s in statements if s.iban}
    kept = [
        s for s in statements if s.iban is None or s.iban.replace(" ", "").upper() == account.iban
    ]
    if ibans and not kept:
        raise StatementAccountMismatchError(
            f"the file is the statement of {', '.join(sorted(ibans))}, not of {account.iban}; "
            "nothing was imported",
            iban=account.iban,
            file_ibans=sorted(ibans),
        )
    for s in kept:
        if s.currency is not None and s.currency != account.currency:
            raise StatementCurrencyMismatchError(
                f"the statement is in {s.currency}, the account {account.iban} in "
                f"{account.currency}; nothing was imported",
                iban=account.iban,
                currency=account.currency,
                file_currency=s.currency,
            )
    return kept, len(statements) - len(kept)


def _one_account(account: BankAccount, kept: list[ParsedStatement]) -> None:
    """Refuse a file naming several accounts without IBANs (MT940 bank code and number):
    which of them is `account` cannot be told. Checked after the balances, so a
    statement that does not add up is flagged first."""
    others = sorted({s.account_ref for s in kept if s.iban is None and s.account_ref})
    if len(others) > 1:
        shown = ", ".join(others[:5]) + (", ..." if len(others) > 5 else "")
        raise StatementAccountMismatchError(
            f"the file holds the statements of {len(others)} accounts that it names without "
            f"an IBAN ({shown}): which one is {account.iban} cannot be told; import a file "
            "of that account alone. Nothing was imported",
            iban=account.iban,
            file_accounts=others,
        )


def _balances(statement: ParsedStatement) -> tuple[str | None, int | None, int | None]:
    if statement.opening_minor is not None and statement.closing_minor is not None:
        return "booked", statement.opening_minor, statement.closing_minor
    if (
        statement.available_opening_minor is not None
        and statement.available_closing_minor is not None
    ):
        return "available", statement.available_opening_minor, statement.available_closing_minor
    return None, None, None


def _first_day(statement: ParsedStatement) -> date | None:
    days = [line.booked_on for line in statement.lines]
    days += [d for d in (statement.opening_on, statement.closing_on) if d is not None]
    return min(days) if days else None


def _previous_closing(
    session: Session, account_id: int, kind: str, before: date
) -> BankStatement | None:
    return session.scalars(
        select(BankStatement)
        .where(
            BankStatement.bank_account_id == account_id,
            BankStatement.balance_kind == kind,
            BankStatement.closing_on < before,
        )
        .order_by(BankStatement.closing_on.desc(), BankStatement.id.desc())
        .limit(1)
    ).first()


def _figures(result: StatementResult, currency: str) -> dict[str, object]:
    def money(minor: int | None) -> str | None:
        return None if minor is None else format_minor(minor, currency)

    return {
        "position": result.position,
        "statement_id": result.statement_id,
        "opening": money(result.opening_minor),
        "closing": money(result.closing_minor),
        "computed_closing": money(result.computed_closing_minor),
        "difference": money(result.difference_minor),
        "continuity_difference": money(result.continuity_minor),
    }


def import_parsed(
    session: Session,
    account: BankAccount,
    statements: list[ParsedStatement],
    *,
    sha256: str,
    fmt: str,
    preset: str | None,
    accept_unbalanced: bool,
    reason: str | None,
    actor: str,
    now: datetime,
) -> ImportReport:
    """Check and store `statements` for `account` (its row locked by the caller)."""
    kept, skipped = _check_account(account, statements)
    identified = _identify(account.iban, kept)
    currency = account.currency

    # Balances and continuity, in the file's order (a statement continues the one before).
    results: list[StatementResult] = []
    pending: dict[str, list[tuple[date, int]]] = {}  # this file's closings, by balance kind
    for position, statement in enumerate(kept, start=1):
        kind, opening, closing = _balances(statement)
        total = sum(line.amount_minor for line in statement.lines)
        computed = None if opening is None else opening + total
        difference = None if closing is None or computed is None else computed - closing
        continuity = None
        first = _first_day(statement)
        if kind is not None and opening is not None and first is not None:
            stored = _previous_closing(session, account.id, kind, first)
            candidates = [(c_on, c) for c_on, c in pending.get(kind, []) if c_on < first]
            if stored is not None and stored.closing_on is not None:
                candidates.append((stored.closing_on, stored.closing_minor or 0))
            if candidates:
                continuity = opening - max(candidates, key=lambda c: c[0])[1]
            if closing is not None and statement.closing_on is not None:
                pending.setdefault(kind, []).append((statement.closing_on, closing))
        results.append(
            StatementResult(
                position=position,
                statement_id=statement.statement_id,
                balance_kind=kind,
                opening_minor=opening,
                closing_minor=closing,
                computed_closing_minor=computed,
                balanced=None if difference is None else difference == 0,
                difference_minor=difference,
                continuity_minor=continuity,
                accepted=bool(accept_unbalanced and (difference or continuity)),
                lines=len(statement.lines),
            )
        )
    unbalanced = [r for r in results if r.difference_minor]
    broken = [r for r in results if r.continuity_minor]
    if not accept_unbalanced and unbalanced:
        first_bad = unbalanced[0]
        raise StatementUnbalancedError(
            f"statement {first_bad.statement_id or first_bad.position} does not add up: "
            f"opening + lines = {format_minor(first_bad.computed_closing_minor or 0, currency)}, "
            f"closing {format_minor(first_bad.closing_minor or 0, currency)}, difference "
            f"{format_minor(first_bad.difference_minor or 0, currency)}; nothing was imported "
            "(accept it explicitly, with a reason, to import it anyway)",
            difference=format_minor(first_bad.difference_minor or 0, currency),
            statements=[_figures(r, currency) for r in unbalanced],
        )
    if not accept_unbalanced and broken:
        first_bad = broken[0]
        raise StatementDiscontinuousError(
            f"statement {first_bad.statement_id or first_bad.position} opens "
            f"{format_minor(first_bad.continuity_minor or 0, currency)} away from the previous "
            "statement's closing balance; nothing was imported (accept it explicitly, with a "
            "reason, to import it anyway)",
            difference=format_minor(first_bad.continuity_minor or 0, currency),
            statements=[_figures(r, currency) for r in broken],
        )

    _one_account(account, kept)

    # Identity: what is already stored for this account (looked up in chunks: one
    # IN list of a whole file's fingerprints is a statement too large to be quick).
    fps = sorted({i.fingerprint for i in identified})
    refs = sorted({i.line.bank_ref for i in identified if i.line.bank_ref})
    found: dict[int, BankLine] = {}
    for column, values in ((BankLine.fingerprint, fps), (BankLine.bank_ref, refs)):
        for start in range(0, len(values), _CHUNK):
            for hit in session.scalars(
                select(BankLine).where(
                    BankLine.bank_account_id == account.id,
                    BankLine.parent_line_id.is_(None),
                    column.in_(values[start : start + _CHUNK]),
                )
            ):
                found[hit.id] = hit
    stored_rows = list(found.values())
    by_fp = {(r.fingerprint, r.occurrence): r for r in stored_rows}
    by_ref = {
        (r.bank_ref, r.booked_on, r.amount_minor, r.ref_occurrence): r
        for r in stored_rows
        if r.bank_ref
    }

    accepted = bool(accept_unbalanced and (unbalanced or broken))
    known: list[tuple[_Identified, BankLine]] = []
    fresh: list[_Identified] = []
    for item in identified:
        row = by_fp.get((item.fingerprint, item.occurrence))
        if row is None and item.line.bank_ref:
            row = by_ref.get(
                (
                    item.line.bank_ref,
                    item.line.booked_on,
                    item.line.amount_minor,
                    item.ref_occurrence,
                )
            )
        if row is None:
            fresh.append(item)
        else:
            known.append((item, row))

    # A known entry this file breaks down gets its detail lines, unless the treasurer
    # has explained it meanwhile, even in part (see `_locked_state`): it is kept
    # whole. One breakdown per line, should two items of the file name the same line.
    breakdowns: dict[int, tuple[_Identified, BankLine]] = {}
    for item, row in known:
        if splits(item.line):
            breakdowns.setdefault(row.id, (item, row))
    rows = sorted((row for _item, row in breakdowns.values()), key=lambda r: (r.booked_on, r.id))
    split, explained = _locked_state(session, [r.id for r in rows])
    to_split = [breakdowns[r.id] for r in rows if r.id not in split and r.id not in explained]
    kept_whole = sorted(explained - split)

    record = StatementImport(
        bank_account_id=account.id,
        sha256=sha256,
        format=fmt,
        preset=preset,
        actor=actor,
        imported_at=now,
        accepted_unbalanced=accepted,
        accepted_by=actor if accepted else None,
        accepted_reason=reason if accepted else None,
        statement_count=len(kept),
        line_count=len(identified),
        new_count=len(fresh),
        already_count=len(known),
        already_line_ids=json.dumps([row.id for _, row in known]),
        kept_whole_line_ids=json.dumps(kept_whole),
    )
    session.add(record)
    session.flush()
    statement_rows: list[BankStatement] = []
    for statement, result in zip(kept, results, strict=True):
        stmt_row = BankStatement(
            import_id=record.id,
            bank_account_id=account.id,
            position=result.position,
            statement_id=statement.statement_id,
            balance_kind=result.balance_kind,
            opening_minor=result.opening_minor,
            closing_minor=result.closing_minor,
            computed_closing_minor=result.computed_closing_minor,
            opening_on=statement.opening_on,
            closing_on=statement.closing_on,
            first_booked_on=_first_day(statement),
            balanced=result.balanced,
            difference_minor=result.difference_minor,
            continuity_minor=result.continuity_minor,
            accepted=result.accepted,
            line_count=result.lines,
        )
        session.add(stmt_row)
        statement_rows.append(stmt_row)
    session.flush()

    # The new entries flushed 100 at a time (one multi-row INSERT each, not one per
    # line; larger statements cost the PostgreSQL driver more than they save), then
    # the details of those split, which need their parent's id.
    parents: list[tuple[_Identified, BankLine]] = []
    for item in fresh:
        line = item.line
        parent = BankLine(
            bank_account_id=account.id,
            import_id=record.id,
            statement_id=statement_rows[item.statement].id,
            parent_line_id=None,
            booked_on=line.booked_on,
            value_on=line.value_on,
            amount_minor=line.amount_minor,
            text=line.text,
            normalized_text=item.normalized,
            raw=line.raw,
            bank_ref=line.bank_ref,
            ref_occurrence=item.ref_occurrence,
            end_to_end_id=line.end_to_end_id,
            reference=line.reference,
            counterparty_name=line.counterparty_name,
            counterparty_iban=line.counterparty_iban,
            bank_code=line.bank_code,
            reason_code=line.reason_code,
            reversal=line.reversal,
            batch_count=line.batch_count,
            fingerprint=item.fingerprint,
            occurrence=item.occurrence,
        )
        session.add(parent)
        parents.append((item, parent))
        if len(parents) % _FLUSH_EVERY == 0:
            session.flush()
    session.flush()
    new_ids = [parent.id for _, parent in parents]
    for item, parent in parents:
        if splits(item.line):
            _add_details(session, parent, item.line, statement_rows[item.statement].id, record.id)

    for item, row in to_split:
        _add_details(session, row, item.line, statement_rows[item.statement].id, record.id)
    details_added = len(to_split)
    session.flush()

    return ImportReport(
        import_id=record.id,
        iban=account.iban,
        currency=currency,
        format=fmt,
        sha256=sha256,
        statements=tuple(results),
        lines=len(identified),
        new=len(fresh),
        already_imported=tuple(
            KnownLine(row.id, row.booked_on, row.amount_minor, row.bank_ref, row.text)
            for _, row in known
        ),
        details_added=details_added,
        skipped_statements=skipped,
        kept_whole=tuple(kept_whole),
        accepted_unbalanced=accepted,
        new_line_ids=tuple(new_ids),
    )


def _locked_state(session: Session, line_ids: list[int]) -> tuple[set[int], set[int]]:
    """Lock the known lines a file breaks down (`line_ids`, in the order the matching
    locks lines: booking day, then id) and return those split already and those that
    anything explains (any allocation, a part included).

    Both are read by statements of their own, after the lock: one that waited for it
    sees what the other unit committed. An allocation waits for this import in turn
    (`matching.lock_line`), then finds the line split."""
    split: set[int] = set()
    explained: set[int] = set()
    for start in range(0, len(line_ids), _CHUNK):
        chunk = line_ids[start : start + _CHUNK]
        session.scalars(
            select(BankLine.id)
            .where(BankLine.id.in_(chunk))
            .order_by(BankLine.booked_on, BankLine.id)
            .with_for_update()
        ).all()
        split.update(
            i
            for i in session.scalars(
                select(BankLine.parent_line_id).where(BankLine.parent_line_id.in_(chunk))
            )
            if i is not None
        )
        explained.update(
            session.scalars(select(BankAllocation.line_id).where(BankAllocation.line_id.in_(chunk)))
        )
    return split, explained


def _add_details(
    session: Session,
    parent: BankLine,
    line: ParsedLine,
    statement_row_id: int,
    import_id: int,
) -> None:
    for index, detail in enumerate(line.details, start=1):
        session.add(_child(parent, detail, index, statement_row_id, import_id))


def _child(
    parent: BankLine, detail: Detail, index: int, statement_row_id: int, import_id: int
) -> BankLine:
    normalized = normalize_text(detail.text)
    # The detail's identity is its parent's and its place in the breakdown.
    digest = hashlib.sha256(
        f"{parent.fingerprint}\x1f{parent.occurrence}\x1f{index}".encode()
    ).hexdigest()
    return BankLine(
        bank_account_id=parent.bank_account_id,
        import_id=import_id,
        statement_id=statement_row_id,
        parent_line_id=parent.id,
        booked_on=parent.booked_on,
        value_on=parent.value_on,
        amount_minor=detail.amount_minor,
        text=detail.text,
        normalized_text=normalized,
        raw="",  # the source text is the entry's (its parent's `raw`)
        bank_ref=None,
        ref_occurrence=None,
        end_to_end_id=detail.end_to_end_id,
        reference=detail.reference,
        counterparty_name=detail.counterparty_name,
        counterparty_iban=detail.counterparty_iban,
        bank_code=parent.bank_code,
        reason_code=detail.reason_code,
        reversal=parent.reversal,
        batch_count=None,
        fingerprint=digest,
        occurrence=1,
    )


def report_of(session: Session, import_id: int) -> ImportReport:
    """An import's report read back from its stored rows (a repeated request's answer)."""
    record = session.get(StatementImport, import_id)
    if record is None:
        raise LookupError(import_id)
    account = session.get(BankAccount, record.bank_account_id)
    assert account is not None
    rows = session.scalars(
        select(BankStatement)
        .where(BankStatement.import_id == import_id)
        .order_by(BankStatement.position)
    ).all()
    ids = json.loads(record.already_line_ids)
    known_rows = {r.id: r for r in session.scalars(select(BankLine).where(BankLine.id.in_(ids)))}
    new_ids = session.scalars(
        select(BankLine.id)
        .where(BankLine.import_id == import_id, BankLine.parent_line_id.is_(None))
        .order_by(BankLine.id)
    ).all()
    # The known lines this import broke down: parents of its detail lines, imported before.
    parent = aliased(BankLine)
    details_added = session.scalar(
        select(func.count(func.distinct(BankLine.parent_line_id)))
        .join(parent, parent.id == BankLine.parent_line_id)
        .where(BankLine.import_id == import_id, parent.import_id != import_id)
    )
    return ImportReport(
        import_id=record.id,
        iban=account.iban,
        currency=account.currency,
        format=record.format,
        sha256=record.sha256,
        statements=tuple(
            StatementResult(
                position=r.position,
                statement_id=r.statement_id,
                balance_kind=r.balance_kind,
                opening_minor=r.opening_minor,
                closing_minor=r.closing_minor,
                computed_closing_minor=r.computed_closing_minor,
                balanced=r.balanced,
                difference_minor=r.difference_minor,
                continuity_minor=r.continuity_minor,
                accepted=r.accepted,
                lines=r.line_count,
            )
            for r in rows
        ),
        lines=record.line_count,
        new=record.new_count,
        already_imported=tuple(
            KnownLine(r.id, r.booked_on, r.amount_minor, r.bank_ref, r.text)
            for r in (known_rows[i] for i in ids)
        ),
        details_added=int(details_added or 0),
        accepted_unbalanced=record.accepted_unbalanced,
        new_line_ids=tuple(new_ids),
        kept_whole=tuple(json.loads(record.kept_whole_line_ids)),
    )


@dataclass(frozen=True, slots=True)
class LineView:
    id: int
    booked_on: date
    value_on: date | None
    amount_minor: int
    currency: str
    text: str
    bank_ref: str | None
    reference: str | None
    reason_code: str | None
    reversal: bool
    parent_line_id: int | None
    status: str


def lines_to_explain(session: Session, account: BankAccount) -> list[LineView]:
    """The account's lines that each need an explanation: every entry not split, and the
    details of the entries that are (their parents are explained by them). Matching
    does not exist yet, so every line is `unexplained`."""
    split_parents = select(BankLine.parent_line_id).where(
        BankLine.bank_account_id == account.id, BankLine.parent_line_id.is_not(None)
    )
    rows = session.scalars(
        select(BankLine)
        .where(BankLine.bank_account_id == account.id, BankLine.id.not_in(split_parents))
        .order_by(BankLine.booked_on, BankLine.id)
    ).all()
    return [
        LineView(
            id=r.id,
            booked_on=r.booked_on,
            value_on=r.value_on,
            amount_minor=r.amount_minor,
            currency=account.currency,
            text=r.text,
            bank_ref=r.bank_ref,
            reference=r.reference,
            reason_code=r.reason_code,
            reversal=r.reversal,
            parent_line_id=r.parent_line_id,
            status="unexplained",
        )
        for r in rows
    ]
