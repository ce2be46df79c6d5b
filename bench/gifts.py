"""Cash gifts through the use case: one writer, and writers on different campaigns.

`bench_gifts` (one writer, one gift per transaction) records cash gifts through
`ledger.campaigns.commands.record_offline_gift`, the function the treasurer's
page, the API and the CLI call: the request key and its audit event, the
donation row, the engine's entry (cash -> the campaign's escrow), the receipt
and, on a campaign with commitments, the match. Two campaigns are measured:
one without commitments and one covered by a 1:1 ratio commitment and a 40 %/60 %
threshold commitment whose threshold is never reached (so every gift pays for
the threshold check). The baseline, measured in the same run and in alternating
rounds with the gifts, is the engine alone: one `post_entry` per transaction of
the same amounts between the same kind of accounts (the cash account and a
campaign's escrow). The SQL statements of one gift are counted with an event
listener on the engine, and what the request key's `command_requests` row
costs a gift (its INSERT and UPDATE: count, and time inside the driver's
execute around each) is measured over more gifts with commitments.

`bench_writers`: 1, 2, 4 and 8 writers, each a process of its own (as
gunicorn's workers are) recording cash gifts on its own campaign, the counts
alternating in rounds; total gifts/s and each round's speed-up over its own one
writer, `verify()` after. The campaigns share the cash account, the journal head
and, with commitments, nothing else (each has its own foundation and pools).

    python -m bench gifts writers     # only these two parts, both backends
"""

from __future__ import annotations

import statistics
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.orm import Session

from bench.grants import _campaign, _organisation
from bench.workers import Acts, Phase, Writers
from ledger.campaigns import accounts as campaign_accounts
from ledger.campaigns.commands import Donor, record_offline_gift
from ledger.commands import Origin
from ledger.core.clock import FixedClock, rome_today
from ledger.core.intents import EARLY_FLUSHES, LOCK_FLUSHES
from ledger.core.journal import EntrySpec, PostingSpec, post_entry
from ledger.core.money import Money
from ledger.core.service import Ledger
from ledger.core.storage import make_engine
from ledger.wiring import wire

ORIGIN = Origin(channel="cli", user_id=None, source="bench")
ROUNDS = 5
WRITERS = (1, 2, 4, 8)
KINDS = ((False, "no commitment"), (True, "a ratio and a threshold commitment"))


def amount(i: int) -> Money:
    """The i-th gift's amount: 10.00 to 19.70 EUR, the same sequence for gifts and baseline."""
    return Money(1000 + (i % 98) * 10, "EUR")


def _ledger(url: str, pool: int) -> Ledger:
    wire()
    clock = FixedClock(datetime(2026, 6, 15, 12, 0, tzinfo=UTC))
    return Ledger(make_engine(url, pool_size=pool, max_overflow=0), clock=clock)


@dataclass
class Attempts:
    """How many times units of work ran: more than the gifts means retried conflicts."""

    runs: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self) -> None:
        with self.lock:
            self.runs += 1


def gift(ledger: Ledger, campaign_id: int, i: int, key: str, attempts: Attempts | None) -> None:
    """One cash gift through the use case, in its own transaction."""

    def work(session: Any) -> None:
        if attempts is not None:
            attempts.add()
        record_offline_gift(
            session,
            campaign_id,
            amount(i),
            method="cash",
            donated_on=None,
            reference=None,
            anonymous=True,
            donor=Donor(),
            origin=ORIGIN,
            clock=ledger.clock,
            key=key,
        )

    ledger.run(work)


def baseline(ledger: Ledger, campaign_id: int, i: int, key: str) -> None:
    """The engine alone: the gift's entry (cash -> escrow), one post_entry per transaction."""
    money = amount(i)
    spec = EntrySpec(
        idempotency_key=key,
        kind="donation",
        postings=[
            PostingSpec(campaign_accounts.CASH, money),
            PostingSpec(campaign_accounts.escrow(campaign_id), -money),
        ],
        effective_on=rome_today(ledger.clock),
        narration=f"Donazione alla campagna {campaign_id} (contanti)",
        metadata={"campaign_id": campaign_id, "method": "cash", "gross_minor": money.minor},
        actor="cli",
    )
    ledger.run(lambda s: post_entry(s, spec, clock=ledger.clock))


# ----------------------------------------------------------------- statement counts
def count_statements(engine: Engine) -> tuple[Counter[str], Callable[[], None]]:
    """Count what `engine` sends to the server, by kind; returns (counter, stop).

    Every cursor execution counts once (an executemany too); BEGIN counts on
    PostgreSQL (psycopg sends it before the first statement; on SQLite it is the
    engine's own `BEGIN IMMEDIATE`, already a cursor execution), COMMIT and
    ROLLBACK count. (PostgreSQL engines no longer ping before each transaction; a
    checkout looks at the connection's socket, which sends nothing.)
    """
    seen: Counter[str] = Counter()
    sqlite = engine.dialect.name == "sqlite"

    def before(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        words = statement.lstrip().split(None, 1)
        verb = words[0].upper() if words else "?"
        if verb == "WITH":  # a data-modifying CTE counts as the write it ends with
            verb = "WITH (CTE)"
        seen[verb] += 1

    def on_begin(_conn: Any) -> None:
        if not sqlite:
            seen["BEGIN"] += 1

    def on_commit(_conn: Any) -> None:
        seen["COMMIT"] += 1

    def on_rollback(_conn: Any) -> None:
        seen["ROLLBACK"] += 1

    listeners: list[tuple[str, Callable[..., Any]]] = [
        ("before_cursor_execute", before),
        ("begin", on_begin),
        ("commit", on_commit),
        ("rollback", on_rollback),
    ]
    for name, fn in listeners:
        event.listen(engine, name, fn)

    def stop() -> None:
        for name, fn in listeners:
            event.remove(engine, name, fn)

    return seen, stop


def _counted(ledger: Ledger, act: Callable[[], None]) -> str:
    seen, stop = count_statements(ledger.engine)
    try:
        act()
    finally:
        stop()
    order = ("BEGIN", "SELECT", "INSERT", "UPDATE", "DELETE", "WITH (CTE)", "COMMIT", "ROLLBACK")
    parts = [f"{seen[k]} {k}" for k in order if seen[k]]
    parts += [f"{n} {k}" for k, n in sorted(seen.items()) if k not in order]
    return f"{sum(seen.values())} statements ({', '.join(parts)})"


def _journal_flushes(act: Callable[[int, str], None], tag: str, n: int = 20) -> str:
    """The journal writes of `n` acts before their COMMIT (docs/journal-writes.md 2.3):
    asked by another engine lock (a hold, an entry posted at once) or by a read of a
    deferred entry; with those the unit holds the head from there to its COMMIT."""
    seen: Counter[str] = Counter()

    def before_commit(session: Session) -> None:  # after the engine's own hook
        if session.get_nested_transaction() is None:
            seen["units"] += 1
            seen["lock"] += session.info.get(LOCK_FLUSHES, 0)
            seen["read"] += session.info.get(EARLY_FLUSHES, 0)

    event.listen(Session, "before_commit", before_commit)
    try:
        for k in range(n):
            act(2 * 10**6 + k, f"{tag}-{k}")
    finally:
        event.remove(Session, "before_commit", before_commit)
    units = max(seen["units"], 1)
    return (
        f"{seen['lock'] / units:.2f} by an engine lock, {seen['read'] / units:.2f} by a read "
        f"({seen['units']} units)"
    )


def time_in_statements(
    engine: Engine, needle: str
) -> tuple[list[float], list[int], Callable[[], None]]:
    """Time spent executing statements whose text names `needle` ([seconds], [count])."""
    spent = [0.0]
    seen = [0]
    started: dict[int, float] = {}

    def before(_conn: Any, cursor: Any, statement: str, *_args: Any) -> None:
        if needle in statement:
            started[id(cursor)] = time.perf_counter()

    def after(_conn: Any, cursor: Any, *_args: Any) -> None:
        t = started.pop(id(cursor), None)
        if t is not None:
            spent[0] += time.perf_counter() - t
            seen[0] += 1

    event.listen(engine, "before_cursor_execute", before)
    event.listen(engine, "after_cursor_execute", after)

    def stop() -> None:
        event.remove(engine, "before_cursor_execute", before)
        event.remove(engine, "after_cursor_execute", after)

    return spent, seen, stop


def _keys_cost(ledger: Ledger, campaign: int, n: int) -> str:
    """What the request key's `command_requests` row costs a gift: its statements' count
    and their execution time (driver and server, measured around each cursor call),
    beside the whole gift's time."""
    spent, seen, stop = time_in_statements(ledger.engine, "command_requests")
    started = time.perf_counter()
    try:
        for k in range(n):
            gift(ledger, campaign, k, f"keys-{k}", None)
    finally:
        stop()
    total = time.perf_counter() - started
    return (
        f"{seen[0] / n:.1f} statements per gift on command_requests, "
        f"{spent[0] / n * 1000:.2f} ms of {total / n * 1000:.2f} ms per gift "
        f"({spent[0] / total:.1%}; {n} gifts with commitments)"
    )


def _latency(samples: list[float]) -> str:
    ordered = sorted(samples)
    p99 = ordered[max(int(len(ordered) * 0.99) - 1, 0)]
    return f"p50 {statistics.median(ordered) * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms"


def _rate(n: int, seconds: float, unit: str = "gifts") -> str:
    return f"{n / seconds:,.0f} {unit}/s ({n:,} in {seconds:.2f} s)"


# ----------------------------------------------------------------- one writer
def bench_gifts(url: str, out: Callable[[str], None], *, gifts: int) -> None:
    """Gifts/s, p50/p99 and statements of a cash gift, without and with two commitments,
    beside the engine's post_entry of the same amounts, in alternating rounds."""
    ledger = _ledger(url, pool=2)
    try:
        plain = _campaign(ledger, matched=False)
        matched = _campaign(ledger, matched=True)
        engine_only = _campaign(ledger, matched=False)
        paths: list[tuple[str, Callable[[int, str], None]]] = [
            (
                "baseline, engine post_entry (cash -> escrow), same amounts",
                lambda i, key: baseline(ledger, engine_only, i, key),
            ),
            ("cash gift, no commitment", lambda i, key: gift(ledger, plain, i, key, None)),
            (
                "cash gift, a ratio and a threshold commitment",
                lambda i, key: gift(ledger, matched, i, key, None),
            ),
        ]
        # Warm every path (connections, statement and account caches) outside the timing,
        # then count the statements of one more of each.
        for n, (_label, act) in enumerate(paths):
            for k in range(20):
                act(k, f"warm-{n}-{k}")
        counts = [
            _counted(ledger, partial(act, 10**6, f"count-{n}"))
            for n, (_label, act) in enumerate(paths)
        ]
        per_round = max(gifts // ROUNDS, 1)
        samples: list[list[float]] = [[] for _ in paths]
        totals = [0.0 for _ in paths]
        i = 0
        for _ in range(ROUNDS):
            for n, (_label, act) in enumerate(paths):
                started = time.perf_counter()
                for k in range(per_round):
                    t = time.perf_counter()
                    act(i + k, f"g-{n}-{i + k}")
                    samples[n].append(time.perf_counter() - t)
                totals[n] += time.perf_counter() - started
            i += per_round
        total = per_round * ROUNDS
        width = max(len(label) for label, _ in paths) + 1
        for n, (label, _act) in enumerate(paths):
            ratio = "" if n == 0 else f", {totals[0] / totals[n]:.2f} of the baseline's rate"
            unit = "entries" if n == 0 else "gifts"
            out(
                f"  {label + ':':<{width}} {_rate(total, totals[n], unit)}, "
                f"{_latency(samples[n])}{ratio}"
            )
        for n, (label, _act) in enumerate(paths):
            out(f"  SQL per act, {label}: {counts[n]}")
        for n, (label, act) in enumerate(paths):
            flushes = _journal_flushes(act, f"flush-{n}")
            out(f"  journal written before COMMIT, per act, {label}: {flushes}")
        out(f"  request key row: {_keys_cost(ledger, matched, max(per_round, 20))}")
        out(
            f"  ({ROUNDS} alternating rounds of {per_round} per path; statements of one act "
            "after warm-up, BEGIN and COMMIT included; target >= 300 gifts/s with commitments)"
        )
    finally:
        ledger.engine.dispose()


# ----------------------------------------------------------------- many writers
WRITER_ROUNDS = 3


def gift_writer(url: str, campaign_id: int, tag: str) -> Acts:
    """A writer process's act (`bench.workers`): cash gifts on its own campaign."""
    ledger = _ledger(url, pool=1)
    attempts = Attempts()

    def act(i: int) -> int:
        runs = attempts.runs
        gift(ledger, campaign_id, i, f"{tag}-{i}", attempts)
        return attempts.runs - runs

    act(0)  # warm: the connection, the caches, the campaign's rows
    return {"gift": act}


def bench_writers(url: str, out: Callable[[str], None], *, seconds: float) -> None:
    """1, 2, 4, 8 writers, each a process (`bench.workers`) recording cash gifts on its
    own campaign; the counts alternate within each of WRITER_ROUNDS rounds, `seconds`
    per count per round, and each round's speed-up is over its own one-writer phase.
    On PostgreSQL, also with every campaign of one organisation (whose receipt
    counter every gift numbers its receipt on). verify() after each kind."""
    ledger = _ledger(url, pool=1)
    sqlite = ledger.engine.dialect.name == "sqlite"
    if sqlite:
        out("  (SQLite: one database write lock, BEGIN IMMEDIATE; writers queue on it)")
    try:
        for matched, label in KINDS:
            for shared in (False,) if sqlite else (False, True):
                one_organisation = _organisation(ledger) if shared else None
                campaigns = [
                    _campaign(ledger, matched=matched, organisation_id=one_organisation)
                    for _ in range(max(WRITERS))
                ]
                makers = [
                    partial(gift_writer, url, campaign, f"w{int(matched)}{int(shared)}-{w}")
                    for w, campaign in enumerate(campaigns)
                ]
                phases: dict[int, list[Phase]] = {writers: [] for writers in WRITERS}
                with Writers(makers) as pool:
                    for _ in range(WRITER_ROUNDS):
                        for writers in WRITERS:
                            phases[writers].append(pool.run("gift", writers, seconds))
                whose = "one organisation's" if shared else "its own organisation's"
                for writers in WRITERS:
                    runs = phases[writers]
                    ups = [p.rate / one.rate for p, one in zip(runs, phases[1], strict=True)]
                    plural = "s" if writers > 1 else ""
                    out(
                        f"  {label}, {writers} writer{plural}, each on {whose} campaign: "
                        f"{_rate(sum(p.units for p in runs), sum(p.seconds for p in runs))}, "
                        f"speed-up {statistics.median(ups):.2f}x "
                        f"(rounds {min(ups):.2f}-{max(ups):.2f}), "
                        f"{_latency([t for p in runs for t in p.latencies])}, "
                        f"{sum(p.retried for p in runs)} retried"
                    )
            report = ledger.verify()
            out(
                f"  after the runs with {label}, verify(): "
                f"{'ok' if report.ok else report.first} ({report.entries_checked:,} entries)"
            )
        out(
            f"  (one process per writer; {WRITER_ROUNDS} rounds, the writer counts alternating, "
            f"{seconds:g} s each; speed-up: median over the rounds of the rate over that "
            "round's one writer; target: two writers at least 1.8x one)"
        )
    finally:
        ledger.engine.dispose()


# ----------------------------------------------------------------- the head held
def bench_head_held(url: str, out: Callable[[str], None], *, gifts: int) -> None:
    """How long a cash gift through the use case holds the journal head (PostgreSQL):
    from the start of the statement that locks `ledger_heads` FOR UPDATE to the end
    of the unit's COMMIT, beside the gift's whole time, medians over `gifts` gifts
    per kind, the kinds alternating. By Little's law the head alone caps every writer
    of the book together at 1 / (time held)."""
    ledger = _ledger(url, pool=2)
    if ledger.engine.dialect.name != "postgresql":
        out("  (PostgreSQL only: SQLite's BEGIN IMMEDIATE holds the whole database per unit)")
        ledger.engine.dispose()
        return
    state: dict[str, Any] = {}

    def before(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if not state.get("on"):
            return
        state["n"] += 1
        if "head" not in state and "ledger_heads" in statement and "FOR UPDATE" in statement:
            state["head"] = time.perf_counter()
            state["at"] = state["n"]

    def after_commit(_session: Session) -> None:
        if state.get("on"):
            state["end"] = time.perf_counter()

    event.listen(ledger.engine, "before_cursor_execute", before)
    event.listen(Session, "after_commit", after_commit)
    try:
        kinds = [
            ("cash gift, no commitment", _campaign(ledger, matched=False)),
            ("cash gift, a ratio and a threshold commitment", _campaign(ledger, matched=True)),
        ]
        for label, campaign in kinds:
            for k in range(20):
                gift(ledger, campaign, k, f"warm-{label}-{k}", None)
        rows: dict[str, list[tuple[int, int, float, float]]] = {label: [] for label, _ in kinds}
        for r in range(gifts):
            for label, campaign in kinds:
                state.clear()
                state.update(on=True, n=0)
                t0 = time.perf_counter()
                gift(ledger, campaign, r, f"held-{label}-{r}", None)
                state["on"] = False
                rows[label].append(
                    (
                        state["n"],
                        state["n"] - state["at"],
                        state["end"] - state["head"],
                        state["end"] - t0,
                    )
                )
        for label, values in rows.items():
            statements = statistics.median(v[0] for v in values)
            after = statistics.median(v[1] for v in values)
            held = statistics.median(v[2] for v in values)
            total = statistics.median(v[3] for v in values)
            out(
                f"  {label}: head held {held * 1000:.2f} ms of {total * 1000:.2f} ms "
                f"({held / total:.0%}); {statements:.0f} statements (BEGIN and COMMIT not "
                f"counted), {after:.0f} after the head's lock; at most {1 / held:,.0f} gifts/s "
                f"for the whole book by the head alone (medians of {len(values)})"
            )
    finally:
        event.remove(ledger.engine, "before_cursor_execute", before)
        event.remove(Session, "after_commit", after_commit)
        ledger.engine.dispose()
