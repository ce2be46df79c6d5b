"""A big book: balance reads, the trial balance and verify as the journal grows.

The book is built through the engine (`post_batch`, 2,000 two-leg entries per
transaction, over 100 asset accounts and one income account) up to one million
entries (BENCH_SCALE=small: 20,000), stopping at marks on the way. At each mark:

- a balance read (one maintained row by primary key, median of 200);
- the trial balance today (`Ledger.trial_balance()`: the maintained balance rows)
  and as of a date (`trial_balance(as_of)`: the postings summed per account, the
  path whose cost grows with the book; the date covers every entry), beside its
  baseline in the same run: the same aggregate as plain SQL text on a Connection;
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
from datetime import date
from typing import Any

from sqlalchemy import select, text

from ledger.core.chain import GENESIS_HASH, chain_hash, entry_canonical
from ledger.core.journal import EntrySpec, PostingSpec
from ledger.core.models import JournalEntry, Posting
from ledger.core.money import Money
from ledger.core.service import Ledger

ACCOUNTS = 100
BATCH = 2000
AS_OF = date(2026, 12, 31)
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


def _spec(i: int, codes: list[str], rng: random.Random) -> EntrySpec:
    minor = rng.randint(1, 100_000)
    return EntrySpec(
        f"big-{i}",
        "bench",
        [
            PostingSpec(rng.choice(codes), Money(minor, "EUR")),
            PostingSpec("income:bench", Money(-minor, "EUR")),
        ],
        effective_on=date(2026, 1, 1 + i % 28),
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
    ledger = Ledger.from_url(url)
    postgres = ledger.engine.dialect.name == "postgresql"
    codes = [f"assets:bench:a{i}" for i in range(ACCOUNTS)]
    for code in codes:
        ledger.create_account(code, "asset")
    ledger.create_account("income:bench", "income")
    rng = random.Random(2)
    marks = sorted({min(5_000, entries), verify_at, entries})
    posted = 0
    build = 0.0
    try:
        for mark in marks:
            t0 = time.perf_counter()
            while posted < mark:
                n = min(BATCH, mark - posted)
                ledger.post_batch([_spec(posted + k, codes, rng) for k in range(n)])
                posted += n
            build += time.perf_counter() - t0
            out(
                f"  {posted:>9,} entries ({2 * posted:,} postings), built through post_batch "
                f"in {build:.1f} s so far"
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
            out(
                f"    trial balance as of {AS_OF} (postings summed): {as_of:.3f} s median of "
                f"{times}; baseline, the same SQL on a Connection: {floor:.3f} s "
                f"({'balanced' if debit == credit else 'NOT BALANCED'}; "
                "target < 0.85 s at 1,000,000 entries)"
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
