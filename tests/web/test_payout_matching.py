"""A Stripe payout arriving on the bank: the line that carries it is matched to the payout
(automatically when it is the one confident candidate, by hand otherwise) and the money moves
from money in transit to the bank account, never beyond what is left of the payout.

Payouts are recorded from the fake Stripe server through the signed webhook, as in
test_stripe_payouts.py; the bank statement is a camt.053 file the test writes
(`write_camt053`) and imports through `import_statement`.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from itertools import count

import pytest
from flask import Flask
from sqlalchemy import select

from ledger.books import commands as books
from ledger.campaigns import accounts
from ledger.core.intents import FLUSHES, pending
from ledger.core.journal import get_entry
from ledger.core.models import Account, JournalEntry
from ledger.core.service import Ledger
from ledger.reconcile.commands import (
    apply_references,
    create_bank_account,
    get_bank_account,
    import_statement,
    match_line,
)
from ledger.reconcile.errors import OverAllocationError
from ledger.reconcile.formats.camt_writer import write_camt053
from ledger.reconcile.matching import line_views
from ledger.reconcile.models import BankAllocation, BankLine
from ledger.reconcile.parsed import ParsedLine, ParsedStatement
from ledger.reconcile.payout_matching import candidate_payouts
from ledger.reconcile.payouts import TRANSIT
from tests.fakes.stripe_server import FakeStripe
from tests.integration.commands_helpers import footprint
from tests.integration.test_campaign_commands import TREASURER
from tests.web.test_stripe_payouts import gift
from tests.web.test_webhooks import configure_stripe, open_campaign, post

IBAN = "IT60X0542811101000000123456"


@pytest.fixture
def fake() -> Iterator[FakeStripe]:
    with FakeStripe() as server:
        yield server


@pytest.fixture
def stripe_app(app: Flask, fake: FakeStripe) -> Flask:
    return configure_stripe(app, fake)


BANK = accounts.BANK
_KEYS = count()
JUNE_16 = int(datetime(2026, 6, 16, tzinfo=UTC).timestamp())  # a Tuesday


def _bank(ledger: Ledger) -> None:
    if ledger.read(lambda s: s.scalar(select(Account.id).where(Account.code == BANK))) is None:
        ledger.create_account(BANK, "asset")
    ledger.run(
        lambda s: create_bank_account(
            s, iban=IBAN, account_code=BANK, origin=TREASURER, clock=ledger.clock
        )
    )


def _statement(ledger: Ledger, lines: list[ParsedLine], n: int = 1) -> list[int]:
    """A camt.053 of these lines (opening 0 or the last closing), imported; the line ids."""
    opening = ledger.read(
        lambda s: sum(v.amount_minor for v in line_views(s, get_bank_account(s, IBAN)))
    )
    data = write_camt053(
        [
            ParsedStatement(
                iban=IBAN,
                currency="EUR",
                opening_minor=opening,
                closing_minor=opening + sum(x.amount_minor for x in lines),
                opening_on=min(x.booked_on for x in lines),
                closing_on=max(x.booked_on for x in lines),
                statement_id=f"S{n}",
                lines=tuple(lines),
            )
        ],
        message_id=f"M{n}",
    )
    report = ledger.run(
        lambda s: (
            import_statement(
                s, IBAN, data, origin=TREASURER, clock=ledger.clock, key=f"import-{n}"
            ).value
        )
    )
    return list(report.new_line_ids)


def _line(on: date, minor: int, text: str, ref: str, **fields: object) -> ParsedLine:
    return ParsedLine(on, minor, text, "", bank_ref=ref, **fields)  # type: ignore[arg-type]


def _apply(ledger: Ledger) -> dict[str, int]:
    return ledger.run(
        lambda s: apply_references(s, IBAN, origin=TREASURER, clock=ledger.clock).value.as_dict()
    )


def _paid(app, stripe, ledger: Ledger, amounts: list[tuple[str, int]], **payout) -> str:  # type: ignore[no-untyped-def]
    cid = open_campaign(ledger) if not payout.pop("campaign", None) else payout.pop("cid")
    charges = [gift(app, stripe, cid, a, fee, f"k-{next(_KEYS)}") for a, fee in amounts]
    payout_id = stripe.payout(
        [stripe.transaction_of(c) for c in charges], arrival_date=JUNE_16, **payout
    )
    assert post(app.test_client(), stripe.payout_event(payout_id)).get_json() == {
        "outcome": "applied"
    }
    return payout_id


def _status(ledger: Ledger) -> dict[int, str]:
    return ledger.read(lambda s: {v.id: v.status for v in line_views(s, get_bank_account(s, IBAN))})


def test_the_one_confident_payout_is_matched_and_moves_transit_to_the_bank(
    stripe_app, fake, ledger
):
    payout_id = _paid(stripe_app, fake, ledger, [("100.00", 175), ("50.00", 100)], trace_id="TR-77")
    assert ledger.balance(TRANSIT).posted == 14725
    ledger.clock.instant = datetime(2026, 6, 18, 9, tzinfo=UTC)  # the lines are in the past
    _bank(ledger)
    payout_line, early, plain = _statement(
        ledger,
        [
            _line(
                date(2026, 6, 17), 14725, "ACCREDITO STRIPE PAYMENTS", "b1", end_to_end_id="TR-77"
            ),
            # The same amount before the window opens (two business days early).
            _line(date(2026, 6, 12), 14725, "STRIPE", "b2"),
            # In the window, without descriptor or trace id: a candidate, not a confident one.
            _line(date(2026, 6, 15), 14725, "BONIFICO", "b3"),
        ],
    )
    found = ledger.read(lambda s: candidate_payouts(s, s.get(BankLine, payout_line)))
    assert [(c.payout_id, c.trace_id_found, c.descriptor_found) for c in found] == [
        (payout_id, True, True)
    ]
    assert ledger.read(lambda s: candidate_payouts(s, s.get(BankLine, early))) == []
    weak = ledger.read(lambda s: candidate_payouts(s, s.get(BankLine, plain)))
    assert [(c.payout_id, c.confident) for c in weak] == [(payout_id, False)]

    counts = _apply(ledger)
    assert counts == {
        "examined": 3,
        "settled_gifts": 0,
        "repayments": 0,
        "payouts": 1,
        "booked_by_rules": 0,
        "left": 2,
    }
    assert _status(ledger) == {payout_line: "matched", early: "unexplained", plain: "unexplained"}
    assert ledger.balance(TRANSIT).posted == 0
    assert ledger.balance(BANK).posted == 14725
    allocation = ledger.read(
        lambda s: (
            s.scalars(select(BankAllocation).where(BankAllocation.line_id == payout_line))
            .one()
            .record_id
        )
    )
    assert allocation == payout_id
    entry = ledger.read(
        lambda s: get_entry(
            s,
            sequence=s.scalars(
                select(JournalEntry.sequence).where(JournalEntry.kind == "stripe_payout_arrival")
            ).one(),
        )
    )
    assert entry.effective_on == date(2026, 6, 17)
    assert {(p.account, p.amount.minor) for p in entry.postings} == {
        (BANK, 14725),
        (TRANSIT, -14725),
    }
    assert entry.metadata == {"bank_line": payout_line, "payout": payout_id}
    # The paid-out payout is no one's candidate any more; applying again changes nothing.
    assert ledger.read(lambda s: candidate_payouts(s, s.get(BankLine, plain))) == []
    before = footprint(ledger)
    assert _apply(ledger)["payouts"] == 0
    after = footprint(ledger)
    assert {k for k in before if before[k] != after[k]} <= {"audit_events"}
    assert ledger.verify().ok


def test_two_payouts_of_one_amount_wait_for_the_treasurer_who_cannot_overallocate(
    stripe_app, fake, ledger
):
    cid = open_campaign(ledger)
    first = _paid(stripe_app, fake, ledger, [("40.00", 80)], campaign=True, cid=cid)
    second = _paid(stripe_app, fake, ledger, [("40.00", 80)], campaign=True, cid=cid)
    assert ledger.balance(TRANSIT).posted == 2 * 3920
    _bank(ledger)
    one, two = _statement(
        ledger,
        [
            _line(date(2026, 6, 16), 3920, "STRIPE", "b1"),
            _line(date(2026, 6, 16), 3920, "STRIPE", "b2"),
        ],
    )
    counts = _apply(ledger)
    assert (counts["payouts"], counts["left"]) == (0, 2)  # ambiguous: nothing automatic
    assert ledger.balance(TRANSIT).posted == 2 * 3920

    # By hand: the first line pays 20.00 of the first payout, then the rest of it.
    ledger.run(
        lambda s: match_line(
            s, one, [("payout", first, 2000)], origin=TREASURER, clock=ledger.clock, key="m1"
        )
    )
    ledger.run(
        lambda s: match_line(
            s, one, [("payout", first, 1920)], origin=TREASURER, clock=ledger.clock, key="m2"
        )
    )
    assert ledger.balance(BANK).posted == 3920
    assert ledger.balance(TRANSIT).posted == 3920
    # The second line cannot take anything more of the first payout: nothing written.
    before = footprint(ledger)
    with pytest.raises(OverAllocationError) as refused:
        ledger.run(
            lambda s: match_line(
                s, two, [("payout", first, 1)], origin=TREASURER, clock=ledger.clock, key="m3"
            )
        )
    assert refused.value.details["left"] == "0.00"
    assert footprint(ledger) == before
    # A repeat of the first allocation's request books nothing twice.
    ledger.run(
        lambda s: match_line(
            s, one, [("payout", first, 2000)], origin=TREASURER, clock=ledger.clock, key="m1"
        )
    )
    assert footprint(ledger) == before
    ledger.run(
        lambda s: match_line(
            s, two, [("payout", second, 3920)], origin=TREASURER, clock=ledger.clock, key="m4"
        )
    )
    assert _status(ledger) == {one: "matched", two: "matched"}
    assert ledger.balance(TRANSIT).posted == 0
    assert ledger.balance(BANK).posted == 2 * 3920
    assert ledger.verify().ok


def test_a_payout_line_of_a_closed_month_is_left_to_the_treasurer(stripe_app, fake, ledger):
    """June closed with the payout's line unexplained: the run does not match it (its
    arrival could not be booked in June) and does not fail."""
    _paid(stripe_app, fake, ledger, [("100.00", 175)], trace_id="TR-78")
    ledger.clock.instant = datetime(2026, 7, 2, 9, tzinfo=UTC)
    _bank(ledger)
    [line] = _statement(
        ledger,
        [_line(date(2026, 6, 17), 9825, "ACCREDITO STRIPE PAYMENTS", "c1", end_to_end_id="TR-78")],
    )
    ledger.run(lambda s: books.close_period(s, "2026-06", origin=TREASURER, clock=ledger.clock))
    assert _apply(ledger)["payouts"] == 0
    assert _status(ledger) == {line: "unexplained"}
    assert ledger.balance(BANK).posted == 0
    assert ledger.verify().ok


def test_a_payouts_arrival_waits_for_the_runs_commit(stripe_app, fake, ledger):
    """The arrival a run books for a matched payout takes the journal head only at the
    run's COMMIT, with the run's other entries; it names the line and the payout."""
    payout_id = _paid(stripe_app, fake, ledger, [("100.00", 175)], trace_id="TR-79")
    ledger.clock.instant = datetime(2026, 6, 18, 9, tzinfo=UTC)
    _bank(ledger)
    [line] = _statement(
        ledger,
        [_line(date(2026, 6, 17), 9825, "ACCREDITO STRIPE PAYMENTS", "d1", end_to_end_id="TR-79")],
    )

    def run(s):  # type: ignore[no-untyped-def]
        counts = apply_references(s, IBAN, origin=TREASURER, clock=ledger.clock).value
        return counts.payouts, [i.prepared.kind for i in pending(s)], s.info.get(FLUSHES, 0)

    assert ledger.run(run) == (1, ["stripe_payout_arrival"], 0)
    entry = ledger.read(
        lambda s: get_entry(
            s,
            sequence=s.scalars(
                select(JournalEntry.sequence).where(JournalEntry.kind == "stripe_payout_arrival")
            ).one(),
        )
    )
    assert entry.metadata == {"bank_line": line, "payout": payout_id}
    assert _status(ledger) == {line: "matched"}
    assert ledger.balance(BANK).posted == 9825
    assert ledger.verify().ok
