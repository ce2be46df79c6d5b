"""A cash gift writes its entry last (issue 14, part 2; docs/journal-writes.md section 2).

`campaigns.commands.record_offline_gift` books the gift's entry with
`core.intents.defer_entry`: decided at the call, written with the journal head just
before the unit's COMMIT. So the head and the shared cash row are not held while
the reactions and the audit run, a gift without commitments flushes nothing early,
and a refusal found only at the write rolls the whole gift back. Its receipt is
numbered just before the entry (`receipts.issue_last`, a `before_journal` step), so
the organisation's receipt counter is not held either.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import date
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from ledger.audit.models import AuditEvent
from ledger.campaigns import receipts
from ledger.campaigns.accounts import CASH
from ledger.campaigns.commands import Recipient
from ledger.campaigns.models import Campaign, Donation, Receipt, ReceiptCounter
from ledger.commands import Origin
from ledger.core.errors import BalanceOutOfRangeError, ClosedPeriodError, InsufficientFundsError
from ledger.core.intents import EARLY_FLUSHES, LOCK_FLUSHES, pending, pending_steps
from ledger.core.journal import EntrySpec, PostingSpec, post_entry
from ledger.core.money import MAX_MINOR, Money
from ledger.core.service import Ledger
from ledger.core.storage import READ_ONLY_OPTION
from ledger.core.uow import unit_of_work
from ledger.grants.models import Allocation
from tests.integration.campaign_helpers import cash_gift_in, live_campaign
from tests.integration.grants_helpers import Books

TREASURER = Origin(channel="api", user_id=None, source="127.0.0.1")
# Two organisations: each has its own receipt counter, which serialises the gifts
# of one organisation by design (docs/journal-writes.md 4.3).
FIRST = Recipient(
    name="Associazione Quartiere Vivo ODV", tax_code="97123450153", qualification="ODV"
)
SECOND = Recipient(name="Circolo Ricreativo Borgo APS", tax_code="98012340109", qualification="APS")


def eur(text_amount: str) -> Money:
    return Money.parse(text_amount, "EUR")


def new_campaign(ledger: Ledger, organisation: Recipient = FIRST) -> int:
    return live_campaign(ledger, organisation, origin=TREASURER)


def gift(
    s: Session, ledger: Ledger, campaign_id: int, amount: Money, key: str, **kw: Any
) -> Donation:
    return cash_gift_in(s, ledger, campaign_id, amount, key, origin=TREASURER, **kw)


def journal(ledger: Ledger) -> list[tuple[int, str]]:
    # Read-only (a deferred BEGIN on SQLite), so it may read while a unit writes.
    with ledger.engine.connect().execution_options(**{READ_ONLY_OPTION: True}) as conn:
        rows = conn.execute(
            text("SELECT sequence, idempotency_key FROM journal_entries ORDER BY sequence")
        )
        return [(r.sequence, r.idempotency_key) for r in rows]


def footprint(ledger: Ledger) -> dict[str, object]:
    """What a gift writes besides its entry: donation, receipt and its number, audit."""

    def read(s: Session) -> dict[str, object]:
        return {
            "donations": s.scalar(select(func.count()).select_from(Donation)),
            "receipts": s.scalar(select(func.count()).select_from(Receipt)),
            "numbers": sorted(s.execute(select(ReceiptCounter.last_number)).scalars()),
            "audit": list(s.scalars(select(AuditEvent.action).order_by(AuditEvent.id))),
            "requests": s.scalar(text("SELECT count(*) FROM command_requests")),
            "journal": journal(ledger),
        }

    return ledger.read(read)


def test_a_cash_gift_writes_its_entry_at_commit_with_no_early_flush(ledger: Ledger) -> None:
    campaign_id = new_campaign(ledger)
    before = journal(ledger)
    with unit_of_work(ledger.sessions) as session:
        donation = gift(session, ledger, campaign_id, eur("25.00"), "cash-1")
        key = f"donation:{donation.id}:settle"
        # Decided, not written: the audit is in; the receipt and the journal are not.
        assert [i.prepared.key for i in pending(session)] == [key]
        assert pending_steps(session) == [f"receipt:{donation.id}"]
        assert (session.info.get(EARLY_FLUSHES, 0), session.info.get(LOCK_FLUSHES, 0)) == (0, 0)
        assert session.scalar(select(func.count()).select_from(Receipt)) == 0
        assert journal(ledger) == before
    assert [k for _, k in journal(ledger)] == [*(k for _, k in before), key]
    assert footprint(ledger)["numbers"] == [1]
    assert ledger.read(lambda s: s.scalars(select(Receipt.amount_minor)).all()) == [2500]
    assert ledger.balance(CASH).posted == 2500
    assert ledger.verify().ok


def test_a_gift_with_a_ratio_commitment_is_still_written_last(ledger: Ledger) -> None:
    """The match's hold on the pool (`create_hold`) writes no journal and touches none
    of the gift entry's rows (the pool and the match's account, not the cash and the
    escrow): the entry stays pending to COMMIT, the head free until then."""
    books = Books(ledger)
    commitment = books.commit(ratio="1")
    with unit_of_work(ledger.sessions) as session:
        donation = gift(session, ledger, books.campaign_id, eur("10.00"), "matched-1")
        assert [i.prepared.key for i in pending(session)] == [f"donation:{donation.id}:settle"]
        assert session.info.get(LOCK_FLUSHES, 0) == 0
        assert session.info.get(EARLY_FLUSHES, 0) == 0
    assert [k for _, k in journal(ledger)][-1] == f"donation:{donation.id}:settle"
    assert [(d, m) for d, m, _ in books.matches(commitment)] == [(donation.id, 1000)]
    assert ledger.verify().ok


def figures(allocation: Allocation) -> tuple[int, int, int]:
    """An allocation's eligible, matched and reserved money."""
    return allocation.eligible_minor, allocation.matched_minor, allocation.reserved_minor


def held_allocation(session: Session, commitment: int) -> Allocation:
    """The commitment's allocation loaded and held by the unit, as a later act of it
    would hold it."""
    return session.scalars(select(Allocation).where(Allocation.commitment_id == commitment)).one()


def test_two_matched_gifts_in_one_unit_share_the_allocations_figures(ledger: Ledger) -> None:
    """A match writes its allocation's figures by a statement, not an ORM flush, and
    leaves the object in the session agreeing with the row: the second gift of the
    unit is matched on the first's figures (here the campaign cap leaves it 5.00),
    and the row, its grant log and the pool agree at the end."""
    books = Books(ledger)
    commitment = books.commit(ratio="1", campaign_cap_minor=1500)
    with unit_of_work(ledger.sessions) as session:
        first = gift(session, ledger, books.campaign_id, eur("10.00"), "capped-1")
        held = held_allocation(session, commitment)
        second = gift(session, ledger, books.campaign_id, eur("10.00"), "capped-2")
        assert figures(held) == (2000, 1500, 1500)
    assert [(d, m) for d, m, _ in books.matches(commitment)] == [
        (first.id, 1000),
        (second.id, 500),
    ]
    assert figures(books.allocation(commitment)) == (2000, 1500, 1500)
    assert books.events(commitment)[-2:] == [("reserved", 1000), ("reserved", 500)]
    assert books.states(commitment)["reserved"] == 1500
    assert ledger.verify().ok


def test_a_matched_gift_undone_by_a_savepoint_leaves_no_figures_behind(ledger: Ledger) -> None:
    """The match's figures and the campaign's crowd totals are written by statements and
    copied onto the loaded objects, which the ORM does not expire when a savepoint
    rolls back: `uow.set_as_written` does. The gift after the rolled-back one is
    matched on the figures of the database (under a cap of 20.00, in full), and the
    objects held by the unit read what the rows say."""
    books = Books(ledger)
    commitment = books.commit(ratio="1", campaign_cap_minor=2000)
    with unit_of_work(ledger.sessions) as session:
        first = gift(session, ledger, books.campaign_id, eur("10.00"), "undone-1")
        held = held_allocation(session, commitment)
        campaign = session.get(Campaign, books.campaign_id)
        assert campaign is not None
        with pytest.raises(RuntimeError), session.begin_nested():
            gift(session, ledger, books.campaign_id, eur("10.00"), "undone-2")
            raise RuntimeError("the rest of the savepoint's work fails")
        assert figures(held) == (1000, 1000, 1000)
        assert (campaign.crowd_gross_minor, campaign.crowd_donors) == (1000, 1)
        third = gift(session, ledger, books.campaign_id, eur("10.00"), "undone-3")
    assert [(d, m) for d, m, _ in books.matches(commitment)] == [(first.id, 1000), (third.id, 1000)]
    assert figures(books.allocation(commitment)) == (2000, 2000, 2000)
    assert books.states(commitment)["reserved"] == 2000
    assert books.events(commitment)[-2:] == [("reserved", 1000), ("reserved", 1000)]
    assert ledger.verify().ok


def test_a_refusal_at_the_write_rolls_the_whole_gift_back(ledger: Ledger) -> None:
    """The shared cash row is a deferred (class D) row: a total past MAX_MINOR is found
    only when the entry is written, before COMMIT; the gift's call has returned by
    then, and its donation, receipt, receipt number and audit go with the unit."""
    big, small = new_campaign(ledger, FIRST), new_campaign(ledger, SECOND)
    ledger.run(
        lambda s: gift(s, ledger, big, Money(MAX_MINOR, "EUR"), "max", maximum_minor=MAX_MINOR)
    )
    before = footprint(ledger)
    returned: list[int] = []
    with pytest.raises(BalanceOutOfRangeError), unit_of_work(ledger.sessions) as session:
        returned.append(gift(session, ledger, small, eur("0.01"), "one-cent-more").id)
    assert returned, "the gift's call itself refused nothing: the write did"
    assert footprint(ledger) == before
    assert ledger.verify().ok


def test_a_savepoint_rolled_back_after_a_gift_keeps_the_gift_s_entry(ledger: Ledger) -> None:
    """An engine call inside a savepoint writes the unit's pending gift first; the
    savepoint's rollback undoes that write, and the gift's entry is written again
    at COMMIT (as `reconcile.apply_references` does for a loan after a gift line)."""
    ledger.create_account("assets:fund", "asset", no_overdraft=True)
    ledger.create_account("expenses:out", "expense")
    campaign_id = new_campaign(ledger)
    with unit_of_work(ledger.sessions) as session:
        donation = gift(session, ledger, campaign_id, eur("25.00"), "cash-sp")
        with pytest.raises(InsufficientFundsError), session.begin_nested():
            post_entry(
                session,
                EntrySpec(
                    "too-much",
                    "transfer",
                    [
                        PostingSpec("expenses:out", eur("1.00")),
                        PostingSpec("assets:fund", eur("-1.00")),
                    ],
                ),
                clock=ledger.clock,
            )
        assert [i.prepared.key for i in pending(session)] == [f"donation:{donation.id}:settle"]
    assert [k for _, k in journal(ledger)] == [f"donation:{donation.id}:settle"]
    assert ledger.balance(CASH).posted == 2500
    assert ledger.verify().ok


def test_a_receipt_read_in_the_unit_is_written_first_and_numbered_once(ledger: Ledger) -> None:
    """A read of the gift's receipts in its own unit (a correction, a refund) writes the
    pending receipt first: it is found, and COMMIT numbers no second one."""
    campaign_id = new_campaign(ledger)
    with unit_of_work(ledger.sessions) as session:
        donation = gift(session, ledger, campaign_id, eur("25.00"), "read-own")
        found = receipts.valid_receipt(session, donation.id)
        assert found is not None and (found.number, found.amount_minor) == (1, 2500)
        assert pending_steps(session) == []
    assert footprint(ledger)["receipts"] == 1
    assert footprint(ledger)["numbers"] == [1]


def test_a_receipt_written_inside_a_savepoint_rolled_back_is_numbered_at_commit(
    ledger: Ledger,
) -> None:
    """A receipt registered before a savepoint and written inside it (a read there) was
    undone by the rollback: it is pending again and written at COMMIT; one registered
    inside a savepoint rolled back is gone with it."""
    first, second = new_campaign(ledger, FIRST), new_campaign(ledger, SECOND)
    with unit_of_work(ledger.sessions) as session:
        kept = gift(session, ledger, first, eur("25.00"), "kept")
        with pytest.raises(RuntimeError), session.begin_nested():
            assert receipts.valid_receipt(session, kept.id) is not None
            raise RuntimeError("the savepoint fails")
        assert pending_steps(session) == [f"receipt:{kept.id}"]
        with pytest.raises(RuntimeError), session.begin_nested():
            gone = gift(session, ledger, second, eur("5.00"), "gone")
            # The second act's key claim writes nothing: both receipts wait for COMMIT.
            assert pending_steps(session) == [f"receipt:{kept.id}", f"receipt:{gone.id}"]
            raise RuntimeError("the savepoint fails")
        assert pending_steps(session) == [f"receipt:{kept.id}"]
    rows = ledger.read(
        lambda s: s.execute(select(Receipt.donation_id, Receipt.number, Receipt.amount_minor)).all()
    )
    assert [tuple(r) for r in rows] == [(kept.id, 1, 2500)]


# --------------------------------------------------------------------------- PostgreSQL
def _other_unit(work: Callable[[], object]) -> None:
    errors: list[BaseException] = []

    def run() -> None:
        try:
            work()
        except BaseException as exc:  # reported below
            errors.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(timeout=20)
    assert not thread.is_alive(), "the other unit waited for the open gift's unit"
    assert not errors, errors


def _a_gift_commits_while_another_is_open(
    book: Ledger, second_organisation: Recipient
) -> tuple[int, int]:
    """A gift's unit (on a campaign of FIRST) stays open after its call returned while
    another gift, on another campaign of `second_organisation`, posts and commits in
    another unit (which must not wait for it): (the open one's id, the other's id)."""
    first, second = new_campaign(book, FIRST), new_campaign(book, second_organisation)
    done: list[int] = []
    with unit_of_work(book.sessions) as session:
        slow = gift(session, book, first, eur("10.00"), "slow")
        _other_unit(
            lambda: done.append(book.run(lambda s: gift(s, book, second, eur("7.00"), "fast").id))
        )
        assert (session.info.get(EARLY_FLUSHES, 0), session.info.get(LOCK_FLUSHES, 0)) == (0, 0)
    assert book.verify().ok
    return slow.id, done[0]


@pytest.mark.postgres_only
def test_a_gift_on_another_campaign_commits_while_the_first_gift_s_unit_is_open(
    pg_ledger: Ledger,
) -> None:
    """Neither the head nor the shared cash row is held by the open unit."""
    slow, fast = _a_gift_commits_while_another_is_open(pg_ledger, SECOND)
    keys = [k for _, k in journal(pg_ledger)]
    assert keys == [f"donation:{fast}:settle", f"donation:{slow}:settle"]
    assert pg_ledger.balance(CASH).posted == 1700


@pytest.mark.postgres_only
def test_a_gift_to_the_same_organisation_commits_while_the_first_gift_s_unit_is_open(
    pg_ledger: Ledger,
) -> None:
    """The organisation's receipt counter is numbered at COMMIT, not at the call, so it
    is not held by the open unit either; the numbers follow the commits, no gap."""
    slow, fast = _a_gift_commits_while_another_is_open(pg_ledger, FIRST)
    rows = pg_ledger.read(
        lambda s: s.execute(
            select(Receipt.donation_id, Receipt.number).order_by(Receipt.number)
        ).all()
    )
    assert [tuple(r) for r in rows] == [(fast, 1), (slow, 2)]


@pytest.mark.postgres_only
def test_a_month_closed_while_a_gift_s_unit_is_open_refuses_the_whole_gift_at_commit(
    pg_ledger: Ledger,
) -> None:
    book = pg_ledger
    campaign_id = new_campaign(book)
    before = footprint(book)
    returned: list[int] = []
    with pytest.raises(ClosedPeriodError), unit_of_work(book.sessions) as session:
        may = gift(session, book, campaign_id, eur("10.00"), "in-may", donated_on=date(2026, 5, 20))
        returned.append(may.id)  # May was open at the call ...
        # ... and another unit closes it before this one commits: it holds no head.
        _other_unit(lambda: book.close_period("2026-05"))
    assert returned
    assert footprint(book) == before
    assert book.verify().ok
