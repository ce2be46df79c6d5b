"""The lean posting path (issue 14, part 1) keeps the book that the earlier path wrote.

`_post_as_before` writes an entry exactly as `post_entry` did before the lean
path: the idempotency lookup, the accounts, the balance locks, the head and
the period lock date each read by their own statement, then the entry, its
postings, its key, the balances and the head written by separate statements.
A chain mixing entries written that way with entries of the lean path (single
entries, batches, holds, reversals) must verify, and a change to either kind
must be found. The process-wide account cache must never keep an account that
a rollback undid.
"""

from __future__ import annotations

import json
import uuid
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ledger.core.accounts import accounts_by_code, create_account
from ledger.core.balances import lock_balances, store_balances
from ledger.core.chain import chain_hash, entry_canonical, request_hash
from ledger.core.clock import Clock
from ledger.core.head import Head, advance_head, lock_head
from ledger.core.holds import HoldSpec
from ledger.core.journal import (
    _INSERT_ENTRIES,
    _INSERT_KEYS,
    _INSERT_KEYS_SQLITE,
    _INSERT_POSTINGS,
    EntrySpec,
    PostingSpec,
    post_entry,
)
from ledger.core.models import Balance, IdempotencyKey, JournalEntry
from ledger.core.money import Money
from ledger.core.periods import check_open, locked_through
from ledger.core.service import Ledger
from tests.conftest import make_database

CASH = "assets:cash"
GIFTS = "income:gifts"
POOL = "liabilities:pool"


def eur(minor: int) -> Money:
    return Money(minor, "EUR")


def gift(key: str, amount: int, day: int = 2) -> EntrySpec:
    return EntrySpec(
        key,
        "donation",
        [PostingSpec(CASH, eur(amount)), PostingSpec(GIFTS, eur(-amount))],
        effective_on=date(2026, 6, day),
        narration=f"dono {key}",
        metadata={"campaign": 7},
    )


def _post_as_before(session: Session, spec: EntrySpec, clock: Clock) -> int:
    """One entry written statement by statement, as the engine did before issue 14."""
    req = request_hash(spec.request())
    accounts = accounts_by_code(session, {p.account for p in spec.postings})
    balances = lock_balances(session, list(accounts.values()))
    legs = [(accounts[p.account], p.amount.minor) for p in spec.postings]
    for account, amount in legs:
        balances[account.id].post(amount)
    for account, _ in legs:
        balances[account.id].check_overdraft(spec.idempotency_key)
    head = lock_head(session)
    assert spec.effective_on is not None
    check_open(spec.effective_on, locked_through(session))
    now = clock.now()
    recorded_at = max(now, head.last_recorded_at) if head.last_recorded_at else now
    sequence, entry_id = head.last_sequence + 1, str(uuid.uuid4())
    rows = [(leg, a.id, a.currency, amount) for leg, (a, amount) in enumerate(legs)]
    canonical = entry_canonical(
        sequence=sequence,
        entry_id=entry_id,
        idempotency_key=spec.idempotency_key,
        request_hash=req,
        kind=spec.kind,
        effective_on=spec.effective_on,
        recorded_at=recorded_at,
        actor=spec.actor,
        narration=spec.narration,
        metadata_json=spec.metadata_json,
        reverses_entry_id=None,
        hold_id=None,
        postings=rows,
    )
    digest = chain_hash(head.last_hash, canonical)
    connection = session.connection()
    connection.execute(
        _INSERT_ENTRIES,
        [
            {
                "id": entry_id,
                "sequence": sequence,
                "idempotency_key": spec.idempotency_key,
                "request_hash": req,
                "kind": spec.kind,
                "effective_on": spec.effective_on,
                "recorded_at": recorded_at,
                "actor": spec.actor,
                "narration": spec.narration,
                "metadata_json": spec.metadata_json,
                "reverses_entry_id": None,
                "hold_id": None,
                "hash": digest,
            }
        ],
    )
    connection.execute(
        _INSERT_POSTINGS,
        [
            {"entry_id": entry_id, "leg": leg, "account_id": account_id, "currency": cur,
             "amount_minor": amount}
            for leg, account_id, cur, amount in rows
        ],
    )  # fmt: skip
    connection.execute(
        _INSERT_KEYS,
        [
            {"key": spec.idempotency_key, "operation": "entry", "request_hash": req,
             "entry_id": entry_id, "hold_id": None, "created_at": now}
        ],
    )  # fmt: skip
    store_balances(session, balances)
    advance_head(session, Head(sequence, digest, recorded_at))
    return sequence


def _open_book(ledger: Ledger) -> None:
    ledger.create_account(CASH, "asset", no_overdraft=True)
    ledger.create_account(GIFTS, "income")
    ledger.create_account(POOL, "liability")


def test_a_chain_of_entries_written_before_and_after_the_lean_path_verifies(
    ledger: Ledger,
) -> None:
    _open_book(ledger)
    clock = ledger.clock
    for i in range(3):
        ledger.run(lambda s, i=i: _post_as_before(s, gift(f"old-{i}", 1000 + i), clock))
    first = ledger.post(gift("new-0", 500))
    assert first.created and first.entry.sequence == 4
    ledger.post_batch([gift(f"new-batch-{i}", 10 + i) for i in range(3)])
    ledger.run(lambda s: _post_as_before(s, gift("old-3", 7), clock))
    hold = ledger.hold(HoldSpec("hold-1", "grant", CASH, POOL, eur(300)))
    ledger.post_hold(hold.hold.id, idempotency_key="hold-1-post", amount=eur(200))
    ledger.reverse(idempotency_key="undo-old-1", sequence=2)
    ledger.run(lambda s: _post_as_before(s, gift("old-4", 9), clock))
    again = ledger.post(gift("new-0", 500))
    assert not again.created and again.entry == first.entry

    report = ledger.verify()
    assert report.ok, report.first
    assert report.entries_checked == 11
    # Gifts 1000 + 1001 + 1002 + 500 + 33 + 7 + 9, the posted part of the hold 200, less
    # the reversed 1001.
    assert ledger.balance(CASH).posted == 2751

    def narrations(session: Session) -> dict[int, str]:
        return dict(session.execute(select(JournalEntry.sequence, JournalEntry.narration)).all())

    assert ledger.read(narrations)[4] == "dono new-0"


@pytest.mark.parametrize("sequence", [3, 4])
def test_verify_finds_a_changed_balance_on_either_side_of_the_change(
    ledger: Ledger, sequence: int
) -> None:
    """The mixed chain is checked, not waved through: break the balance total an old
    (3) or a new (4) entry left and verify names the balances as wrong."""
    _open_book(ledger)
    clock = ledger.clock
    for i in range(3):
        ledger.run(lambda s, i=i: _post_as_before(s, gift(f"old-{i}", 100), clock))
    ledger.post(gift("new-0", 100))
    assert ledger.verify().ok

    def tamper(session: Session) -> None:
        account_id = accounts_by_code(session, {CASH})[CASH].id
        session.execute(
            update(Balance)
            .where(Balance.account_id == account_id)
            .values(posted_debits=Balance.posted_debits + sequence)
        )

    ledger.run(tamper)
    report = ledger.verify()
    assert not report.ok
    assert report.first is not None and report.first.invariant == "I7"


def test_an_entry_of_the_lean_path_carries_what_the_earlier_path_wrote(ledger: Ledger) -> None:
    """Column by column, the lean path stores what the earlier path stored."""
    _open_book(ledger)
    clock = ledger.clock
    ledger.run(lambda s: _post_as_before(s, gift("old", 250), clock))
    ledger.post(gift("new", 250))

    def rows(session: Session) -> list[dict[str, Any]]:
        found = session.scalars(select(JournalEntry).order_by(JournalEntry.sequence)).all()
        return [
            {
                "kind": e.kind,
                "effective_on": e.effective_on,
                "recorded_at": e.recorded_at,
                "actor": e.actor,
                "metadata": json.loads(e.metadata_json),
                "reverses": e.reverses_entry_id,
                "hold": e.hold_id,
            }
            for e in found
        ]

    old, new = ledger.read(rows)
    assert old == new


# --------------------------------------------------------------------------- account cache
def test_an_account_undone_by_a_rollback_is_not_remembered(ledger: Ledger) -> None:
    """Post to a new account in a transaction that rolls back; the code, created again
    (with another id, or the same id reused for another account), gets the money."""
    ledger.create_account(GIFTS, "income")

    class Undo(Exception):
        pass

    def create_post_and_undo(session: Session) -> None:
        create_account(session, "assets:x", "asset", clock=ledger.clock)
        post_entry(session, EntrySpec("x-1", "donation", [
            PostingSpec("assets:x", eur(5)), PostingSpec(GIFTS, eur(-5))
        ]), clock=ledger.clock)  # fmt: skip
        raise Undo

    with pytest.raises(Undo):
        ledger.run(create_post_and_undo)
    ledger.create_account("assets:y", "asset")  # SQLite hands it the id x had
    ledger.create_account("assets:x", "asset")
    ledger.post(EntrySpec("x-1", "donation", [
        PostingSpec("assets:x", eur(5)), PostingSpec(GIFTS, eur(-5))
    ]))  # fmt: skip
    assert ledger.balance("assets:x").posted == 5
    assert ledger.balance("assets:y").posted == 0
    assert ledger.verify().ok


def test_an_account_undone_by_a_savepoint_is_not_remembered(ledger: Ledger) -> None:
    ledger.create_account(GIFTS, "income")

    def inner_undone(session: Session) -> None:
        savepoint = session.begin_nested()
        create_account(session, "assets:x", "asset", clock=ledger.clock)
        post_entry(session, EntrySpec("x-1", "donation", [
            PostingSpec("assets:x", eur(5)), PostingSpec(GIFTS, eur(-5))
        ]), clock=ledger.clock)  # fmt: skip
        savepoint.rollback()

    ledger.run(inner_undone)
    ledger.create_account("assets:y", "asset")
    ledger.create_account("assets:x", "asset")
    ledger.post(EntrySpec("x-2", "donation", [
        PostingSpec("assets:x", eur(7)), PostingSpec(GIFTS, eur(-7))
    ]))  # fmt: skip
    assert ledger.balance("assets:x").posted == 7
    assert ledger.balance("assets:y").posted == 0
    assert ledger.verify().ok


def test_two_databases_in_one_process_keep_their_own_accounts(
    ledger: Ledger, backend: str, _templates: dict[str, str], tmp_path: Path
) -> None:
    """The cache is per database: the same code has another id in another book."""
    databases = make_database(backend, _templates, tmp_path)
    other = Ledger.from_url(next(databases), clock=ledger.clock)
    try:
        other.create_account("assets:first", "asset")
        for book in (ledger, other):
            book.create_account(CASH, "asset")
            book.create_account(GIFTS, "income")
        ledger.post(gift("g", 11))
        other.post(gift("g", 13))
        assert ledger.balance(CASH).posted == 11
        assert other.balance(CASH).posted == 13
        assert other.balance("assets:first").posted == 0
        assert ledger.verify().ok and other.verify().ok
    finally:
        other.engine.dispose()
        databases.close()


# --------------------------------------------------------------------------- SQLite
@pytest.fixture
def sqlite_ledger(_templates: dict[str, str], tmp_path: Path) -> Any:
    for url in make_database("sqlite", _templates, tmp_path):
        book = Ledger.from_url(url)
        _open_book(book)
        yield book
        book.engine.dispose()


def _traced(ledger: Ledger) -> list[str]:
    """Every statement SQLite itself runs on the pool's connection, from its trace hook."""
    seen: list[str] = []
    with ledger.engine.connect() as conn:
        raw = conn.connection.dbapi_connection
        assert raw is not None
        raw.set_trace_callback(lambda sql: seen.append(" ".join(sql.split()[:3])))  # type: ignore[attr-defined]
    return seen


def test_an_entry_on_sqlite_is_one_read_and_five_write_statements(sqlite_ledger: Ledger) -> None:
    sqlite_ledger.post(gift("warm", 500))
    seen = _traced(sqlite_ledger)
    sqlite_ledger.post(gift("traced", 700))
    statements = [s for s in seen if not s.startswith("PRAGMA")]
    assert statements[0] == "BEGIN IMMEDIATE"
    assert statements[-1] == "COMMIT"
    # One read (balances, key, head and lock date); then each write statement once,
    # traced by SQLite once per row it is run for (executemany).
    assert [s.split()[0] for s in statements[1:-1]] == ["SELECT"] + ["INSERT"] * 4 + ["UPDATE"] * 3
    assert [s for s in statements if s.startswith(("INSERT", "UPDATE"))] == [
        "INSERT INTO journal_entries",
        "INSERT INTO postings",
        "INSERT INTO postings",
        "INSERT INTO idempotency_keys",
        "UPDATE balances SET",
        "UPDATE balances SET",
        "UPDATE ledger_heads SET",
    ]
    assert sqlite_ledger.verify().ok


def test_a_replay_on_sqlite_is_answered_by_the_one_read(sqlite_ledger: Ledger) -> None:
    first = sqlite_ledger.post(gift("again", 500))
    seen = _traced(sqlite_ledger)
    again = sqlite_ledger.post(gift("again", 500))
    assert not again.created and again.entry.sequence == first.entry.sequence
    assert not any(s.startswith(("INSERT", "UPDATE")) for s in seen)


def test_a_write_sqlite_refuses_through_the_cursor_is_raised_as_sqlalchemy_s_error(
    sqlite_ledger: Ledger,
) -> None:
    sqlite_ledger.post(gift("taken", 500))
    row = {
        "key": "taken",
        "operation": "entry",
        "request_hash": "0" * 64,
        "entry_id": None,
        "hold_id": None,
        "created_at": sqlite_ledger.clock.now(),
    }
    with pytest.raises(IntegrityError), sqlite_ledger.engine.begin() as conn:
        _INSERT_KEYS_SQLITE.run(conn, [row])
    assert sqlite_ledger.verify().ok


def test_the_wal_stays_bounded_over_a_long_run_of_entries(sqlite_ledger: Ledger) -> None:
    # About 70 KB of WAL per entry: 400 entries would be some 28 MB without checkpoints.
    url = sqlite_ledger.engine.url.database
    assert url is not None
    wal = Path(url + "-wal")
    largest = 0
    for i in range(400):
        sqlite_ledger.post(gift(f"wal-{i}", 100 + i))
        largest = max(largest, wal.stat().st_size)
    assert largest < 8 * 1024 * 1024
    assert sqlite_ledger.verify().ok


# --------------------------------------------------------------------------- PostgreSQL holds
@pytest.mark.postgres_only
def test_a_hold_on_postgresql_is_one_read_and_one_write_statement(pg_ledger: Ledger) -> None:
    _open_book(pg_ledger)
    pg_ledger.post(gift("fund", 10_000))
    pg_ledger.hold(HoldSpec("warm", "grant", POOL, CASH, eur(100)))
    seen: list[str] = []

    def before(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(" ".join(statement.split()[:3]))

    event.listen(pg_ledger.engine, "before_cursor_execute", before)
    try:
        made = pg_ledger.hold(HoldSpec("traced", "grant", POOL, CASH, eur(300)))
    finally:
        event.remove(pg_ledger.engine, "before_cursor_execute", before)
    # The lock read (balances and key), then the hold, its key and both balances at once.
    assert [s.split()[0] for s in seen] == ["SELECT", "WITH"], seen
    assert seen[1] == "WITH new_hold AS"
    assert made.created and made.hold.status == "open"
    # Money reserved out of the cash for the pool: both rows carry the two holds.
    assert pg_ledger.balance(CASH).pending == 400
    assert pg_ledger.balance(CASH).available == 10_000 - 400
    assert pg_ledger.balance(POOL).pending == 400
    again = pg_ledger.hold(HoldSpec("traced", "grant", POOL, CASH, eur(300)))
    assert not again.created and again.hold.id == made.hold.id
    with pg_ledger.engine.connect() as conn:
        stored = conn.execute(
            select(IdempotencyKey.operation, IdempotencyKey.hold_id).where(
                IdempotencyKey.key == "traced"
            )
        ).one()
    assert tuple(stored) == ("hold", made.hold.id)
    pg_ledger.post_hold(made.hold.id, idempotency_key="traced-post", amount=eur(200))
    assert pg_ledger.balance(CASH).pending == 100
    assert pg_ledger.verify().ok
