"""Raw SQL that goes around the engine must be refused by the database itself.

The engine never writes an unbalanced entry or touches a posted row, but a
script, a careless migration or an operator at a psql prompt could. These tests
play that part: they connect with the application's own engine and write SQL by
hand. Each attempt must be refused by a database mechanism (trigger, deferred
constraint trigger, unique index, foreign key), and afterwards the engine's
`verify()` must still pass with every balance unchanged.

The deferred balance trigger, TRUNCATE guards, unique indexes and composite
foreign keys are checked on PostgreSQL (`pg_ledger`); the append-only UPDATE and
DELETE triggers are checked on both backends (`ledger`).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Connection, text
from sqlalchemy.exc import DBAPIError, IntegrityError

from ledger.core.holds import HoldSpec
from ledger.core.journal import EntrySpec, PostingSpec
from ledger.core.money import Money
from ledger.core.service import Ledger

# SQLSTATEs the guards raise on PostgreSQL.
CHECK_VIOLATION = "23514"  # ledger_assert_balanced, at COMMIT
RESTRICT_VIOLATION = "23001"  # ledger_refuse_change, at once
UNIQUE_VIOLATION = "23505"
FOREIGN_KEY_VIOLATION = "23503"


def eur(amount: str) -> Money:
    return Money.parse(amount, "EUR")


def usd(amount: str) -> Money:
    return Money.parse(amount, "USD")


# --------------------------------------------------------------------------- the book
def build_book(ledger: Ledger) -> None:
    """A small book with every kind of append-only row: entries, a reversal, holds, a period."""
    ledger.create_account("assets:bank:intesa", "asset", no_overdraft=True)
    ledger.create_account("assets:bank:usd", "asset", currency="USD")
    ledger.create_account("income:donations", "income")
    ledger.create_account("income:donations:usd", "income", currency="USD")
    ledger.create_account("expenses:grants", "expense")
    ledger.post(
        EntrySpec(
            "don-1",
            "donation",
            [
                PostingSpec("assets:bank:intesa", eur("100.00")),
                PostingSpec("income:donations", eur("-100.00")),
            ],
            effective_on=date(2026, 5, 20),
        )
    )
    ledger.post(
        EntrySpec(
            "don-usd-1",
            "donation",
            [
                PostingSpec("assets:bank:usd", usd("40.00")),
                PostingSpec("income:donations:usd", usd("-40.00")),
            ],
            effective_on=date(2026, 6, 2),
        )
    )
    ledger.post(
        EntrySpec(
            "grant-1",
            "grant_payment",
            [
                PostingSpec("expenses:grants", eur("30.00")),
                PostingSpec("assets:bank:intesa", eur("-30.00")),
            ],
            effective_on=date(2026, 6, 3),
        )
    )
    ledger.reverse(idempotency_key="rev-grant-1", sequence=3)
    hold = ledger.hold(
        HoldSpec("hold-1", "grant_payment", "assets:bank:intesa", "expenses:grants", eur("10.00"))
    )
    ledger.post_hold(hold.hold.id, idempotency_key="hold-1-post", amount=eur("4.00"))
    ledger.hold(
        HoldSpec(
            "hold-2",
            "grant_payment",
            "assets:bank:intesa",
            "expenses:grants",
            eur("5.00"),
            expires_at=ledger.clock.now() + timedelta(days=7),
        )
    )
    # The close is recorded a minute after the entries: verify compares
    # timestamps, and a close at the very instant of an entry reads as after it.
    ledger.clock.instant += timedelta(minutes=1)  # type: ignore[attr-defined]
    ledger.close_period("2026-05")


def snapshot(ledger: Ledger) -> dict[str, tuple[int, int, int]]:
    """Every account's (posted, pending, available), plus the journal's length."""
    out = {}
    for account in ledger.accounts():
        b = ledger.balance(account.code)
        out[account.code] = (b.posted, b.pending, b.available)
    with ledger.engine.connect() as conn:
        count = conn.execute(text("SELECT count(*) FROM journal_entries")).scalar_one()
        postings = conn.execute(text("SELECT count(*) FROM postings")).scalar_one()
    out["#journal"] = (int(count), int(postings), 0)
    return out


def assert_books_intact(ledger: Ledger, before: dict[str, tuple[int, int, int]]) -> None:
    report = ledger.verify()
    assert report.ok, report.violations
    assert snapshot(ledger) == before


@pytest.fixture
def book(pg_ledger: Ledger) -> Iterator[tuple[Ledger, dict[str, tuple[int, int, int]]]]:
    """A PostgreSQL ledger with a small book, and its snapshot before any tampering."""
    build_book(pg_ledger)
    assert pg_ledger.verify().ok
    yield pg_ledger, snapshot(pg_ledger)


@pytest.fixture
def any_book(ledger: Ledger) -> Iterator[tuple[Ledger, dict[str, tuple[int, int, int]]]]:
    """The same book on every backend."""
    build_book(ledger)
    assert ledger.verify().ok
    yield ledger, snapshot(ledger)


# --------------------------------------------------------------------------- raw SQL
def sqlstate(exc: DBAPIError) -> str | None:
    return getattr(exc.orig, "sqlstate", None)


def account_id(conn: Connection, code: str) -> int:
    return int(
        conn.execute(text("SELECT id FROM accounts WHERE code = :c"), {"c": code}).scalar_one()
    )


def entry_id(conn: Connection, sequence: int) -> str:
    return str(
        conn.execute(
            text("SELECT id FROM journal_entries WHERE sequence = :s"), {"s": sequence}
        ).scalar_one()
    )


def insert_entry(conn: Connection, *, key: str | None = None, reverses: str | None = None) -> str:
    """Insert a journal entry row by hand, at the next free sequence number."""
    new_id = str(uuid.uuid4())
    sequence = conn.execute(
        text("SELECT coalesce(max(sequence), 0) + 1 FROM journal_entries")
    ).scalar_one()
    conn.execute(
        text(
            "INSERT INTO journal_entries (id, sequence, idempotency_key, request_hash, kind, "
            "effective_on, recorded_at, actor, narration, metadata_json, reverses_entry_id, "
            "hold_id, hash) VALUES (:id, :seq, :key, :rh, 'manual', :eff, :rec, 'psql', "
            "'typed by hand', '{}', :rev, NULL, :hash)"
        ),
        {
            "id": new_id,
            "seq": sequence,
            "key": key or f"raw-{new_id}",
            "rh": "0" * 64,
            "eff": date(2026, 6, 15),
            "rec": datetime(2026, 6, 15, 12, 30, tzinfo=UTC),
            "rev": reverses,
            "hash": "f" * 64,
        },
    )
    return new_id


def insert_postings(conn: Connection, entry: str, legs: Sequence[tuple[str, str, int]]) -> None:
    """Insert postings (account code, currency, signed minor units) for `entry`."""
    for leg, (code, currency, amount) in enumerate(legs):
        conn.execute(
            text(
                "INSERT INTO postings (entry_id, leg, account_id, currency, amount_minor) "
                "VALUES (:e, :leg, :a, :c, :m)"
            ),
            {"e": entry, "leg": leg, "a": account_id(conn, code), "c": currency, "m": amount},
        )


def refused_now(ledger: Ledger, sql: str, params: dict[str, Any] | None = None) -> DBAPIError:
    """Run one statement in its own transaction; return the error it must raise."""
    with pytest.raises(DBAPIError) as caught, ledger.engine.begin() as conn:
        conn.execute(text(sql), params or {})
    return caught.value


# --------------------------------------------------------------------------- I1 at COMMIT
UNBALANCED = {
    "eur_off_by_one_cent": [("assets:bank:intesa", "EUR", 1000), ("income:donations", "EUR", -999)],
    "usd_off_by_a_dollar": [("assets:bank:usd", "USD", 500), ("income:donations:usd", "USD", -400)],
    "eur_balanced_usd_not": [
        ("assets:bank:intesa", "EUR", 700),
        ("income:donations", "EUR", -700),
        ("assets:bank:usd", "USD", 300),
        ("income:donations:usd", "USD", -200),
    ],
    "zero_in_total_but_not_per_currency": [
        ("assets:bank:intesa", "EUR", 2500),
        ("income:donations:usd", "USD", -2500),
    ],
    "three_legs_off_in_eur": [
        ("assets:bank:intesa", "EUR", 300),
        ("expenses:grants", "EUR", 200),
        ("income:donations", "EUR", -400),
    ],
}


@pytest.mark.postgres_only
@pytest.mark.parametrize("case", sorted(UNBALANCED))
def test_an_unbalanced_entry_inserted_by_raw_sql_is_refused_at_commit(book, case):
    ledger, before = book
    with ledger.engine.connect() as conn:
        trans = conn.begin()
        new = insert_entry(conn)
        # The statements themselves succeed: the check is deferred to COMMIT,
        # so an entry may be written leg by leg inside its transaction.
        insert_postings(conn, new, UNBALANCED[case])
        with pytest.raises(IntegrityError) as caught:
            trans.commit()
    assert sqlstate(caught.value) == CHECK_VIOLATION
    assert "does not balance" in str(caught.value.orig)
    assert_books_intact(ledger, before)


@pytest.mark.postgres_only
def test_the_same_entry_balanced_per_currency_commits_so_the_refusal_is_about_balance(book):
    ledger, _before = book
    with ledger.engine.begin() as conn:
        new = insert_entry(conn)
        insert_postings(
            conn,
            new,
            [
                ("assets:bank:intesa", "EUR", 700),
                ("income:donations", "EUR", -700),
                ("assets:bank:usd", "USD", 300),
                ("income:donations:usd", "USD", -300),
            ],
        )
    with ledger.engine.connect() as conn:
        legs = conn.execute(
            text("SELECT count(*) FROM postings WHERE entry_id = :e"), {"e": new}
        ).scalar_one()
    assert legs == 4
    # The database accepts a balanced entry; the engine's verify still sees it
    # was written behind its back: sequence 6 has no idempotency record (I4),
    # no chain link (I9), and the maintained balances never saw it (I7).
    report = ledger.verify()
    assert report.first is not None
    assert (report.first.invariant, report.first.sequence) == ("I4", 6)
    found = {(v.invariant, v.sequence) for v in report.violations}
    assert ("I9", 6) in found
    assert any(v.invariant == "I7" for v in report.violations)


@pytest.mark.postgres_only
def test_an_entry_with_a_single_posting_is_refused_at_commit(book):
    ledger, before = book
    with ledger.engine.connect() as conn:
        trans = conn.begin()
        new = insert_entry(conn)
        insert_postings(conn, new, [("assets:bank:intesa", "EUR", 1000)])
        with pytest.raises(IntegrityError) as caught:
            trans.commit()
    assert sqlstate(caught.value) == CHECK_VIOLATION
    assert "two or more" in str(caught.value.orig)
    assert_books_intact(ledger, before)


@pytest.mark.postgres_only
def test_an_entry_with_no_postings_is_refused_at_commit(book):
    ledger, before = book
    with ledger.engine.connect() as conn:
        trans = conn.begin()
        insert_entry(conn)
        with pytest.raises(IntegrityError) as caught:
            trans.commit()
    assert sqlstate(caught.value) == CHECK_VIOLATION
    assert "0 postings" in str(caught.value.orig)
    assert_books_intact(ledger, before)


@pytest.mark.postgres_only
def test_a_posting_added_by_raw_sql_to_a_posted_entry_is_refused_at_once(book):
    # Since 0019 a posting joins only an entry written by its own transaction; one
    # added to a committed entry is refused by the INSERT itself, before COMMIT.
    ledger, before = book
    with ledger.engine.connect() as conn:
        trans = conn.begin()
        first = entry_id(conn, 1)
        with pytest.raises(IntegrityError) as caught:
            conn.execute(
                text(
                    "INSERT INTO postings (entry_id, leg, account_id, currency, amount_minor) "
                    "VALUES (:e, 7, :a, 'EUR', 100), (:e, 8, :b, 'EUR', -100)"
                ),
                {
                    "e": first,
                    "a": account_id(conn, "assets:bank:intesa"),
                    "b": account_id(conn, "income:donations"),
                },
            )
        trans.rollback()
    assert sqlstate(caught.value) == CHECK_VIOLATION
    assert "written in the same transaction" in str(caught.value.orig)
    assert_books_intact(ledger, before)


@pytest.mark.postgres_only
def test_postings_updated_out_of_balance_behind_a_dropped_append_only_trigger_are_refused(book):
    ledger, before = book
    with ledger.engine.begin() as conn:
        conn.execute(text("DROP TRIGGER postings_append_only ON postings"))
    exc = refused_now(
        ledger,
        "UPDATE postings SET amount_minor = amount_minor + 1 "
        "WHERE entry_id = (SELECT id FROM journal_entries WHERE sequence = 1) AND leg = 0",
    )
    assert sqlstate(exc) == CHECK_VIOLATION
    assert "does not balance" in str(exc.orig)
    assert snapshot(ledger) == before


# --------------------------------------------------------------------------- I2
@pytest.mark.postgres_only
def test_updating_a_posting_amount_is_refused(book):
    ledger, before = book
    exc = refused_now(
        ledger,
        "UPDATE postings SET amount_minor = amount_minor * 2 "
        "WHERE entry_id = (SELECT id FROM journal_entries "
        "WHERE sequence = 1)",
    )
    assert sqlstate(exc) == RESTRICT_VIOLATION
    assert "append-only" in str(exc.orig)
    assert_books_intact(ledger, before)


@pytest.mark.postgres_only
def test_moving_a_posting_to_another_account_is_refused(book):
    ledger, before = book
    exc = refused_now(
        ledger,
        "UPDATE postings SET account_id = (SELECT id FROM accounts "
        "WHERE code = 'expenses:grants') WHERE leg = 0 AND entry_id = "
        "(SELECT id FROM journal_entries WHERE sequence = 1)",
    )
    assert sqlstate(exc) == RESTRICT_VIOLATION
    assert_books_intact(ledger, before)


@pytest.mark.postgres_only
def test_deleting_a_posting_is_refused(book):
    ledger, before = book
    exc = refused_now(
        ledger,
        "DELETE FROM postings WHERE leg = 1 AND entry_id = "
        "(SELECT id FROM journal_entries WHERE sequence = 1)",
    )
    assert sqlstate(exc) == RESTRICT_VIOLATION
    assert_books_intact(ledger, before)


@pytest.mark.postgres_only
@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE journal_entries SET narration = 'rewritten' WHERE sequence = 2",
        "UPDATE journal_entries SET effective_on = DATE '2026-01-01' WHERE sequence = 2",
        "UPDATE journal_entries SET sequence = 99 WHERE sequence = 2",
    ],
    ids=["narration", "effective_on", "sequence"],
)
def test_updating_a_journal_entry_is_refused(book, sql):
    ledger, before = book
    exc = refused_now(ledger, sql)
    assert sqlstate(exc) == RESTRICT_VIOLATION
    assert_books_intact(ledger, before)


@pytest.mark.postgres_only
def test_deleting_a_journal_entry_with_its_postings_is_refused(book):
    ledger, before = book
    with pytest.raises(DBAPIError) as caught, ledger.engine.begin() as conn:
        target = entry_id(conn, 2)
        conn.execute(text("DELETE FROM idempotency_keys WHERE entry_id = :e"), {"e": target})
        conn.execute(text("DELETE FROM postings WHERE entry_id = :e"), {"e": target})
        conn.execute(text("DELETE FROM journal_entries WHERE id = :e"), {"e": target})
    assert sqlstate(caught.value) == RESTRICT_VIOLATION
    assert_books_intact(ledger, before)


@pytest.mark.postgres_only
@pytest.mark.parametrize(
    "sql",
    [
        "TRUNCATE postings",
        "TRUNCATE journal_entries CASCADE",
        "TRUNCATE idempotency_keys",
        "TRUNCATE hold_resolutions",
    ],
    ids=["postings", "entries_cascade", "idempotency_keys", "hold_resolutions"],
)
def test_truncating_posted_records_is_refused(book, sql):
    ledger, before = book
    exc = refused_now(ledger, sql)
    assert sqlstate(exc) == RESTRICT_VIOLATION
    assert "TRUNCATE" in str(exc.orig)
    assert_books_intact(ledger, before)


# --------------------------------------------------------------------------- I3, I4
@pytest.mark.postgres_only
def test_a_second_reversal_of_one_entry_is_refused_by_the_unique_index(book):
    ledger, before = book
    with pytest.raises(IntegrityError) as caught, ledger.engine.begin() as conn:
        reversed_once = entry_id(conn, 3)
        new = insert_entry(conn, reverses=reversed_once)
        insert_postings(
            conn, new, [("expenses:grants", "EUR", -3000), ("assets:bank:intesa", "EUR", 3000)]
        )
    assert sqlstate(caught.value) == UNIQUE_VIOLATION
    assert "reverses_entry_id" in str(caught.value.orig)
    assert_books_intact(ledger, before)


@pytest.mark.postgres_only
def test_a_duplicate_idempotency_key_on_an_entry_is_refused(book):
    ledger, before = book
    with pytest.raises(IntegrityError) as caught, ledger.engine.begin() as conn:
        new = insert_entry(conn, key="don-1")
        insert_postings(
            conn, new, [("assets:bank:intesa", "EUR", 10000), ("income:donations", "EUR", -10000)]
        )
    assert sqlstate(caught.value) == UNIQUE_VIOLATION
    assert "idempotency_key" in str(caught.value.orig)
    assert_books_intact(ledger, before)


@pytest.mark.postgres_only
def test_a_duplicate_idempotency_record_is_refused(book):
    ledger, before = book
    exc = refused_now(
        ledger,
        (
            "INSERT INTO idempotency_keys (key, operation, request_hash, entry_id, hold_id, "
            "created_at) VALUES ('don-1', 'entry', :h, NULL, NULL, now())"
        ),
        {"h": "1" * 64},
    )
    assert isinstance(exc, IntegrityError)
    assert sqlstate(exc) == UNIQUE_VIOLATION
    assert_books_intact(ledger, before)


@pytest.mark.postgres_only
def test_a_second_resolution_of_one_hold_is_refused(book):
    ledger, before = book
    exc = refused_now(
        ledger,
        (
            "INSERT INTO hold_resolutions (hold_id, outcome, amount_minor, entry_id, resolved_at) "
            "SELECT hold_id, 'voided', 0, NULL, now() FROM hold_resolutions LIMIT 1"
        ),
    )
    assert sqlstate(exc) == UNIQUE_VIOLATION
    assert_books_intact(ledger, before)


# --------------------------------------------------------------------------- currencies
@pytest.mark.postgres_only
def test_a_posting_in_a_currency_that_is_not_the_accounts_is_refused(book):
    ledger, before = book
    with pytest.raises(IntegrityError) as caught, ledger.engine.begin() as conn:
        new = insert_entry(conn)
        # Balanced in USD, so only the account/currency pairing is wrong.
        insert_postings(
            conn, new, [("assets:bank:intesa", "USD", 1000), ("income:donations", "USD", -1000)]
        )
    assert sqlstate(caught.value) == FOREIGN_KEY_VIOLATION
    assert "fk_postings_account_currency" in str(caught.value.orig)
    assert_books_intact(ledger, before)


@pytest.mark.postgres_only
def test_a_hold_in_a_currency_that_is_not_the_accounts_is_refused(book):
    ledger, before = book
    with pytest.raises(IntegrityError) as caught, ledger.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO holds (id, idempotency_key, request_hash, kind, debit_account_id, "
                "credit_account_id, currency, amount_minor, narration, metadata_json, created_at) "
                "VALUES (:id, 'raw-hold', :h, 'manual', :d, :c, 'USD', 100, '', '{}', now())"
            ),
            {
                "id": str(uuid.uuid4()),
                "h": "0" * 64,
                "d": account_id(conn, "assets:bank:intesa"),
                "c": account_id(conn, "expenses:grants"),
            },
        )
    assert sqlstate(caught.value) == FOREIGN_KEY_VIOLATION
    assert_books_intact(ledger, before)


# --------------------------------------------------------------------------- both backends
APPEND_ONLY_ROWS = {
    "journal_entries": "sequence = 1",
    "postings": "entry_id = (SELECT id FROM journal_entries WHERE sequence = 1)",
    "holds": "idempotency_key = 'hold-1'",
    "hold_resolutions": "outcome = 'posted'",
    "idempotency_keys": "key = 'don-1'",
    "periods": "period = '2026-05'",
    "period_totals": "period = '2026-05'",
}
UPDATES = {
    "journal_entries": "narration = 'rewritten'",
    "postings": "amount_minor = amount_minor + 1",
    "holds": "amount_minor = amount_minor + 1",
    "hold_resolutions": "outcome = 'voided'",
    "idempotency_keys": "request_hash = 'x'",
    "periods": "closed_by = 'someone else'",
    "period_totals": "debits = debits + 1",
}


@pytest.mark.parametrize("table", sorted(APPEND_ONLY_ROWS))
def test_updating_an_append_only_row_is_refused_by_a_trigger_on_every_backend(any_book, table):
    ledger, before = any_book
    where = APPEND_ONLY_ROWS[table]
    with ledger.engine.connect() as conn:
        # The row exists, so a refusal cannot be an empty UPDATE mistaken for one.
        assert conn.execute(text(f"SELECT count(*) FROM {table} WHERE {where}")).scalar_one()
    exc = refused_now(ledger, f"UPDATE {table} SET {UPDATES[table]} WHERE {where}")
    assert "append-only" in str(exc.orig)
    assert_books_intact(ledger, before)


@pytest.mark.parametrize("table", sorted(APPEND_ONLY_ROWS))
def test_deleting_an_append_only_row_is_refused_by_a_trigger_on_every_backend(any_book, table):
    ledger, before = any_book
    where = APPEND_ONLY_ROWS[table]
    with ledger.engine.connect() as conn:
        assert conn.execute(text(f"SELECT count(*) FROM {table} WHERE {where}")).scalar_one()
    exc = refused_now(ledger, f"DELETE FROM {table} WHERE {where}")
    assert "append-only" in str(exc.orig)
    assert_books_intact(ledger, before)


def test_deleting_every_posting_of_the_book_is_refused_on_every_backend(any_book):
    ledger, before = any_book
    exc = refused_now(ledger, "DELETE FROM postings")
    assert "append-only" in str(exc.orig)
    assert_books_intact(ledger, before)


# --------------------------------------------------------------------------- accounts
@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE accounts SET code = 'expenses:bank' WHERE code = 'assets:bank:intesa'",
        "UPDATE accounts SET type = 'expense' WHERE code = 'assets:bank:intesa'",
        "UPDATE accounts SET currency = 'USD' WHERE code = 'income:donations'",
        "UPDATE accounts SET no_overdraft = NOT no_overdraft WHERE code = 'assets:bank:intesa'",
        "DELETE FROM accounts WHERE code = 'income:donations'",
        "DELETE FROM balances",
    ],
)
def test_what_an_account_is_cannot_be_rewritten_behind_the_engine(ledger, statement):
    ledger.create_account("assets:bank:intesa", "asset", no_overdraft=True)
    ledger.create_account("income:donations", "income")
    before = [(a.code, a.type, a.currency, a.no_overdraft) for a in ledger.accounts()]
    with pytest.raises(DBAPIError), ledger.engine.begin() as conn:
        conn.execute(text(statement))
    assert [(a.code, a.type, a.currency, a.no_overdraft) for a in ledger.accounts()] == before
    assert ledger.verify().ok


def test_an_account_name_may_still_be_corrected(ledger):
    ledger.create_account("assets:bank:intesa", "asset", name="Banca")
    with ledger.engine.begin() as conn:
        conn.execute(text("UPDATE accounts SET name = 'Intesa Sanpaolo'"))
    assert [a.name for a in ledger.accounts()] == ["Intesa Sanpaolo"]
    assert ledger.verify().ok
