"""`make bench`: engine throughput, contention, balance reads and verify, with conditions.

Every figure is printed beside the machine, Python and database versions it was
measured on. PostgreSQL is measured when LEDGER_BENCH_POSTGRES_URL (or
LEDGER_TEST_POSTGRES_URL, or the local default) reaches a server; throwaway
databases are created and dropped (one per part). Set BENCH_SCALE=small for a
quick run. Name parts to run only those, e.g. `python -m bench gifts writers`
(the parts: single two batches last posting concurrency book gifts writers head matching
reconcile load projects);
each part prints how long it took and the load average after it.
"""

from __future__ import annotations

import os
import platform
import random
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import date
from pathlib import Path

import sqlalchemy
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from bench.book import bench_book
from bench.gifts import bench_gifts, bench_head_held, bench_writers
from bench.grants import bench_matching
from bench.load import bench_load
from bench.posting import (
    bench_batches,
    bench_deferred_unit,
    bench_single,
    bench_two_writers,
    bench_writes_last,
)
from bench.projects import bench_projects
from bench.reconcile import bench_reconcile
from ledger.core.chain import chain_hash
from ledger.core.errors import InsufficientFundsError
from ledger.core.journal import EntrySpec, PostingSpec
from ledger.core.migrate import upgrade
from ledger.core.models import JournalEntry, Posting
from ledger.core.money import Money
from ledger.core.service import Ledger

SMALL = os.environ.get("BENCH_SCALE") == "small"
ENTRIES = JournalEntry.__table__
POSTINGS = Posting.__table__
PG_URL = (
    os.environ.get("LEDGER_BENCH_POSTGRES_URL")
    or os.environ.get("LEDGER_TEST_POSTGRES_URL")
    or "postgresql://postgres@127.0.0.1:5432/postgres"
)
SINGLE_N = 300 if SMALL else 2000
BATCH_N = 2000 if SMALL else 20000
BATCH_SIZE = 500
BOOK_ENTRIES = 20_000 if SMALL else 1_000_000
VERIFY_AT = 10_000 if SMALL else 100_000
GIFTS_N = 200 if SMALL else 1000
CONC_SECONDS = 3 if SMALL else 10
WRITER_SECONDS = 1.5 if SMALL else 3  # per writer count per round


def conditions(pg_version: str | None) -> list[str]:
    cpu = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f"{kb / 1024 / 1024:.0f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    return [
        f"machine: {cpu}, {os.cpu_count()} cores, {mem}, {platform.system()} {platform.release()}",
        f"python {platform.python_version()}, SQLAlchemy {sqlalchemy.__version__}, "
        f"SQLite {sqlite3.sqlite_version} (WAL, synchronous=NORMAL, file on local disk)",
        f"PostgreSQL: {pg_version or 'not reachable, skipped'} (local, default settings)",
        f"scale: {'small' if SMALL else 'full'}",
    ]


@contextmanager
def sqlite_db() -> Iterator[str]:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/bench.sqlite3"
        upgrade(url)
        yield url


def pg_version() -> str | None:
    try:
        eng = create_engine(make_url(PG_URL).set(drivername="postgresql+psycopg"))
        with eng.connect() as conn:
            version = str(conn.execute(text("SHOW server_version")).scalar())
        eng.dispose()
        return version
    except sqlalchemy.exc.OperationalError:
        return None


@contextmanager
def pg_db() -> Iterator[str]:
    admin = create_engine(
        make_url(PG_URL).set(drivername="postgresql+psycopg"), isolation_level="AUTOCOMMIT"
    )
    name = f"ledger_bench_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(PG_URL).set(drivername="postgresql+psycopg", database=name)
    try:
        upgrade(url.render_as_string(hide_password=False))
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def eur(minor: int) -> Money:
    return Money(minor, "EUR")


def setup_accounts(ledger: Ledger, n: int = 10) -> list[str]:
    codes = [f"assets:bench:a{i}" for i in range(n)]
    for code in codes:
        ledger.create_account(code, "asset")
    ledger.create_account("income:bench", "income")
    return codes


def spec(prefix: str, i: int, codes: list[str], rng: random.Random) -> EntrySpec:
    amount = rng.randint(1, 100_000)
    return EntrySpec(
        f"{prefix}-{i}",
        "bench",
        [
            PostingSpec(rng.choice(codes), eur(amount)),
            PostingSpec("income:bench", eur(-amount)),
        ],
        effective_on=date(2026, 1, 1 + i % 28),
        narration="bench",
    )


def rate(n: int, seconds: float) -> str:
    return f"{n / seconds:,.0f}/s ({n:,} in {seconds:.2f} s)"


def bench_posting(url: str, out: Callable[[str], None]) -> None:
    ledger = Ledger.from_url(url)
    codes = setup_accounts(ledger)
    rng = random.Random(1)
    t0 = time.perf_counter()
    for i in range(SINGLE_N):
        ledger.post(spec("one", i, codes, rng))
    single = time.perf_counter() - t0
    out(f"  engine, one entry per transaction:   {rate(SINGLE_N, single)}")

    specs = [spec("batch", i, codes, rng) for i in range(BATCH_N)]
    t0 = time.perf_counter()
    for k in range(0, BATCH_N, BATCH_SIZE):
        ledger.post_batch(specs[k : k + BATCH_SIZE])
    batched = time.perf_counter() - t0
    out(f"  engine, batches of {BATCH_SIZE}:             {rate(BATCH_N, batched)}")

    # The same rows (entry + 2 postings, hash computed) by plain SQLAlchemy Core,
    # without idempotency, locks, balances or checks: the floor the engine pays over.
    ids = [a.id for a in ledger.accounts()]
    income = ids[-1]
    start = ledger.entry(1).sequence + SINGLE_N + BATCH_N + 10**9
    t0 = time.perf_counter()
    prev = "0" * 64
    seq = start
    for k in range(0, BATCH_N, BATCH_SIZE):
        entries, postings = [], []
        for s in specs[k : k + BATCH_SIZE]:
            seq += 1
            eid = str(uuid.uuid4())
            prev = chain_hash(prev, eid)
            entries.append(
                {
                    "id": eid,
                    "sequence": seq,
                    "idempotency_key": f"core-{seq}",
                    "request_hash": prev,
                    "kind": "bench",
                    "effective_on": s.effective_on,
                    "recorded_at": ledger.clock.now(),
                    "actor": None,
                    "narration": "bench",
                    "metadata_json": "{}",
                    "reverses_entry_id": None,
                    "hold_id": None,
                    "hash": prev,
                }
            )
            amount = s.postings[0].amount.minor
            postings.append(
                {
                    "entry_id": eid,
                    "leg": 0,
                    "account_id": ids[0],
                    "currency": "EUR",
                    "amount_minor": amount,
                }
            )
            postings.append(
                {
                    "entry_id": eid,
                    "leg": 1,
                    "account_id": income,
                    "currency": "EUR",
                    "amount_minor": -amount,
                }
            )
        with ledger.engine.begin() as conn:
            conn.execute(ENTRIES.insert(), entries)
            conn.execute(POSTINGS.insert(), postings)
    core = time.perf_counter() - t0
    out(f"  plain Core insert, same batches:     {rate(BATCH_N, core)}")
    out(f"  ratio engine batched / plain Core:   {core / batched:.2f} (target >= 0.50)")
    ledger.engine.dispose()


def bench_concurrency(url: str, out: Callable[[str], None], workers: int = 8) -> None:
    ledger = Ledger.from_url(url)
    hot = ["assets:hot:a", "assets:hot:b", "liabilities:hot:c"]
    ledger.create_account(hot[0], "asset", no_overdraft=True)
    ledger.create_account(hot[1], "asset", no_overdraft=True)
    ledger.create_account(hot[2], "liability")
    ledger.create_account("equity:seed", "equity")
    ledger.post(
        EntrySpec(
            "seed",
            "seed",
            [
                PostingSpec(hot[0], eur(10**9)),
                PostingSpec(hot[1], eur(10**9)),
                PostingSpec("equity:seed", eur(-2 * 10**9)),
            ],
            effective_on=date(2026, 1, 1),
        )
    )
    stop = time.perf_counter() + CONC_SECONDS
    latencies: list[float] = []
    refused = 0
    lock = threading.Lock()
    barrier = threading.Barrier(workers)

    def worker(w: int) -> None:
        nonlocal refused
        rng = random.Random(w)
        local: list[float] = []
        barrier.wait()
        i = 0
        while time.perf_counter() < stop:
            a, b = rng.sample(hot, 2)
            amount = rng.randint(1, 5000)
            s = EntrySpec(
                f"w{w}-{i}",
                "bench",
                [PostingSpec(a, eur(-amount)), PostingSpec(b, eur(amount))],
                effective_on=date(2026, 1, 2),
            )
            t = time.perf_counter()
            try:
                ledger.post(s)
            except InsufficientFundsError:
                with lock:
                    refused += 1
            local.append(time.perf_counter() - t)
            i += 1
        with lock:
            latencies.extend(local)

    threads = [threading.Thread(target=worker, args=(w,)) for w in range(workers)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    latencies.sort()
    p99 = latencies[int(len(latencies) * 0.99) - 1] if latencies else 0.0
    out(
        f"  {workers} workers, 3 hot accounts:         {rate(len(latencies), elapsed)}, "
        f"p50 {statistics.median(latencies) * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms, "
        f"{refused} refused for funds"
    )
    report = ledger.verify()
    out(f"  after the run verify(): {'ok' if report.ok else report.first}")
    ledger.engine.dispose()


def load_average() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unknown"


Part = tuple[str, str, Callable[[str, Callable[[str], None]], object]]
PARTS: list[Part] = [
    (
        "single",
        "single-entry posting against Core with row locks (alternating rounds)",
        lambda url, out: bench_single(url, out, SINGLE_N),
    ),
    (
        "two",
        "two writers on their own accounts against Core with row locks (alternating rounds)",
        lambda url, out: bench_two_writers(url, out, SINGLE_N),
    ),
    (
        "batches",
        "batches of 100 entries against Core with row locks (alternating rounds)",
        lambda url, out: bench_batches(url, out, 12 if SMALL else 60),
    ),
    (
        "deferred",
        "one unit deferring many entries (a month's bank run), beside one post_batch",
        lambda url, out: bench_deferred_unit(
            url, out, (1000, 2000) if SMALL else (1000, 4000, 8000)
        ),
    ),
    (
        "last",
        "the engine writes last: units of an entry and 20 ms of work, two writers",
        lambda url, out: bench_writes_last(url, out, 200 if SMALL else 600),
    ),
    ("posting", "posting throughput", bench_posting),
    ("concurrency", "concurrency", bench_concurrency),
    (
        "book",
        "a big book: balance reads, trial balance and verify",
        lambda url, out: bench_book(url, out, entries=BOOK_ENTRIES, verify_at=VERIFY_AT),
    ),
    (
        "gifts",
        "cash gifts through the use case, one writer, one gift per transaction",
        lambda url, out: bench_gifts(url, out, gifts=GIFTS_N),
    ),
    (
        "writers",
        "writers on different campaigns, one process each (alternating rounds)",
        lambda url, out: bench_writers(url, out, seconds=WRITER_SECONDS),
    ),
    (
        "head",
        "how long a cash gift holds the journal head (PostgreSQL)",
        lambda url, out: bench_head_held(url, out, gifts=50 if SMALL else 200),
    ),
    (
        "matching",
        "one hot campaign: eight writers on the same campaign",
        lambda url, out: bench_matching(url, out, gifts=200 if SMALL else 1000),
    ),
    (
        "reconcile",
        "bank statements: import and auto-matching of a generated camt.053",
        lambda url, out: bench_reconcile(url, out, lines=1000 if SMALL else 10_000),
    ),
    (
        "load",
        "the production server (gunicorn) under signed Stripe webhooks and page views",
        lambda url, out: bench_load(url, out, gifts=200 if SMALL else 1000),
    ),
    (
        "projects",
        "projects: expenses through the use case and the report to a funder",
        lambda url, out: bench_projects(url, out, documents=200 if SMALL else 2000),
    ),
]


def main() -> int:
    names = [name for name, _, _ in PARTS]
    wanted = sys.argv[1:] or names
    unknown = [w for w in wanted if w not in names]
    if unknown:
        print(f"unknown part(s) {', '.join(unknown)}; parts: {', '.join(names)}", file=sys.stderr)
        return 2
    version = pg_version()
    lines: list[str] = []

    def out(line: str) -> None:
        print(line, flush=True)
        lines.append(line)

    out(f"# community-ledger benchmarks, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    for line in conditions(version):
        out(f"- {line}")
    out(f"- parts: {' '.join(wanted)}; load average at start: {load_average()}")
    backends: list[tuple[str, Callable[[], AbstractContextManager[str]]]] = [("SQLite", sqlite_db)]
    if version:
        backends.append(("PostgreSQL", pg_db))
    took: list[str] = []
    started = time.perf_counter()
    for backend, make in backends:
        out(f"\n## {backend}")
        for name, title, run in PARTS:
            if name not in wanted:
                continue
            out(f"{title} [{name}]")
            t0 = time.perf_counter()
            with make() as url:
                run(url, out)
            seconds = time.perf_counter() - t0
            out(f"  (part took {seconds:.1f} s; load average {load_average()})")
            took.append(f"{backend} {name} {seconds:.0f} s")
    out(f"\ntime per part: {', '.join(took)}; total {time.perf_counter() - started:.0f} s")
    if not version:
        out("\nPostgreSQL figures missing: no server reachable at the configured URL.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
