"""The engine end to end on a real migrated database, once per backend.

Every refusal is checked for its error and for leaving no trace (I10): the
journal, the balances, the idempotency keys, the holds and the head are read
back from the database before and after.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from ledger.core.errors import (
    AccountExistsError,
    AccountNotFoundError,
    AlreadyReversedError,
    BalanceOutOfRangeError,
    ClosedPeriodError,
    CurrencyMismatchError,
    EntryNotFoundError,
    HoldAmountError,
    HoldExpiredError,
    HoldResolvedError,
    IdempotencyConflictError,
    InsufficientFundsError,
    InvalidAccountError,
    InvalidEntryError,
    InvalidPeriodError,
    UnknownCurrencyError,
)
from ledger.core.holds import HoldSpec
from ledger.core.journal import EntrySpec, PostingSpec
from ledger.core.models import (
    Balance,
    Hold,
    HoldResolution,
    IdempotencyKey,
    JournalEntry,
    LedgerHead,
    Period,
    Posting,
)
from ledger.core.money import MAX_MINOR, Money
from ledger.core.service import Ledger

JUNE_1 = date(2026, 6, 1)
BANK = "assets:bank:intesa"
CASH = "assets:cash"
DONATIONS = "income:donations"
ESCROW = "liabilities:campaigns:42:escrow"
GRANTS = "expense:grants"
FEES = "expense:fees"


def eur(text: str) -> Money:
    return Money.parse(text, "EUR")


def entry(
    key: str,
    *legs: tuple[str, str],
    on: date | None = JUNE_1,
    kind: str = "donation",
    narration: str = "",
) -> EntrySpec:
    """An EUR entry from (account, decimal string) legs."""
    return EntrySpec(
        key, kind, [PostingSpec(a, eur(x)) for a, x in legs], effective_on=on, narration=narration
    )


def donation(key: str, amount: str, *, into: str = BANK, on: date | None = JUNE_1) -> EntrySpec:
    return entry(key, (into, amount), (DONATIONS, f"-{amount}"), on=on)


def snapshot(ledger: Ledger) -> dict[str, Any]:
    """Everything a request could write, read back from the database."""

    def read(s):  # type: ignore[no-untyped-def]
        return {
            "entries": [
                tuple(r)
                for r in s.execute(
                    select(JournalEntry.sequence, JournalEntry.id, JournalEntry.hash).order_by(
                        JournalEntry.sequence
                    )
                )
            ],
            "postings": s.scalar(select(func.count()).select_from(Posting)),
            "keys": sorted(s.scalars(select(IdempotencyKey.key))),
            "holds": sorted(s.scalars(select(Hold.id))),
            "resolutions": sorted(
                tuple(r) for r in s.execute(select(HoldResolution.hold_id, HoldResolution.outcome))
            ),
            "periods": sorted(s.scalars(select(Period.period))),
            "balances": sorted(
                tuple(r)
                for r in s.execute(
                    select(
                        Balance.account_id,
                        Balance.posted_debits,
                        Balance.posted_credits,
                        Balance.pending_debits,
                        Balance.pending_credits,
                        Balance.version,
                    )
                )
            ),
            "head": tuple(s.execute(select(LedgerHead.last_sequence, LedgerHead.last_hash)).one()),
        }

    return ledger.run(read)


def sequences(ledger: Ledger) -> list[int]:
    return ledger.run(
        lambda s: list(s.scalars(select(JournalEntry.sequence).order_by(JournalEntry.sequence)))
    )


def assert_verified(ledger: Ledger) -> None:
    report = ledger.verify()
    assert report.ok, report.violations
    assert sequences(ledger) == list(range(1, report.last_sequence + 1))


def balances(ledger: Ledger, code: str) -> tuple[int, int, int]:
    view = ledger.balance(code)
    return view.posted, view.pending, view.available


@pytest.fixture
def book(ledger: Ledger) -> Ledger:
    """A small book: a no-overdraft bank, cash, an escrow liability, income and expenses."""
    ledger.create_account(BANK, "asset", no_overdraft=True)
    ledger.create_account(CASH, "asset")
    ledger.create_account(DONATIONS, "income")
    ledger.create_account(ESCROW, "liability", no_overdraft=True)
    ledger.create_account(GRANTS, "expense")
    ledger.create_account(FEES, "expense")
    return ledger


# =========================================================================== accounts


def test_a_new_account_has_a_zero_balance(ledger):
    view = ledger.create_account("assets:bank:bper", "asset", name="BPER conto")
    assert (view.code, view.type, view.currency, view.no_overdraft) == (
        "assets:bank:bper",
        "asset",
        "EUR",
        False,
    )
    assert balances(ledger, "assets:bank:bper") == (0, 0, 0)
    assert [a.code for a in ledger.accounts()] == ["assets:bank:bper"]


def test_a_duplicate_account_code_is_refused_and_the_original_is_kept(ledger):
    ledger.create_account(BANK, "asset", no_overdraft=True)
    before = snapshot(ledger)
    with pytest.raises(AccountExistsError):
        ledger.create_account(BANK, "liability", currency="USD")
    [account] = ledger.accounts()
    assert (account.type, account.currency, account.no_overdraft) == ("asset", "EUR", True)
    assert snapshot(ledger) == before


@pytest.mark.parametrize(
    "code",
    [
        "",
        "Assets:Bank",
        "assets::bank",
        ":assets",
        "assets:",
        "assets bank",
        "assets/bank",
        "_assets",
        "a" * 201,
    ],
)
def test_a_malformed_account_code_is_refused(ledger, code):
    with pytest.raises(InvalidAccountError):
        ledger.create_account(code, "asset")
    assert ledger.accounts() == []


@pytest.mark.parametrize("account_type", ["revenue", "Asset", "", "assets"])
def test_an_unknown_account_type_is_refused(ledger, account_type):
    with pytest.raises(InvalidAccountError):
        ledger.create_account("assets:bank", account_type)
    assert ledger.accounts() == []


def test_an_account_in_an_unknown_currency_is_refused(ledger):
    with pytest.raises(UnknownCurrencyError):
        ledger.create_account("assets:bank", "asset", currency="XXX")
    assert ledger.accounts() == []


# =========================================================================== posting


def test_a_donation_raises_an_asset_and_an_income_in_their_normal_orientation(book):
    result = book.post(donation("d1", "25.00"))
    assert result.created and result.entry.sequence == 1
    assert [(p.account, p.amount.minor) for p in result.entry.postings] == [
        (BANK, 2500),
        (DONATIONS, -2500),
    ]
    assert balances(book, BANK) == (2500, 0, 2500)
    assert balances(book, DONATIONS) == (2500, 0, 2500)
    assert_verified(book)


def test_a_liability_is_credit_normal_and_shrinks_when_debited(book):
    book.post(entry("in", (BANK, "100.00"), (ESCROW, "-100.00")))
    assert balances(book, ESCROW) == (10000, 0, 10000)
    book.post(entry("out", (ESCROW, "30.00"), (BANK, "-30.00"), kind="refund"))
    assert balances(book, ESCROW) == (7000, 0, 7000)
    assert balances(book, BANK) == (7000, 0, 7000)
    assert_verified(book)


def test_an_entry_keeps_its_fields_as_posted(book):
    spec = EntrySpec(
        "d1",
        "donation",
        [PostingSpec(BANK, eur("5.00")), PostingSpec(DONATIONS, eur("-5.00"))],
        effective_on=date(2026, 6, 3),
        narration="Donazione in contanti",
        metadata={"campaign": 42, "receipt": True},
        actor="treasurer:7",
    )
    posted = book.post(spec).entry
    read = book.entry(posted.sequence)
    assert read == posted
    assert (read.kind, read.effective_on, read.narration, read.metadata, read.actor) == (
        "donation",
        date(2026, 6, 3),
        "Donazione in contanti",
        {"campaign": 42, "receipt": True},
        "treasurer:7",
    )


def test_an_entry_without_a_date_is_dated_today_in_rome(book, clock):
    # 23:30 UTC on 30 June is already 1 July in Rome.
    clock.instant = datetime(2026, 6, 30, 23, 30, tzinfo=UTC)
    posted = book.post(donation("d1", "1.00", on=None)).entry
    assert posted.effective_on == date(2026, 7, 1)


def test_a_posting_in_another_currency_than_its_account_is_refused(book):
    book.post(donation("d0", "10.00"))
    before = snapshot(book)
    spec = EntrySpec(
        "usd",
        "donation",
        [PostingSpec(BANK, Money(500, "USD")), PostingSpec(DONATIONS, Money(-500, "USD"))],
        effective_on=JUNE_1,
    )
    with pytest.raises(CurrencyMismatchError):
        book.post(spec)
    assert snapshot(book) == before


def test_a_posting_to_an_unknown_account_is_refused_naming_it(book):
    before = snapshot(book)
    with pytest.raises(AccountNotFoundError) as refused:
        book.post(entry("x", (BANK, "1.00"), ("income:nowhere", "-1.00")))
    assert refused.value.details["code"] == "income:nowhere"
    assert snapshot(book) == before


# =========================================================================== idempotency


def test_the_same_key_and_request_returns_the_original_without_writing(book):
    first = book.post(donation("d1", "25.00"))
    before = snapshot(book)
    again = book.post(donation("d1", "25.00"))
    assert again.created is False
    assert (again.entry.id, again.entry.sequence, again.entry.hash) == (
        first.entry.id,
        first.entry.sequence,
        first.entry.hash,
    )
    assert snapshot(book) == before
    assert balances(book, BANK) == (2500, 0, 2500)


def test_the_same_key_with_a_different_request_is_a_conflict_that_writes_nothing(book):
    book.post(donation("d1", "25.00"))
    before = snapshot(book)
    with pytest.raises(IdempotencyConflictError) as refused:
        book.post(donation("d1", "26.00"))
    assert refused.value.code == "idempotency_conflict"
    with pytest.raises(IdempotencyConflictError):
        book.post(entry("d1", (BANK, "25.00"), (DONATIONS, "-25.00"), narration="changed"))
    assert snapshot(book) == before


def test_a_key_used_by_a_hold_cannot_name_an_entry(book):
    book.post(donation("d1", "50.00"))
    book.hold(HoldSpec("h1", "grant", GRANTS, BANK, eur("10.00")))
    before = snapshot(book)
    with pytest.raises(IdempotencyConflictError):
        book.post(donation("h1", "1.00"))
    with pytest.raises(IdempotencyConflictError):
        book.reverse(idempotency_key="h1", sequence=1)
    assert snapshot(book) == before


def test_a_refused_request_leaves_its_key_free(book):
    with pytest.raises(InsufficientFundsError):
        book.post(entry("k", (GRANTS, "5.00"), (BANK, "-5.00"), kind="grant"))
    book.post(donation("d1", "10.00"))
    # The key was not recorded, so the same key now names a request that succeeds.
    result = book.post(entry("k", (GRANTS, "5.00"), (BANK, "-5.00"), kind="grant"))
    assert result.created and result.entry.sequence == 2


# =========================================================================== no overdraft


def test_an_overdraft_is_refused_and_leaves_no_trace(book):
    book.post(donation("d1", "10.00"))
    before = snapshot(book)
    with pytest.raises(InsufficientFundsError) as refused:
        book.post(entry("g1", (GRANTS, "10.01"), (BANK, "-10.01"), kind="grant"))
    assert refused.value.details["account"] == BANK
    assert snapshot(book) == before
    assert balances(book, BANK) == (1000, 0, 1000)
    # The refused entry did not consume a sequence number.
    nxt = book.post(entry("g2", (GRANTS, "10.00"), (BANK, "-10.00"), kind="grant"))
    assert nxt.entry.sequence == 2
    assert balances(book, BANK) == (0, 0, 0)
    assert_verified(book)


def test_an_account_without_the_flag_may_go_negative(book):
    book.post(entry("c1", (GRANTS, "5.00"), (CASH, "-5.00"), kind="grant"))
    assert balances(book, CASH) == (-500, 0, -500)


def test_a_no_overdraft_liability_cannot_be_debited_below_zero(book):
    book.post(entry("in", (BANK, "5.00"), (ESCROW, "-5.00")))
    before = snapshot(book)
    with pytest.raises(InsufficientFundsError):
        book.post(entry("out", (ESCROW, "5.01"), (BANK, "-5.01"), kind="refund"))
    assert snapshot(book) == before


# =========================================================================== range


def test_no_entry_can_take_a_stored_balance_past_what_a_bigint_holds(book):
    """A balance's totals are BIGINTs that only grow: the leg that would take one past
    MAX_MINOR is refused (422) before anything is written, on every backend, for a
    single entry, a batch and an account whose balance is back to zero."""
    most = Money(MAX_MINOR, "EUR")
    book.post(
        EntrySpec("max", "donation", [PostingSpec(CASH, most), PostingSpec(DONATIONS, -most)])
    )
    before = snapshot(book)

    with pytest.raises(BalanceOutOfRangeError) as refused:
        book.post(donation("one-more-cent", "0.01", into=CASH))
    assert (refused.value.code, refused.value.http_status) == ("balance_out_of_range", 422)
    assert refused.value.details["account"] == CASH
    assert isinstance(refused.value, InvalidEntryError)
    with pytest.raises(BalanceOutOfRangeError):
        book.post_batch([donation("a", "0.01", into=BANK), donation("b", "0.01", into=CASH)])
    assert snapshot(book) == before

    # Spent back to zero, the account's debits still total MAX_MINOR: still refused.
    book.post(EntrySpec("out", "grant", [PostingSpec(GRANTS, most), PostingSpec(CASH, -most)]))
    assert balances(book, CASH) == (0, 0, 0)
    with pytest.raises(BalanceOutOfRangeError):
        book.post(donation("again", "0.01", into=CASH))
    book.post(entry("elsewhere", (BANK, "0.01"), (ESCROW, "-0.01")))
    assert_verified(book)


def test_holds_cannot_take_a_pending_total_past_what_a_bigint_holds(book):
    most = Money(MAX_MINOR, "EUR")
    book.hold(HoldSpec("h-max", "grant", GRANTS, CASH, most))
    before = snapshot(book)
    with pytest.raises(BalanceOutOfRangeError):
        book.hold(HoldSpec("h-cent", "grant", GRANTS, CASH, eur("0.01")))
    assert snapshot(book) == before
    assert_verified(book)


# =========================================================================== batches


def test_a_batch_posts_all_entries_with_consecutive_sequences(book):
    results = book.post_batch(
        [
            donation("b1", "10.00"),
            entry("b2", (GRANTS, "4.00"), (BANK, "-4.00"), kind="grant"),
            entry("b3", (GRANTS, "6.00"), (BANK, "-6.00"), kind="grant"),
        ]
    )
    assert [r.entry.sequence for r in results] == [1, 2, 3]
    assert all(r.created for r in results)
    assert balances(book, BANK) == (0, 0, 0)
    assert_verified(book)


def test_a_batch_with_one_refused_entry_writes_nothing(book):
    book.post(donation("d0", "5.00"))
    before = snapshot(book)
    with pytest.raises(InsufficientFundsError):
        book.post_batch(
            [
                donation("b1", "10.00"),
                entry("b2", (GRANTS, "4.00"), (BANK, "-4.00"), kind="grant"),
                entry("b3", (GRANTS, "20.00"), (BANK, "-20.00"), kind="grant"),
            ]
        )
    assert snapshot(book) == before
    with pytest.raises(AccountNotFoundError):
        book.post_batch([donation("b1", "10.00"), donation("b4", "1.00", into="assets:nope")])
    assert snapshot(book) == before
    assert book.post(donation("b1", "10.00")).entry.sequence == 2


def test_a_key_repeated_inside_a_batch_is_answered_once(book):
    first, second = book.post_batch([donation("b1", "10.00"), donation("b1", "10.00")])
    assert (first.created, second.created) == (True, False)
    assert first.entry.id == second.entry.id
    assert balances(book, BANK) == (1000, 0, 1000)
    before = snapshot(book)
    with pytest.raises(IdempotencyConflictError):
        book.post_batch([donation("b2", "1.00"), donation("b2", "2.00")])
    assert snapshot(book) == before


# =========================================================================== holds


@pytest.fixture
def funded(book: Ledger) -> Ledger:
    """The book with 100.00 in the bank and 100.00 owed in escrow."""
    book.post(donation("fund", "100.00"))
    book.post(entry("escrow", (CASH, "100.00"), (ESCROW, "-100.00")))
    return book


def test_a_hold_reserves_without_posting(funded):
    before = sequences(funded)
    result = funded.hold(HoldSpec("h1", "grant", GRANTS, BANK, eur("30.00")))
    assert result.created and result.hold.status == "open"
    assert balances(funded, BANK) == (10000, 3000, 7000)
    # The receiving side's own reserved-out total does not change.
    assert balances(funded, GRANTS) == (0, 0, 0)
    assert sequences(funded) == before
    assert_verified(funded)


def test_a_hold_on_a_liability_reserves_its_debits(funded):
    funded.hold(HoldSpec("h1", "refund", ESCROW, CASH, eur("40.00")))
    assert balances(funded, ESCROW) == (10000, 4000, 6000)
    assert_verified(funded)


def test_a_hold_posted_in_full_moves_the_whole_amount(funded):
    hold = funded.hold(HoldSpec("h1", "grant", GRANTS, BANK, eur("30.00"))).hold
    result = funded.post_hold(hold.id, idempotency_key="p1")
    assert result.created and result.hold.status == "posted"
    assert result.hold.posted_amount == eur("30.00")
    assert balances(funded, BANK) == (7000, 0, 7000)
    assert balances(funded, GRANTS) == (3000, 0, 3000)
    posted = funded.entry(3)
    assert posted.hold_id == hold.id and posted.kind == "grant"
    assert [(p.account, p.amount.minor) for p in posted.postings] == [(GRANTS, 3000), (BANK, -3000)]
    assert_verified(funded)


def test_a_hold_posted_in_part_releases_the_rest(funded):
    hold = funded.hold(HoldSpec("h1", "grant", GRANTS, BANK, eur("30.00"))).hold
    result = funded.post_hold(hold.id, idempotency_key="p1", amount=eur("12.34"))
    assert result.hold.status == "posted" and result.hold.posted_amount == eur("12.34")
    assert balances(funded, BANK) == (10000 - 1234, 0, 10000 - 1234)
    assert balances(funded, GRANTS) == (1234, 0, 1234)
    assert_verified(funded)


def test_posting_more_than_the_hold_is_refused(funded):
    hold = funded.hold(HoldSpec("h1", "grant", GRANTS, BANK, eur("30.00"))).hold
    before = snapshot(funded)
    with pytest.raises(HoldAmountError):
        funded.post_hold(hold.id, idempotency_key="p1", amount=eur("30.01"))
    with pytest.raises(CurrencyMismatchError):
        funded.post_hold(hold.id, idempotency_key="p1", amount=Money(100, "USD"))
    assert snapshot(funded) == before
    assert funded.get_hold(hold.id).status == "open"


def test_a_voided_hold_releases_everything_and_posts_nothing(funded):
    hold = funded.hold(HoldSpec("h1", "grant", GRANTS, BANK, eur("30.00"))).hold
    before = sequences(funded)
    result = funded.void_hold(hold.id, idempotency_key="v1")
    assert result.created and result.hold.status == "voided"
    assert result.hold.posted_amount is None
    assert balances(funded, BANK) == (10000, 0, 10000)
    assert sequences(funded) == before
    assert_verified(funded)


def test_a_hold_resolves_only_once(funded):
    posted = funded.hold(HoldSpec("h1", "grant", GRANTS, BANK, eur("10.00"))).hold
    voided = funded.hold(HoldSpec("h2", "grant", GRANTS, BANK, eur("10.00"))).hold
    funded.post_hold(posted.id, idempotency_key="p1", amount=eur("4.00"))
    funded.void_hold(voided.id, idempotency_key="v1")
    before = snapshot(funded)
    with pytest.raises(HoldResolvedError):
        funded.post_hold(posted.id, idempotency_key="p2", amount=eur("6.00"))
    with pytest.raises(HoldResolvedError):
        funded.void_hold(posted.id, idempotency_key="v2")
    with pytest.raises(HoldResolvedError):
        funded.post_hold(voided.id, idempotency_key="p3")
    with pytest.raises(HoldResolvedError):
        funded.void_hold(voided.id, idempotency_key="v3")
    assert snapshot(funded) == before
    assert balances(funded, BANK) == (9600, 0, 9600)
    assert_verified(funded)


def test_retrying_a_hold_resolution_with_its_key_returns_it_without_writing(funded):
    hold = funded.hold(HoldSpec("h1", "grant", GRANTS, BANK, eur("10.00"))).hold
    funded.post_hold(hold.id, idempotency_key="p1", amount=eur("4.00"))
    before = snapshot(funded)
    again = funded.post_hold(hold.id, idempotency_key="p1", amount=eur("4.00"))
    assert again.created is False and again.hold.posted_amount == eur("4.00")
    retry_create = funded.hold(HoldSpec("h1", "grant", GRANTS, BANK, eur("10.00")))
    assert retry_create.created is False and retry_create.hold.id == hold.id
    with pytest.raises(IdempotencyConflictError):
        funded.post_hold(hold.id, idempotency_key="p1", amount=eur("5.00"))
    with pytest.raises(IdempotencyConflictError):
        funded.hold(HoldSpec("h1", "grant", GRANTS, BANK, eur("11.00")))
    assert snapshot(funded) == before


def test_a_hold_cannot_over_reserve_a_no_overdraft_account(funded):
    funded.hold(HoldSpec("h1", "grant", GRANTS, BANK, eur("60.00")))
    before = snapshot(funded)
    with pytest.raises(InsufficientFundsError):
        funded.hold(HoldSpec("h2", "grant", GRANTS, BANK, eur("40.01")))
    # Money on hold is not available to a plain entry either.
    with pytest.raises(InsufficientFundsError):
        funded.post(entry("g1", (GRANTS, "40.01"), (BANK, "-40.01"), kind="grant"))
    assert snapshot(funded) == before
    funded.hold(HoldSpec("h3", "grant", GRANTS, BANK, eur("40.00")))
    assert balances(funded, BANK) == (10000, 10000, 0)
    assert_verified(funded)


def test_a_hold_in_another_currency_is_refused(funded):
    before = snapshot(funded)
    with pytest.raises(CurrencyMismatchError):
        funded.hold(HoldSpec("h1", "grant", GRANTS, BANK, Money(100, "USD")))
    assert snapshot(funded) == before


def test_a_hold_cannot_be_created_already_expired(funded, clock):
    with pytest.raises(InvalidEntryError):
        funded.hold(HoldSpec("h1", "grant", GRANTS, BANK, eur("1.00"), expires_at=clock.now()))


def test_a_hold_past_its_deadline_cannot_be_posted_even_before_the_sweep(funded, clock):
    deadline = clock.now() + timedelta(hours=1)
    hold = funded.hold(
        HoldSpec("h1", "grant", GRANTS, BANK, eur("30.00"), expires_at=deadline)
    ).hold
    clock.instant = deadline - timedelta(microseconds=1)
    early = funded.hold(
        HoldSpec("h2", "grant", GRANTS, BANK, eur("1.00"), expires_at=deadline)
    ).hold
    assert funded.post_hold(early.id, idempotency_key="p0").hold.status == "posted"
    clock.instant = deadline
    before = snapshot(funded)
    with pytest.raises(HoldExpiredError):
        funded.post_hold(hold.id, idempotency_key="p1")
    assert snapshot(funded) == before
    assert funded.get_hold(hold.id).status == "open"


def test_voiding_a_hold_past_its_deadline_records_its_expiry_before_the_sweep(funded, clock):
    deadline = clock.now() + timedelta(hours=1)
    hold = funded.hold(
        HoldSpec("h1", "grant", GRANTS, BANK, eur("30.00"), expires_at=deadline)
    ).hold
    clock.instant = deadline
    result = funded.void_hold(hold.id, idempotency_key="v1")
    assert result.created and result.hold.status == "expired"
    assert balances(funded, BANK) == (10000, 0, 10000)
    assert funded.expire_holds() == []
    assert funded.void_hold(hold.id, idempotency_key="v1").hold.status == "expired"
    assert_verified(funded)


def test_expiring_holds_twice_expires_each_once(funded, clock):
    start = clock.now()
    soon = funded.hold(
        HoldSpec("h1", "grant", GRANTS, BANK, eur("30.00"), expires_at=start + timedelta(hours=1))
    ).hold
    later = funded.hold(
        HoldSpec("h2", "grant", GRANTS, BANK, eur("20.00"), expires_at=start + timedelta(days=2))
    ).hold
    funded.hold(HoldSpec("h3", "grant", GRANTS, BANK, eur("10.00")))
    assert funded.expire_holds() == []
    clock.instant = start + timedelta(hours=1)
    before_entries = sequences(funded)
    assert funded.expire_holds() == [soon.id]
    assert funded.expire_holds() == []
    assert funded.get_hold(soon.id).status == "expired"
    assert funded.get_hold(later.id).status == "open"
    assert balances(funded, BANK) == (10000, 3000, 7000)
    with pytest.raises(HoldResolvedError):
        funded.void_hold(soon.id, idempotency_key="v1")
    clock.instant = start + timedelta(days=3)
    assert funded.expire_holds() == [later.id]
    assert balances(funded, BANK) == (10000, 1000, 9000)
    assert sequences(funded) == before_entries
    assert_verified(funded)


# =========================================================================== reversals


def test_a_reversal_posts_the_exact_opposite(funded):
    original = funded.post(
        entry("g1", (GRANTS, "30.00"), (FEES, "1.50"), (BANK, "-31.50"), kind="grant")
    ).entry
    result = funded.reverse(idempotency_key="r1", sequence=original.sequence)
    reversal = result.entry
    assert result.created and reversal.kind == "reversal"
    assert reversal.reverses_entry_id == original.id
    assert [(p.account, p.amount.minor) for p in reversal.postings] == [
        (GRANTS, -3000),
        (FEES, -150),
        (BANK, 3150),
    ]
    assert reversal.effective_on == date(2026, 6, 15)
    assert balances(funded, BANK) == (10000, 0, 10000)
    assert balances(funded, GRANTS) == (0, 0, 0)
    assert_verified(funded)


def test_a_second_reversal_of_an_entry_is_refused(funded):
    funded.reverse(idempotency_key="r1", sequence=1)
    before = snapshot(funded)
    with pytest.raises(AlreadyReversedError) as refused:
        funded.reverse(idempotency_key="r2", sequence=1)
    assert refused.value.details["reversed_by"] == 3
    assert snapshot(funded) == before


def test_reversing_a_reversal_is_refused(funded):
    reversal = funded.reverse(idempotency_key="r1", sequence=2).entry
    before = snapshot(funded)
    with pytest.raises(InvalidEntryError):
        funded.reverse(idempotency_key="r2", sequence=reversal.sequence)
    assert snapshot(funded) == before


def test_retrying_a_reversal_with_its_key_returns_the_same_entry(funded):
    first = funded.reverse(idempotency_key="r1", sequence=2).entry
    before = snapshot(funded)
    again = funded.reverse(idempotency_key="r1", sequence=2)
    assert again.created is False and again.entry.id == first.id
    assert snapshot(funded) == before
    with pytest.raises(IdempotencyConflictError):
        funded.reverse(idempotency_key="r1", sequence=1)
    assert snapshot(funded) == before


def test_a_reversal_that_would_overdraw_is_refused(funded):
    funded.post(entry("g1", (GRANTS, "90.00"), (BANK, "-90.00"), kind="grant"))
    before = snapshot(funded)
    with pytest.raises(InsufficientFundsError):
        funded.reverse(idempotency_key="r1", sequence=1)
    assert snapshot(funded) == before


def test_reversing_an_unknown_entry_is_refused(funded):
    with pytest.raises(EntryNotFoundError):
        funded.reverse(idempotency_key="r1", sequence=99)


# =========================================================================== periods


def test_a_month_that_has_not_ended_cannot_be_closed(book, clock):
    with pytest.raises(InvalidPeriodError):
        book.close_period("2026-06")
    with pytest.raises(InvalidPeriodError):
        book.close_period("2026-07")
    for malformed in ("2026-13", "2026-6", "june", ""):
        with pytest.raises(InvalidPeriodError):
            book.close_period(malformed)
    assert snapshot(book)["periods"] == []


def test_a_month_can_be_closed_from_the_first_day_after_it_in_rome(book, clock):
    # 21:30 UTC on 31 May is 23:30 in Rome: May has not ended yet.
    clock.instant = datetime(2026, 5, 31, 21, 30, tzinfo=UTC)
    with pytest.raises(InvalidPeriodError):
        book.close_period("2026-05")
    # 22:30 UTC is 00:30 on 1 June in Rome.
    clock.instant = datetime(2026, 5, 31, 22, 30, tzinfo=UTC)
    assert book.close_period("2026-05").created


def test_nothing_can_be_dated_into_a_closed_month(book):
    book.post(donation("d1", "10.00", on=date(2026, 5, 10)))
    closed = book.close_period("2026-05")
    assert closed.created and closed.ends_on == date(2026, 5, 31)
    before = snapshot(book)
    with pytest.raises(ClosedPeriodError):
        book.post(donation("d2", "1.00", on=date(2026, 5, 31)))
    assert snapshot(book) == before
    assert book.post(donation("d3", "1.00", on=date(2026, 6, 1))).entry.sequence == 2
    assert_verified(book)


def test_a_reversal_dated_into_a_closed_month_is_refused_but_today_is_fine(book):
    book.post(donation("d1", "10.00", on=date(2026, 5, 10)))
    book.close_period("2026-05")
    before = snapshot(book)
    with pytest.raises(ClosedPeriodError):
        book.reverse(idempotency_key="r1", sequence=1, effective_on=date(2026, 5, 10))
    assert snapshot(book) == before
    reversal = book.reverse(idempotency_key="r2", sequence=1).entry
    assert reversal.effective_on == date(2026, 6, 15)
    assert_verified(book)


def test_a_hold_posted_into_a_closed_month_is_refused(book):
    book.post(donation("d1", "10.00"))
    book.close_period("2026-05")
    hold = book.hold(HoldSpec("h1", "grant", GRANTS, BANK, eur("5.00"))).hold
    before = snapshot(book)
    with pytest.raises(ClosedPeriodError):
        book.post_hold(hold.id, idempotency_key="p1", effective_on=date(2026, 5, 31))
    assert snapshot(book) == before
    assert book.get_hold(hold.id).status == "open"


def test_closing_a_month_twice_changes_nothing(book):
    assert book.close_period("2026-05").created is True
    before = snapshot(book)
    again = book.close_period("2026-05")
    assert again.created is False and again.ends_on == date(2026, 5, 31)
    assert snapshot(book) == before


def test_closing_a_later_month_locks_the_earlier_ones(book):
    book.close_period("2026-05")
    with pytest.raises(ClosedPeriodError):
        book.post(donation("d1", "1.00", on=date(2026, 3, 10)))
    assert book.close_period("2026-03").created is False
    assert snapshot(book)["periods"] == ["2026-05"]


def test_an_entry_posted_at_the_instant_its_month_is_closed_still_verifies(book):
    # The fixed clock gives the entry and the close the same timestamp; the entry
    # was accepted before the close, so it is not dated into a closed period.
    book.post(donation("d1", "10.00", on=date(2026, 5, 20)))
    book.close_period("2026-05")
    assert_verified(book)


def test_an_identical_retry_after_the_close_still_returns_the_original(book):
    first = book.post(donation("d1", "10.00", on=date(2026, 5, 20))).entry
    book.close_period("2026-05")
    again = book.post(donation("d1", "10.00", on=date(2026, 5, 20)))
    assert again.created is False and again.entry.id == first.id


# =========================================================================== reads


def test_a_balance_as_of_a_date_replays_only_entries_up_to_that_day(book):
    book.post(donation("d1", "100.00", on=date(2026, 5, 10)))
    book.post(donation("d2", "50.00", on=date(2026, 6, 10)))
    book.post(entry("e1", (BANK, "7.00"), (ESCROW, "-7.00"), on=date(2026, 6, 11)))
    book.hold(HoldSpec("h1", "grant", GRANTS, BANK, eur("20.00")))
    assert book.balance(BANK, as_of=date(2026, 5, 9)).posted == 0
    assert book.balance(BANK, as_of=date(2026, 5, 10)).posted == 10000
    assert book.balance(BANK, as_of=date(2026, 6, 9)).posted == 10000
    assert book.balance(BANK, as_of=date(2026, 6, 10)).posted == 15000
    assert book.balance(DONATIONS, as_of=date(2026, 6, 10)).posted == 15000
    assert book.balance(ESCROW, as_of=date(2026, 6, 10)).posted == 0
    assert book.balance(ESCROW, as_of=date(2026, 6, 11)).posted == 700
    assert book.balance(BANK, as_of=date(2026, 6, 30)).posted == balances(book, BANK)[0]


def test_the_trial_balance_debits_equal_its_credits(book):
    book.post(donation("d1", "100.00", on=date(2026, 5, 10)))
    book.post(entry("g1", (GRANTS, "30.00"), (FEES, "0.50"), (BANK, "-30.50"), kind="grant"))
    book.post(entry("e1", (CASH, "12.00"), (ESCROW, "-12.00")))
    lines = {line.account.code: (line.debit, line.credit) for line in book.trial_balance()}
    assert lines == {
        BANK: (6950, 0),
        CASH: (1200, 0),
        DONATIONS: (0, 10000),
        ESCROW: (0, 1200),
        GRANTS: (3000, 0),
        FEES: (50, 0),
    }
    assert sum(d for d, _ in lines.values()) == sum(c for _, c in lines.values()) == 11200
    may = book.trial_balance(as_of=date(2026, 5, 31))
    assert sum(line.debit for line in may) == sum(line.credit for line in may) == 10000


def test_the_trial_balance_balances_per_currency(book):
    book.create_account("assets:bank:jpy", "asset", currency="JPY")
    book.create_account("income:donations:jpy", "income", currency="JPY")
    book.post(donation("d1", "100.00"))
    book.post(
        EntrySpec(
            "j1",
            "donation",
            [
                PostingSpec("assets:bank:jpy", Money(5000, "JPY")),
                PostingSpec("income:donations:jpy", Money(-5000, "JPY")),
            ],
            effective_on=JUNE_1,
        )
    )
    totals: dict[str, list[int]] = {}
    for line in book.trial_balance():
        column = totals.setdefault(line.account.currency, [0, 0])
        column[0] += line.debit
        column[1] += line.credit
    assert totals == {"EUR": [10000, 10000], "JPY": [5000, 5000]}


# =========================================================================== the whole story


def test_after_a_busy_day_the_book_verifies_and_its_sequences_have_no_gaps(book, clock):
    refusals = 0

    def refused(call, error):  # type: ignore[no-untyped-def]
        nonlocal refusals
        with pytest.raises(error):
            call()
        refusals += 1

    book.post(donation("d1", "200.00", on=date(2026, 5, 3)))
    book.post(entry("e1", (CASH, "50.00"), (ESCROW, "-50.00"), on=date(2026, 5, 4)))
    refused(
        lambda: book.post(entry("x1", (GRANTS, "500.00"), (BANK, "-500.00"), kind="grant")),
        InsufficientFundsError,
    )
    book.post(donation("d1", "200.00", on=date(2026, 5, 3)))
    refused(lambda: book.post(donation("d1", "201.00")), IdempotencyConflictError)
    book.close_period("2026-05")
    refused(lambda: book.post(donation("x2", "1.00", on=date(2026, 5, 31))), ClosedPeriodError)
    h1 = book.hold(HoldSpec("h1", "grant", GRANTS, BANK, eur("80.00"))).hold
    h2 = book.hold(
        HoldSpec(
            "h2", "grant", GRANTS, BANK, eur("70.00"), expires_at=clock.now() + timedelta(hours=2)
        )
    ).hold
    h3 = book.hold(HoldSpec("h3", "refund", ESCROW, CASH, eur("50.00"))).hold
    refused(
        lambda: book.hold(HoldSpec("x3", "grant", GRANTS, BANK, eur("50.01"))),
        InsufficientFundsError,
    )
    book.post_hold(h1.id, idempotency_key="p1", amount=eur("75.00"))
    book.void_hold(h3.id, idempotency_key="v3")
    refused(lambda: book.void_hold(h1.id, idempotency_key="v1"), HoldResolvedError)
    book.reverse(idempotency_key="r1", sequence=2)
    refused(lambda: book.reverse(idempotency_key="r2", sequence=2), AlreadyReversedError)
    refused(lambda: book.reverse(idempotency_key="r3", sequence=4), InvalidEntryError)
    clock.instant += timedelta(hours=3)
    refused(lambda: book.post_hold(h2.id, idempotency_key="p2"), HoldExpiredError)
    assert book.expire_holds() == [h2.id]
    assert book.expire_holds() == []
    book.post_batch([donation("b1", "5.00"), donation("b2", "6.00")])
    refused(
        lambda: book.post_batch([donation("b3", "5.00"), donation("b4", "6.00", into="x")]),
        AccountNotFoundError,
    )
    book.post(entry("g1", (GRANTS, "136.00"), (BANK, "-136.00"), kind="grant"))

    assert refusals == 9
    assert balances(book, BANK) == (0, 0, 0)
    assert balances(book, ESCROW) == (0, 0, 0)
    assert balances(book, GRANTS) == (7500 + 13600, 0, 7500 + 13600)
    assert sequences(book) == [1, 2, 3, 4, 5, 6, 7]
    report = book.verify()
    assert report.ok, report.violations
    assert report.entries_checked == 7 and report.last_sequence == 7
    assert report.head_hash == book.entry(7).hash
