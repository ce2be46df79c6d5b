"""A big book: balance reads, the trial balance and verify as the journal grows.

The book is built through the engine (`post_batch`, 2,000 two-leg entries per
transaction, over 100 asset accounts and one income account) up to one million
entries (BENCH_SCALE=small: 20,000), stopping at marks on the way. At each mark:

- a balance read (one maintained row by primary key, median of 200);
- the trial balance today (`Ledger.trial_balance()`: the maintained balance rows)
  and as of a date (`trial_balance(as_of)`), beside its baseline in the same run:
  every posting of the book summed per account by plain SQL text on a Connection
  (what as of a date cost before closes kept totals, and what it still costs on a
  book with no month closed). The book's entries are dated in order over 23
  months (January 2025 to November 2026, the clock fixed at 7 December 2026) and
  each month is closed once the build has passed it, as a treasurer closes a
  month; the trial balance is taken as of the end of the book (the totals of the
  last close plus the month still open) and as of the last closed month's end
  (the totals alone); at the full book, closing the last open month is timed;
- at 100,000 entries (small: 10,000) and at the full book, `verify()`, beside its
  baseline: the same rows (every entry joined to its postings, in sequence
  order) streamed with plain Core and the hash chain recomputed, nothing else
  checked.

On PostgreSQL a VACUUM ANALYZE runs after each build step (as autovacuum would,
eventually), and the balance read is shown before it.
"""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import select, text

from ledger.core.chain import GENESIS_HASH, chain_hash, entry_canonical
from ledger.core.clock import FixedClock
from ledger.core.journal import EntrySpec, PostingSpec
from ledger.core.models import JournalEntry, Posting
from ledger.core.money import Money
from ledger.core.service import Ledger

ACCOUNTS = 100
BATCH = 2000
AS_OF = date(2026, 12, 31)
FIRST_DAY = date(2025, 1, 1)
LAST_DAY = date(2026, 11, 30)
CLOCK = FixedClock(datetime(2026, 12, 7, 12, 0, tzinfo=UTC))
_TRIAL_SQL = text(
    "SELECT p.account_id, SUM(p.amount_minor) FROM postings p "
    "JOIN journal_entries e ON e.id = p.entry_id "
    "WHERE e.effective_on <= :as_of GROUP BY p.account_id"
)
_E = JournalEntry.__table__
_P = Posting.__table__
# Typed columns (not text): dates and times come back as verify sees them.
_VERIFY_SELECT = (
    select(
        _E.c.id, _E.c.sequence, _E.c.idempotency_key, _E.c.request_hash, _E.c.kind,
        _E.c.effective_on, _E.c.recorded_at, _E.c.actor, _E.c.narration, _E.c.metadata_json,
        _E.c.reverses_entry_id, _E.c.hold_id, _E.c.hash,
        _P.c.leg, _P.c.account_id, _P.c.currency, _P.c.amount_minor,
    )
    .select_from(_E.outerjoin(_P, _P.c.entry_id == _E.c.id))
    .order_by(_E.c.sequence, _P.c.leg)
)  # fmt: skip


def _day(i: int, entries: int) -> date:
    """Entry `i` of a book of `entries`, dated in order from FIRST_DAY to LAST_DAY."""
    return FIRST_DAY + timedelta(days=(LAST_DAY - FIRST_DAY).days * i // max(entries - 1, 1))


def _month_end(day: date) -> date:
    return date(day.year + day.month // 12, day.month % 12 + 1, 1) - timedelta(days=1)


def _spec(i: int, codes: list[str], rng: random.Random, on: date) -> EntrySpec:
    minor = rng.randint(1, 100_000)
    return EntrySpec(
        f"big-{i}",
        "bench",
        [
            PostingSpec(rng.choice(codes), Money(minor, "EUR")),
            PostingSpec("income:bench", Money(-minor, "EUR")),
        ],
        effective_on=on,
        narration="bench",
    )


def _median(act: Callable[[], Any], times: int) -> float:
    samples = []
    for _ in range(times):
        t = time.perf_counter()
        act()
        samples.append(time.perf_counter() - t)
    return statistics.median(samples)


def _chain_floor(ledger: Ledger) -> tuple[int, str, float]:
    """Stream every entry with its postings in order and recompute the chain."""
    t0 = time.perf_counter()
    previous, entries, current = GENESIS_HASH, 0, None
    legs: list[tuple[int, int, str, int]] = []

    def seal(row: Any, legs: list[tuple[int, int, str, int]]) -> str:
        return chain_hash(
            previous,
            entry_canonical(
                sequence=row.sequence,
                entry_id=row.id,
                idempotency_key=row.idempotency_key,
                request_hash=row.request_hash,
                kind=row.kind,
                effective_on=row.effective_on,
                recorded_at=row.recorded_at,
                actor=row.actor,
                narration=row.narration,
                metadata_json=row.metadata_json,
                reverses_entry_id=row.reverses_entry_id,
                hold_id=row.hold_id,
                postings=legs,
            ),
        )

    with ledger.engine.connect() as conn:
        result = conn.execution_options(yield_per=5000).execute(_VERIFY_SELECT)
        for row in result:
            if current is None or row.id != current.id:
                if current is not None:
                    previous = seal(current, legs)
                    entries += 1
                current, legs = row, []
            if row.leg is not None:
                legs.append((row.leg, row.account_id, row.currency, row.amount_minor))
        if current is not None:
            previous = seal(current, legs)
            entries += 1
    return entries, previous, time.perf_counter() - t0


def bench_book(url: str, out: Callable[[str], None], *, entries: int, verify_at: int) -> None:
    """Build the book through the engine to `entries`, measuring at each mark."""
    ledger = Ledger.from_url(url, clock=CLOCK)
    postgres = ledger.engine.dialect.name == "postgresql"
    codes = [f"assets:bench:a{i}" for i in range(ACCOUNTS)]
    for code in codes:
        ledger.create_account(code, "asset")
    ledger.create_account("income:bench", "income")
    rng = random.Random(2)
    marks = sorted({min(5_000, entries), verify_at, entries})
    posted = 0
    build = 0.0
    closed: date | None = None
    try:
        for mark in marks:
            t0 = time.perf_counter()
            while posted < mark:
                n = min(BATCH, mark - posted)
                # A batch stops at a month's end: the month is closed before the next.
                first = _day(posted, entries)
                while n > 1 and _day(posted + n - 1, entries) > _month_end(first):
                    n -= 1
                ledger.post_batch(
                    [_spec(posted + k, codes, rng, _day(posted + k, entries)) for k in range(n)]
                )
                posted += n
                if posted < entries and _day(posted, entries) > _month_end(first):
                    ledger.close_period(f"{first.year}-{first.month:02d}")
                    closed = _month_end(first)
            build += time.perf_counter() - t0
            out(
                f"  {posted:>9,} entries ({2 * posted:,} postings), built through post_batch "
                f"in {build:.1f} s so far (closes included); "
                + (f"books closed through {closed}" if closed else "no month closed yet")
            )
            balance = _median(lambda: ledger.balance(codes[0]), 200)
            out(f"    balance read: {balance * 1e6:.0f} µs median of 200")
            if postgres:
                t0 = time.perf_counter()
                with ledger.engine.connect().execution_options(
                    isolation_level="AUTOCOMMIT"
                ) as conn:
                    conn.execute(text("VACUUM ANALYZE"))
                out(f"    VACUUM ANALYZE: {time.perf_counter() - t0:.1f} s")
                balance = _median(lambda: ledger.balance(codes[0]), 200)
                out(f"    balance read after VACUUM: {balance * 1e6:.0f} µs median of 200")
            times = 5 if posted <= 100_000 else 3
            today = _median(ledger.trial_balance, 20)
            lines = ledger.trial_balance(AS_OF)
            as_of = _median(lambda: ledger.trial_balance(AS_OF), times)
            at_close = _median(lambda c=closed: ledger.trial_balance(c), times) if closed else None

            def plain() -> list[Any]:
                with ledger.engine.connect() as conn:
                    return list(conn.execute(_TRIAL_SQL, {"as_of": AS_OF}))

            floor = _median(plain, times)
            debit = sum(line.debit for line in lines)
            credit = sum(line.credit for line in lines)
            out(
                f"    trial balance today (maintained rows, {len(lines)} accounts): "
                f"{today * 1000:.1f} ms median of 20"
            )
            summed = {account_id: int(net) for account_id, net in plain()}
            same = summed == {
                line.account.id: line.debit - line.credit
                for line in lines
                if line.debit or line.credit
            }
            out(
                f"    trial balance as of {AS_OF} ("
                + (
                    f"the totals of the close through {closed} and the postings after it"
                    if closed
                    else "every posting: no month closed yet"
                )
                + f"): {as_of:.3f} s median of {times}; baseline, "
                f"every posting summed by the same SQL on a Connection: {floor:.3f} s "
                f"({'balanced' if debit == credit else 'NOT BALANCED'}, "
                f"{'the same nets' if same else 'NOT THE SAME NETS'} as the baseline; "
                "target < 0.85 s at 1,000,000 entries)"
            )
            if at_close is not None:
                out(
                    f"    trial balance as of {closed}, a closed month's end (its totals "
                    f"alone): {at_close * 1000:.1f} ms median of {times}"
                )
            if posted == entries:
                month = _day(entries - 1, entries)
                t0 = time.perf_counter()
                ledger.close_period(f"{month.year}-{month.month:02d}")
                out(
                    f"    closing {month.year}-{month.month:02d} (its totals from the last "
                    f"close's and the month's postings): {time.perf_counter() - t0:.3f} s"
                )
            if posted in (verify_at, entries):
                t0 = time.perf_counter()
                report = ledger.verify()
                seconds = time.perf_counter() - t0
                checked, head, chain_s = _chain_floor(ledger)
                same = head == report.head_hash and checked == report.entries_checked
                out(
                    f"    verify over {report.entries_checked:,} entries: {seconds:.2f} s = "
                    f"{seconds / report.entries_checked * 100_000:.2f} s per 100k entries "
                    f"({'ok' if report.ok else report.first}; target < 3 s per 100k)"
                )
                out(
                    f"    baseline, the rows streamed with Core and the chain recomputed: "
                    f"{chain_s:.2f} s = {chain_s / checked * 100_000:.2f} s per 100k "
                    f"({'same head hash' if same else 'DIFFERENT head hash'})"
                )
    finally:
        ledger.engine.dispose()
