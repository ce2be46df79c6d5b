"""Single-entry posting: the engine beside plain SQLAlchemy Core with row locks.

Both sides move the same amount between the same two accounts, one entry per
transaction, on the same engine (same pool, same `pool_pre_ping`, same SQLite
pragmas). The Core baseline does what any hand-written posting with row locks
does and nothing more: lock the two balance rows (SELECT ... FOR UPDATE in
account id order on PostgreSQL; SQLite's BEGIN IMMEDIATE), update them, insert
the entry (its hash computed) and its two postings, COMMIT. The engine adds
idempotency with a request hash, the overdraft check, the closed-period check,
the gapless sequence and the hash chain.

The two run in alternating rounds so that the load of a shared machine falls
on both alike; the ratio reported is engine rate / Core rate over all rounds
(and the spread of the per-round ratios).

    python -m bench.posting            # both backends, the comparison only
    python -m bench.posting --profile  # statements per entry and a cProfile of post_entry
"""

from __future__ import annotations

import cProfile
import io
import pstats
import statistics
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import date
from functools import partial
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, bindparam, event, select, update

from bench.workers import Acts, Phase, Writers
from ledger.core.chain import chain_hash
from ledger.core.journal import EntrySpec, PostingSpec
from ledger.core.models import Balance, JournalEntry, Posting
from ledger.core.money import Money
from ledger.core.service import Ledger

ENTRIES = JournalEntry.__table__
POSTINGS = Posting.__table__
BALANCES = Balance.__table__
ROUNDS = 6

_LOCK = (
    select(
        BALANCES.c.account_id,
        BALANCES.c.posted_debits,
        BALANCES.c.posted_credits,
        BALANCES.c.version,
    )
    .where(BALANCES.c.account_id.in_(bindparam("ids", expanding=True)))
    .order_by(BALANCES.c.account_id)
)
_UPDATE = (
    update(BALANCES)
    .where(BALANCES.c.account_id == bindparam("b_id"))
    .values(
        posted_debits=bindparam("b_pd"),
        posted_credits=bindparam("b_pc"),
        version=bindparam("b_v"),
    )
)


def _setup(ledger: Ledger, suffix: str = "") -> tuple[int, int]:
    ledger.create_account(f"assets:bench:cash{suffix}", "asset")
    ledger.create_account(f"income:bench:gifts{suffix}", "income")
    ids = {a.code: a.id for a in ledger.accounts()}
    return ids[f"assets:bench:cash{suffix}"], ids[f"income:bench:gifts{suffix}"]


def _spec(i: int, suffix: str = "", prefix: str = "one") -> EntrySpec:
    amount = 100 + i % 997
    return EntrySpec(
        f"{prefix}{suffix}-{i}",
        "bench",
        [
            PostingSpec(f"assets:bench:cash{suffix}", Money(amount, "EUR")),
            PostingSpec(f"income:bench:gifts{suffix}", Money(-amount, "EUR")),
        ],
        effective_on=date(2026, 1, 1 + i % 28),
        narration="bench",
    )


class CoreTransfer:
    """The baseline: one transfer per transaction in plain Core, with row locks."""

    def __init__(self, ledger: Ledger, debit: int, credit: int, writer: int = 0) -> None:
        self.engine = ledger.engine
        self.clock = ledger.clock
        self.debit, self.credit = debit, credit
        self.lock = _LOCK.with_for_update() if self.engine.dialect.name == "postgresql" else _LOCK
        self.sequence = 10**12 + writer * 10**9
        self.previous = "0" * 64

    def post(self, i: int) -> None:
        self.post_batch([i])

    def post_batch(self, items: list[int]) -> None:
        """The transfers `items` in one transaction (one statement per table)."""
        amounts = [100 + i % 997 for i in items]
        total = sum(amounts)
        entries, postings = [], []
        for i, amount in zip(items, amounts, strict=True):
            self.sequence += 1
            entry_id = str(uuid.uuid4())
            self.previous = chain_hash(self.previous, entry_id)
            entries.append(
                {
                    "id": entry_id,
                    "sequence": self.sequence,
                    "idempotency_key": f"core-{self.sequence}",
                    "request_hash": self.previous,
                    "kind": "bench",
                    "effective_on": date(2026, 1, 1 + i % 28),
                    "recorded_at": self.clock.now(),
                    "actor": None,
                    "narration": "bench",
                    "metadata_json": "{}",
                    "reverses_entry_id": None,
                    "hold_id": None,
                    "hash": self.previous,
                }
            )
            postings += [
                {"entry_id": entry_id, "leg": 0, "account_id": self.debit,
                 "currency": "EUR", "amount_minor": amount},
                {"entry_id": entry_id, "leg": 1, "account_id": self.credit,
                 "currency": "EUR", "amount_minor": -amount},
            ]  # fmt: skip
        with self.engine.begin() as conn:
            rows = {
                r.account_id: r
                for r in conn.execute(self.lock, {"ids": sorted((self.debit, self.credit))})
            }
            d, c = rows[self.debit], rows[self.credit]
            conn.execute(
                _UPDATE,
                [
                    {"b_id": d.account_id, "b_pd": d.posted_debits + total,
                     "b_pc": d.posted_credits, "b_v": d.version + len(items)},
                    {"b_id": c.account_id, "b_pd": c.posted_debits,
                     "b_pc": c.posted_credits + total, "b_v": c.version + len(items)},
                ],
            )  # fmt: skip
            conn.execute(ENTRIES.insert(), entries)
            conn.execute(POSTINGS.insert(), postings)


def bench_single(url: str, out: Callable[[str], None], n: int) -> float:
    """Print engine and Core rates of one entry per transaction; return the ratio."""
    ledger = Ledger.from_url(url)
    debit, credit = _setup(ledger)
    core = CoreTransfer(ledger, debit, credit)
    per_round = max(n // ROUNDS, 1)
    # Warm both paths (connections, statement caches) outside the timing.
    for i in range(20):
        ledger.post(_spec(-1 - i))
        core.post(-1 - i)
    engine_s = core_s = 0.0
    ratios = []
    i = 0
    for _ in range(ROUNDS):
        t0 = time.perf_counter()
        for k in range(per_round):
            ledger.post(_spec(i + k))
        t_engine = time.perf_counter() - t0
        t0 = time.perf_counter()
        for k in range(per_round):
            core.post(i + k)
        t_core = time.perf_counter() - t0
        i += per_round
        engine_s += t_engine
        core_s += t_core
        ratios.append(t_core / t_engine)
    total = per_round * ROUNDS
    ratio = core_s / engine_s
    out(f"  engine, one entry per transaction:   {rate(total, engine_s)}")
    out(f"  Core with row locks, same transfer:  {rate(total, core_s)}")
    out(
        f"  ratio engine / Core with row locks:  {ratio:.2f} (rounds {min(ratios):.2f}-"
        f"{max(ratios):.2f}, {ROUNDS} alternating rounds; target >= 0.90)"
    )
    ledger.engine.dispose()
    return ratio


def pair_writer(url: str, w: int, debit: int, credit: int) -> Acts:
    """A writer process's acts (`bench.workers`) on its own two accounts: the engine's
    entry and Core's transfer, each one per transaction."""
    ledger = Ledger.from_url(url)
    core = CoreTransfer(ledger, debit, credit, writer=w + 1)
    suffix = f":w{w}"

    def engine(i: int) -> int:
        ledger.post(_spec(i, suffix, "two"))
        return 1

    def plain(i: int) -> int:
        core.post(i)
        return 1

    for i in range(10):  # warm both: the connection, the statement and account caches
        engine(-1 - i)
        plain(-1 - i)
    return {"engine": engine, "core": plain}


def bench_two_writers(url: str, out: Callable[[str], None], n: int, writers: int = 2) -> float:
    """`writers` processes (`bench.workers`), each on its own two accounts, the engine
    then Core, in alternating rounds of about n / ROUNDS entries each.

    The accounts differ, so Core's writers share no row (on PostgreSQL); the
    engine's share the journal head. SQLite serialises both with BEGIN IMMEDIATE.
    """
    ledger = Ledger.from_url(url)
    pairs = [_setup(ledger, f":w{w}") for w in range(writers)]
    makers = [partial(pair_writer, url, w, d, c) for w, (d, c) in enumerate(pairs)]
    ledger.engine.dispose()
    with Writers(makers) as pool:
        # A round's length, from the engine's rate alone.
        probe = pool.run("engine", writers, 0.5)
        seconds = max(n / ROUNDS / probe.rate, 1.5)
        phases: dict[str, list[Phase]] = {"engine": [], "core": []}
        for _ in range(ROUNDS):
            for act, done in phases.items():
                done.append(pool.run(act, writers, seconds))
    engine_n, engine_s = (
        sum(p.units for p in phases["engine"]),
        sum(p.seconds for p in phases["engine"]),
    )
    core_n, core_s = sum(p.units for p in phases["core"]), sum(p.seconds for p in phases["core"])
    ratios = [e.rate / c.rate for e, c in zip(phases["engine"], phases["core"], strict=True)]
    out(f"  engine, {writers} writer processes (own accounts): {rate(engine_n, engine_s)}")
    out(f"  Core with row locks, {writers} writer processes:   {rate(core_n, core_s)}")
    engine_rate, core_rate = engine_n / engine_s, core_n / core_s
    ratio = engine_rate / core_rate
    out(
        f"  ratio engine / Core with row locks:  {ratio:.2f} (rounds {min(ratios):.2f}-"
        f"{max(ratios):.2f}, {ROUNDS} alternating rounds of {seconds:.1f} s)"
    )
    return ratio


def bench_batches(url: str, out: Callable[[str], None], batches: int, size: int = 100) -> float:
    """`post_batch` of `size` entries per transaction against Core with row locks doing the
    same transfers in one transaction per batch; alternating rounds."""
    ledger = Ledger.from_url(url)
    debit, credit = _setup(ledger)
    core = CoreTransfer(ledger, debit, credit)
    ledger.post_batch([_spec(-1 - i, "", "batch") for i in range(size)])
    core.post_batch(list(range(-size, 0)))
    per_round = max(batches // ROUNDS, 1)
    engine_s = core_s = 0.0
    i = 0
    for _ in range(ROUNDS):
        chunks = [list(range(i + b * size, i + (b + 1) * size)) for b in range(per_round)]
        specs = [[_spec(k, "", "batch") for k in chunk] for chunk in chunks]
        t0 = time.perf_counter()
        for batch in specs:
            ledger.post_batch(batch)
        engine_s += time.perf_counter() - t0
        t0 = time.perf_counter()
        for chunk in chunks:
            core.post_batch(chunk)
        core_s += time.perf_counter() - t0
        i += per_round * size
    total = per_round * ROUNDS * size
    ratio = core_s / engine_s
    out(f"  engine, batches of {size}:              {rate(total, engine_s)}")
    out(f"  Core with row locks, same batches:   {rate(total, core_s)}")
    out(f"  ratio engine / Core with row locks:  {ratio:.2f} ({ROUNDS} alternating rounds)")
    ledger.engine.dispose()
    return ratio


def bench_deferred_unit(url: str, out: Callable[[str], None], sizes: tuple[int, ...]) -> None:
    """One unit that defers many entries (`intents.defer_entry`), as a month's bank run
    does: the entries decided per second at each size (flat if deciding one does not
    read the earlier ones), beside the same entries posted in one `post_batch` (the
    immediate path, one transaction) in the same run. One entry in twenty moves money
    out of a checked (no-overdraft) account, whose overdraft reads the unit's earlier
    entries on it."""
    from ledger.core.intents import defer_entry
    from ledger.core.uow import unit_of_work

    ledger = Ledger.from_url(url)
    run = uuid.uuid4().hex[:8]
    debit, credit, checked = (f"{code}-{run}" for code in ("assets:d", "income:d", "assets:c"))
    ledger.create_account(debit, "asset")
    ledger.create_account(credit, "income")
    ledger.create_account(checked, "asset", no_overdraft=True)
    seed = Money(10**12, "EUR")
    ledger.post(
        EntrySpec(
            f"deferred-{run}-seed",
            "transfer",
            [PostingSpec(checked, seed), PostingSpec(credit, Money(-seed.minor, "EUR"))],
        )
    )

    def spec(size: int, i: int, tag: str) -> EntrySpec:
        source = checked if i % 20 == 0 else credit
        return EntrySpec(
            f"deferred-{run}-{tag}-{size}-{i}",
            "transfer",
            [PostingSpec(debit, Money(100, "EUR")), PostingSpec(source, Money(-100, "EUR"))],
        )

    for size in sizes:
        with unit_of_work(ledger.sessions) as session:
            t0 = time.perf_counter()
            for i in range(size):
                defer_entry(session, spec(size, i, "unit"), clock=ledger.clock)
            decided = time.perf_counter() - t0
        whole = time.perf_counter() - t0
        t0 = time.perf_counter()
        ledger.post_batch([spec(size, i, "batch") for i in range(size)])
        batch = time.perf_counter() - t0
        out(
            f"  {size:>5,} deferred in one unit: decided at {size / decided:,.0f}/s, "
            f"with COMMIT {size / whole:,.0f}/s; baseline, one post_batch: {size / batch:,.0f}/s"
        )
    out(f"  after the run verify(): {'ok' if ledger.verify().ok else 'FAILED'}")
    ledger.engine.dispose()


def bench_writes_last(url: str, out: Callable[[str], None], n: int, writers: int = 2) -> None:
    """Units that post one entry and then do 20 ms of other work (waiting on the
    server), `writers` at once, each on its own accounts: the entry posted at once
    (`post_entry`: the head is held from the entry to COMMIT) against the entry
    deferred (`intents.defer_entry`: the head is taken by the hook just before
    COMMIT). PostgreSQL only: SQLite's BEGIN IMMEDIATE serialises whole units
    whatever they hold."""
    from sqlalchemy import text

    from ledger.core.intents import defer_entry
    from ledger.core.journal import post_entry
    from ledger.core.uow import run_in_transaction

    ledger = Ledger.from_url(url)
    if ledger.engine.dialect.name != "postgresql":
        out("  (PostgreSQL only: SQLite serialises whole units with BEGIN IMMEDIATE)")
        ledger.engine.dispose()
        return
    for w in range(writers):
        _setup(ledger, f":l{w}")
    per_round = max(n // ROUNDS // writers, 1)
    work = text("SELECT pg_sleep(0.02)")

    def unit(deferred: bool, w: int, i: int) -> None:
        spec = _spec(i, f":l{w}", "last-d" if deferred else "last-i")

        def body(session: Any) -> None:
            if deferred:
                defer_entry(session, spec, clock=ledger.clock)
            else:
                post_entry(session, spec, clock=ledger.clock)
            session.execute(work)  # the rest of the use case

        run_in_transaction(ledger.sessions, body)

    def timed(deferred: bool, start: int, count: int) -> float:
        threads = [
            threading.Thread(
                target=lambda w=w: [unit(deferred, w, start + k) for k in range(count)]  # type: ignore[misc]
            )
            for w in range(count and writers)
        ]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return time.perf_counter() - t0

    timed(True, -100, 5)
    timed(False, -100, 5)
    now_s = last_s = 0.0
    for r in range(ROUNDS):
        now_s += timed(False, r * per_round, per_round)
        last_s += timed(True, r * per_round, per_round)
    total = per_round * ROUNDS * writers
    out(f"  {writers} writers, entry then 20 ms of work, entry at once: {rate(total, now_s)}")
    out(f"  {writers} writers, entry then 20 ms of work, entry last:    {rate(total, last_s)}")
    out(f"  speed-up of writing last:  {now_s / last_s:.2f}x ({ROUNDS} alternating rounds;")
    out(f"  one writer alone can do at most ~{1 / 0.02:.0f} units/s)")
    report = ledger.verify()
    out(f"  verify after: {'ok' if report.ok else report.first}")
    ledger.engine.dispose()


def rate(n: int, seconds: float) -> str:
    return f"{n / seconds:,.0f}/s ({n:,} in {seconds:.2f} s)"


# --------------------------------------------------------------------------- profile
def count_statements(engine: Engine) -> tuple[Counter[str], Callable[[], None]]:
    """Count the statements `engine` sends, by their first words; returns (counter, stop)."""
    seen: Counter[str] = Counter()

    def before(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen[" ".join(statement.split()[:4])[:60]] += 1

    def on_commit(_conn: Any) -> None:
        seen["COMMIT"] += 1

    def on_begin(_conn: Any) -> None:
        seen["BEGIN"] += 1

    event.listen(engine, "before_cursor_execute", before)
    event.listen(engine, "commit", on_commit)
    event.listen(engine, "begin", on_begin)

    def stop() -> None:
        event.remove(engine, "before_cursor_execute", before)
        event.remove(engine, "commit", on_commit)
        event.remove(engine, "begin", on_begin)

    return seen, stop


def profile(url: str, out: Callable[[str], None], n: int = 500) -> None:
    """Statements per entry and the top of a cProfile of `Ledger.post`."""
    ledger = Ledger.from_url(url)
    _setup(ledger)
    for i in range(50):
        ledger.post(_spec(10**6 + i))
    if ledger.engine.dialect.name == "sqlite":
        # SQLite's own trace sees the writes sent straight through the DB-API cursor
        # (ledger/core/dbapi.py), which SQLAlchemy's events do not; an executemany is
        # traced once per row.
        seen = Counter()
        with ledger.engine.connect() as conn:
            raw: Any = conn.connection.dbapi_connection
        raw.set_trace_callback(lambda sql: seen.update([" ".join(sql.split()[:4])[:60]]))
        ledger.post(_spec(2 * 10**6))
        raw.set_trace_callback(None)
        label = "SQLite's trace: an executemany counts once per row"
    else:
        seen, stop = count_statements(ledger.engine)
        ledger.post(_spec(2 * 10**6))
        stop()
        label = "BEGIN/COMMIT included"
    out(f"  statements for one entry ({sum(seen.values())}, {label}):")
    for statement, count in seen.most_common():
        out(f"    {count} x {statement}")
    prof = cProfile.Profile()
    t0 = time.perf_counter()
    prof.enable()
    for i in range(n):
        ledger.post(_spec(i))
    prof.disable()
    seconds = time.perf_counter() - t0
    out(f"  {n} entries under cProfile: {seconds / n * 1000:.2f} ms each")
    buf = io.StringIO()
    pstats.Stats(prof, stream=buf).sort_stats("tottime").print_stats(18)
    for line in buf.getvalue().splitlines():
        if line.strip() and not line.startswith(("   Ordered", "         ")):
            out("    " + line.rstrip())
    ledger.engine.dispose()


def main() -> None:
    from bench.__main__ import conditions, pg_db, pg_version, sqlite_db

    version = pg_version()
    for line in conditions(version):
        print(f"- {line}")
    load = Path("/proc/loadavg").read_text().split()[:3]
    print(f"- load average at start: {' '.join(load)}")
    backends = [("SQLite", sqlite_db)] + ([("PostgreSQL", pg_db)] if version else [])
    samples: dict[str, list[float]] = {}
    for name, make in backends:
        print(f"## {name}")
        with make() as url:
            if "--profile" in sys.argv:
                profile(url, print)
            else:
                samples[name] = [bench_single(url, print, 600)]
        if "--profile" not in sys.argv:
            with make() as url:
                samples[f"{name}, 2 writers"] = [bench_two_writers(url, print, 600)]
            with make() as url:
                samples[f"{name}, batches of 100"] = [bench_batches(url, print, 30)]
            with make() as url:
                bench_writes_last(url, print, 600)
    for name, values in samples.items():
        print(f"{name}: ratio {statistics.median(values):.2f}")


if __name__ == "__main__":
    main()
