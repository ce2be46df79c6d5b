"""verify: check every invariant over the whole book, naming the first failure.

Walks the journal in sequence order, recomputing what the engine maintains:
per-entry balance (I1), reversal links (I3), idempotency records (I4), running
no-overdraft balances (I5), periods closed before the entry was written (I8),
the gapless sequence and hash chain (I9); then compares the replay with the maintained
balances, the totals written by each month's close and the global zero sum (I7),
open holds with pending totals (I6), looks for rows outside any entry (I10) and for
the append-only triggers (I2).
The first failure is the lowest sequence number, then the lowest invariant.
It only reads.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from ledger.core.accounts import AccountView, normal_sign
from ledger.core.balances import WorkingBalance
from ledger.core.chain import GENESIS_HASH, chain_hash, entry_canonical
from ledger.core.models import (
    Account,
    Balance,
    Hold,
    HoldResolution,
    IdempotencyKey,
    JournalEntry,
    LedgerHead,
    Period,
    PeriodTotal,
    Posting,
)

# The append-only triggers the migrations install (I2); verify fails without them.
APPEND_ONLY_TABLES = (
    "journal_entries",
    "postings",
    "holds",
    "hold_resolutions",
    "idempotency_keys",
    "periods",
    "period_totals",
)
MAX_REPORTED = 100
_ORDER = {f"I{n}": n for n in range(1, 11)}


@dataclass(frozen=True, slots=True)
class Violation:
    invariant: str
    sequence: int | None
    message: str

    def sort_key(self) -> tuple[bool, int, int]:
        # Violations tied to a sequence come first, lowest sequence first.
        return (self.sequence is None, self.sequence or 0, _ORDER[self.invariant])


@dataclass
class VerifyReport:
    entries_checked: int = 0
    last_sequence: int = 0
    head_hash: str = GENESIS_HASH
    violations: list[Violation] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.violations

    @property
    def first(self) -> Violation | None:
        return min(self.violations, key=Violation.sort_key) if self.violations else None

    def add(self, invariant: str, sequence: int | None, message: str) -> None:
        if len(self.violations) < MAX_REPORTED:
            self.violations.append(Violation(invariant, sequence, message))


def _expected_triggers(dialect: str) -> set[str]:
    if dialect == "postgresql":
        guards = ("append_only", "no_truncate")
        return {f"{t}_{g}" for t in APPEND_ONLY_TABLES for g in guards} | {
            "postings_join_new_entries",
            "postings_stay_balanced_on_update",
            "postings_stay_balanced_on_delete",
            "journal_entries_balanced",
            "accounts_guard",
            "accounts_no_truncate",
            "balances_no_delete",
            "balances_no_truncate",
        }
    return {f"{t}_no_{op}" for t in APPEND_ONLY_TABLES for op in ("update", "delete")} | {
        "accounts_no_rewrite",
        "accounts_no_delete",
        "balances_no_delete",
    }


def _installed_triggers(session: Session) -> set[str]:
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        # A disabled trigger ('D') or a replica-only one ('R') is listed but does
        # not fire in ordinary sessions, so it guards nothing.
        rows = session.execute(
            text("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal AND tgenabled IN ('O', 'A')")
        )
    else:
        rows = session.execute(text("SELECT name FROM sqlite_master WHERE type = 'trigger'"))
    return {r[0] for r in rows}


def verify(session: Session, progress: Callable[[int], None] | None = None) -> VerifyReport:
    """Check I1-I10; the report's `first` names the earliest failing sequence."""
    report = VerifyReport()
    dialect = session.get_bind().dialect.name
    missing = _expected_triggers(dialect) - _installed_triggers(session)
    if missing:
        report.add(
            "I2", None, "append-only or balance triggers missing: " + ", ".join(sorted(missing))
        )

    accounts = {a.id: a for a in session.scalars(select(Account))}
    keys = {
        row.key: (row.entry_id, row.request_hash)
        for row in session.execute(
            select(IdempotencyKey.key, IdempotencyKey.entry_id, IdempotencyKey.request_hash)
        )
    }
    # A close applies to the entries recorded after it, i.e. past its head sequence.
    periods = sorted(session.scalars(select(Period)), key=lambda p: p.closed_after_sequence)
    close_marks = [p.closed_after_sequence for p in periods]
    # Each close recorded the chain hash at its sequence: the journal up to there
    # can no longer be rewritten, even together with the head row (I9).
    anchors = {p.closed_after_sequence: p.head_hash for p in periods}
    if anchors.get(0, GENESIS_HASH) != GENESIS_HASH:
        report.add("I9", 1, "a period closed on an empty journal records a non-genesis hash")
    anchors.pop(0, None)
    lock_after: list[date] = []
    for p in periods:
        lock_after.append(max(p.ends_on, lock_after[-1]) if lock_after else p.ends_on)
    # Debits and credits per month of effective date and account, for the totals
    # each close wrote (`period_totals`); gathered only when a month was closed.
    monthly: dict[int, tuple[dict[int, int], dict[int, int]]] = {}

    debits: dict[int, int] = defaultdict(int)
    credits: dict[int, int] = defaultdict(int)
    legs_count: dict[int, int] = defaultdict(int)
    running: dict[int, int] = defaultdict(int)
    seen: dict[str, tuple[int, list[tuple[int, int, str, int]], str | None]] = {}
    reversed_by: dict[str, int] = {}
    prev_hash = GENESIS_HASH
    expected = 1
    last_recorded: datetime | None = None

    # Only entries that something reverses need their legs kept for the I3 check.
    targets = set(
        session.scalars(
            select(JournalEntry.reverses_entry_id).where(
                JournalEntry.reverses_entry_id.is_not(None)
            )
        )
    )
    # Plain Core rows over the tables (not ORM entities), unpacked as tuples, in
    # two streams merged here (the entries; their postings in the same order, the
    # sequence being unique) rather than one join that repeats each entry's columns
    # on every leg: the walk visits every entry and posting of the book, so each
    # attribute lookup and each byte counts (issue 14: verify per 100,000 entries).
    # Postings of no entry are not in the second stream: I10 counts them below.
    ec, pc = JournalEntry.__table__.c, Posting.__table__.c
    entries_stmt = select(
        ec.id, ec.sequence, ec.idempotency_key, ec.request_hash, ec.kind, ec.effective_on,
        ec.recorded_at, ec.actor, ec.narration, ec.metadata_json, ec.reverses_entry_id,
        ec.hold_id, ec.hash,
    ).order_by(ec.sequence)  # fmt: skip
    postings_stmt = (
        select(pc.entry_id, pc.leg, pc.account_id, pc.currency, pc.amount_minor)
        .select_from(Posting.__table__.join(JournalEntry.__table__, pc.entry_id == ec.id))
        .order_by(ec.sequence, pc.leg)
    )
    # What the walk needs of an account: its currency, whether it may not go
    # below zero, and the sign of its normal balance.
    known: dict[int, tuple[str, bool, int]] = {
        a.id: (a.currency, a.no_overdraft, normal_sign(a.type)) for a in accounts.values()
    }

    def finish(entry: tuple[Any, ...], legs: list[tuple[int, int, str, int]]) -> None:
        nonlocal prev_hash, expected, last_recorded
        (
            entry_id, seq, idem_key, req_hash, kind, effective_on, recorded_at, actor,
            narration, metadata_json, reverses, hold_id, entry_hash,
        ) = entry  # fmt: skip
        if seq != expected:
            report.add(
                "I9", expected, f"sequence {expected} is missing or out of order (found {seq})"
            )
            expected = seq
        # I1, with the sums of I5 and I7 gathered in the same pass
        total = 0
        currencies: set[str] = set()
        watched = False
        for _leg, account_id, currency, amount in legs:
            total += amount
            currencies.add(currency)
            account = known.get(account_id)
            if account is None or account[0] != currency:
                report.add("I1", seq, f"entry {seq} posts {currency} to account {account_id}")
            legs_count[account_id] += 1
            if amount > 0:
                debits[account_id] += amount
            else:
                credits[account_id] -= amount
            if account is not None and account[1]:
                running[account_id] += account[2] * amount
                watched = True
        if periods:
            month = effective_on.year * 12 + effective_on.month
            sums_of_month = monthly.get(month)
            if sums_of_month is None:
                sums_of_month = monthly[month] = (defaultdict(int), defaultdict(int))
            month_debits, month_credits = sums_of_month
            for _leg, account_id, _currency, amount in legs:
                if amount > 0:
                    month_debits[account_id] += amount
                else:
                    month_credits[account_id] -= amount
        if len(legs) < 2:
            report.add("I1", seq, f"entry {seq} has {len(legs)} postings")
        if len(currencies) == 1:
            if total != 0:
                report.add(
                    "I1", seq, f"entry {seq} is off by {total} {currencies.pop()} minor units"
                )
        elif currencies:
            sums: dict[str, int] = defaultdict(int)
            for _leg, _account_id, currency, amount in legs:
                sums[currency] += amount
            for currency, off in sorted(sums.items()):
                if off != 0:
                    report.add("I1", seq, f"entry {seq} is off by {off} {currency} minor units")
        # I3
        if reverses is not None:
            target = seen.get(reverses)
            if target is None:
                report.add("I3", seq, f"entry {seq} reverses an entry not before it")
            else:
                if reverses in reversed_by:
                    report.add(
                        "I3",
                        seq,
                        f"entry {target[0]} reversed twice ({reversed_by[reverses]} and {seq})",
                    )
                reversed_by[reverses] = seq
                if target[2] is not None:
                    report.add("I3", seq, f"entry {seq} reverses a reversal")
                want = sorted((a, c, -m) for _l, a, c, m in target[1])
                if sorted((a, c, m) for _l, a, c, m in legs) != want:
                    report.add(
                        "I3", seq, f"entry {seq} is not the exact opposite of entry {target[0]}"
                    )
        # I4
        if keys.get(idem_key) != (entry_id, req_hash):
            report.add("I4", seq, f"entry {seq} has no matching idempotency record")
        # I5
        if watched:
            for _leg, account_id, _currency, _amount in legs:
                watched_account = accounts.get(account_id)
                if (
                    watched_account is not None
                    and watched_account.no_overdraft
                    and running[account_id] < 0
                ):
                    report.add(
                        "I5",
                        seq,
                        f"no-overdraft account {watched_account.code} is at "
                        f"{running[account_id]} after entry {seq}",
                    )
        # I8
        if close_marks:
            i = bisect_left(close_marks, seq)
            if i and effective_on <= lock_after[i - 1]:
                report.add(
                    "I8",
                    seq,
                    f"entry {seq} dated {effective_on} was recorded after "
                    f"the books closed through {lock_after[i - 1]}",
                )
        # I9
        if last_recorded is not None and recorded_at < last_recorded:
            report.add("I9", seq, f"entry {seq} was recorded before the entry preceding it")
        last_recorded = recorded_at
        canonical = entry_canonical(
            sequence=seq,
            entry_id=entry_id,
            idempotency_key=idem_key,
            request_hash=req_hash,
            kind=kind,
            effective_on=effective_on,
            recorded_at=recorded_at,
            actor=actor,
            narration=narration,
            metadata_json=metadata_json,
            reverses_entry_id=reverses,
            hold_id=hold_id,
            postings=legs,
        )
        prev_hash = chain_hash(prev_hash, canonical)
        if anchors:
            anchored = anchors.pop(seq, None)
            if anchored is not None and anchored != prev_hash:
                report.add(
                    "I9",
                    seq,
                    f"entry {seq} does not match the hash recorded when a period was closed "
                    "after it",
                )
        if prev_hash != entry_hash:
            report.add("I9", seq, f"entry {seq} does not match its hash-chain link")
            prev_hash = entry_hash  # report each break once, not every entry after it
        if entry_id in targets:
            seen[entry_id] = (seq, list(legs), reverses)
        expected = seq + 1
        report.entries_checked += 1
        report.last_sequence = seq
        if progress is not None and report.entries_checked % 10000 == 0:
            progress(report.entries_checked)

    # yield_per on each statement: Connection.execution_options() would change the
    # session's connection in place, streaming every later query of verify too.
    connection = session.connection()
    streamed = {"yield_per": 5000}
    postings = (
        row
        for rows in connection.execute(postings_stmt, execution_options=streamed).partitions()
        for row in rows
    )
    posting = next(postings, None)
    for rows in connection.execute(entries_stmt, execution_options=streamed).partitions():
        for entry in rows:
            entry_id = entry[0]
            legs: list[tuple[int, int, str, int]] = []
            while posting is not None and posting[0] == entry_id:
                legs.append((posting[1], posting[2], posting[3], posting[4]))
                posting = next(postings, None)
            finish(tuple(entry), legs)
    report.head_hash = prev_hash
    for seq in sorted(anchors):
        if seq > 0:
            report.add("I9", seq, f"entry {seq}, anchored by a period close, is missing")

    head = session.get(LedgerHead, 1)
    if head is None:
        report.add("I9", 1, "the journal head row is missing")
    elif head.last_sequence > report.last_sequence:
        report.add(
            "I9",
            report.last_sequence + 1,
            f"the journal ends at {report.last_sequence} but its head says "
            f"{head.last_sequence}: entries were removed from the tail",
        )
    elif head.last_sequence < report.last_sequence:
        report.add("I9", head.last_sequence + 1, "entries exist past the journal head")
    elif head.last_hash != prev_hash:
        report.add("I9", report.last_sequence or None, "the head hash does not match the chain")

    _check_balances(session, report, accounts, debits, credits, legs_count)
    _check_period_totals(session, report, accounts, periods, monthly)
    _check_holds(session, report, accounts)
    orphans = session.scalar(
        select(func.count())
        .select_from(Posting)
        # NOT EXISTS, an anti-join: NOT IN over a million ids that do not fit in
        # PostgreSQL's work_mem is re-scanned for every posting (hours at 1M entries).
        .where(~select(JournalEntry.id).where(JournalEntry.id == Posting.entry_id).exists())
    )
    if orphans:
        report.add("I10", None, f"{orphans} postings belong to no entry")
    if progress is not None:
        progress(report.entries_checked)
    return report


def _check_balances(
    session: Session,
    report: VerifyReport,
    accounts: dict[int, Account],
    debits: dict[int, int],
    credits: dict[int, int],
    legs_count: dict[int, int],
) -> None:
    totals: dict[str, int] = defaultdict(int)
    stored = {b.account_id: b for b in session.scalars(select(Balance))}
    for account_id, account in sorted(accounts.items()):
        b = stored.get(account_id)
        totals[account.currency] += debits[account_id] - credits[account_id]
        if b is None:
            report.add("I7", None, f"account {account.code} has no balance row")
            continue
        if (b.posted_debits, b.posted_credits) != (debits[account_id], credits[account_id]):
            report.add(
                "I7",
                None,
                f"account {account.code}: maintained balance "
                f"{b.posted_debits}/{b.posted_credits} differs from the journal "
                f"{debits[account_id]}/{credits[account_id]}",
            )
        if b.version != legs_count[account_id]:
            report.add(
                "I7",
                None,
                f"account {account.code}: version {b.version} but "
                f"{legs_count[account_id]} postings",
            )
        if account.no_overdraft:
            held = WorkingBalance.of(AccountView.of(account), b)
            if held.available < 0:
                report.add(
                    "I5",
                    None,
                    f"no-overdraft account {account.code} has {held.available} available",
                )
    for currency, total in sorted(totals.items()):
        if total != 0:
            report.add("I7", None, f"the book does not sum to zero in {currency}: {total}")


def _check_period_totals(
    session: Session,
    report: VerifyReport,
    accounts: dict[int, Account],
    periods: list[Period],
    monthly: dict[int, tuple[dict[int, int], dict[int, int]]],
) -> None:
    """Each close's totals (`period_totals`) equal the journal's postings dated on or
    before its month's end, account by account (I7)."""
    stored: dict[str, dict[int, tuple[int, int]]] = defaultdict(dict)
    for row in session.execute(
        select(PeriodTotal.period, PeriodTotal.account_id, PeriodTotal.debits, PeriodTotal.credits)
    ):
        stored[row.period][row.account_id] = (row.debits, row.credits)
    closes = {p.period for p in periods}
    for period in sorted(set(stored) - closes):
        report.add("I7", None, f"totals are recorded for {period}, which was never closed")
    running_d: dict[int, int] = defaultdict(int)
    running_c: dict[int, int] = defaultdict(int)
    months = sorted(monthly)
    i = 0
    for p in sorted(periods, key=lambda p: p.ends_on):
        through = p.ends_on.year * 12 + p.ends_on.month
        while i < len(months) and months[i] <= through:
            month_debits, month_credits = monthly[months[i]]
            for account_id, amount in month_debits.items():
                running_d[account_id] += amount
            for account_id, amount in month_credits.items():
                running_c[account_id] += amount
            i += 1
        recorded = stored.get(p.period, {})
        for account_id in sorted(set(running_d) | set(running_c) | set(recorded)):
            journal = (running_d[account_id], running_c[account_id])
            kept = recorded.get(account_id, (0, 0))
            if kept != journal:
                code = accounts[account_id].code if account_id in accounts else account_id
                report.add(
                    "I7",
                    None,
                    f"account {code}: the totals recorded when {p.period} closed "
                    f"{kept[0]}/{kept[1]} differ from the journal {journal[0]}/{journal[1]}",
                )


def _check_holds(session: Session, report: VerifyReport, accounts: dict[int, Account]) -> None:
    resolutions = {r.hold_id: r for r in session.scalars(select(HoldResolution))}
    pend_d: dict[int, int] = defaultdict(int)
    pend_c: dict[int, int] = defaultdict(int)
    posted_entries = {
        e.hold_id: e.id
        for e in session.scalars(select(JournalEntry).where(JournalEntry.hold_id.is_not(None)))
    }
    for hold in session.scalars(select(Hold)):
        res = resolutions.get(hold.id)
        if res is None:
            pend_d[hold.debit_account_id] += hold.amount_minor
            pend_c[hold.credit_account_id] += hold.amount_minor
            if hold.id in posted_entries:
                report.add("I6", None, f"hold {hold.id} has an entry but no resolution")
            continue
        if res.amount_minor > hold.amount_minor:
            report.add("I6", None, f"hold {hold.id} posted more than it held")
        if (res.outcome == "posted") != (res.entry_id is not None) or (
            res.entry_id is not None and posted_entries.get(hold.id) != res.entry_id
        ):
            report.add("I6", None, f"hold {hold.id}: resolution and entry disagree")
    for b in session.scalars(select(Balance)):
        if (b.pending_debits, b.pending_credits) != (pend_d[b.account_id], pend_c[b.account_id]):
            code = accounts[b.account_id].code if b.account_id in accounts else b.account_id
            report.add(
                "I6",
                None,
                f"account {code}: pending {b.pending_debits}/"
                f"{b.pending_credits} differs from open holds "
                f"{pend_d[b.account_id]}/{pend_c[b.account_id]}",
            )
