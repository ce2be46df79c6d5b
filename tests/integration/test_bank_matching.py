"""Every bank line ends explained: creditor references applied (transfer gifts settled,
loan repayments recorded), lines ignored, booked or matched by hand, never beyond their
amount; on SQLite and PostgreSQL, and through the CLI."""

from __future__ import annotations

import json
import threading
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from ledger.campaigns.models import Donation, Receipt
from ledger.campaigns.service import figures
from ledger.core.clock import FixedClock
from ledger.core.intents import FLUSHES, pending
from ledger.core.journal import get_entry
from ledger.core.models import Account, JournalEntry
from ledger.core.service import Ledger
from ledger.funds.models import LoanInstalment, LoanRepayment
from ledger.payments.references import creditor_reference, printable
from ledger.reconcile import statements as importer
from ledger.reconcile.commands import (
    apply_references,
    book_line,
    create_bank_account,
    get_bank_account,
    hold_account,
    ignore_line,
    match_line,
)
from ledger.reconcile.errors import (
    InvalidAllocationError,
    LineRefusedError,
    OverAllocationError,
)
from ledger.reconcile.matching import line_views
from ledger.reconcile.models import BankAllocation, BankLine
from ledger.reconcile.parsed import ParsedLine, ParsedStatement
from tests.integration.commands_helpers import footprint
from tests.integration.conftest import Run
from tests.integration.test_campaign_commands import TREASURER, cash_gift, fetch, new_campaign
from tests.integration.test_fund_commands import fund_with_product, paid_out
from tests.integration.test_transfer_gifts import start

FI = "FI7433010001222090"
BANK = "assets:bank:main"
LATER = datetime(2026, 6, 20, 9, tzinfo=UTC)


def _bank(ledger: Ledger) -> None:
    exists = ledger.read(lambda s: s.scalar(select(Account.id).where(Account.code == BANK)))
    if exists is None:
        ledger.create_account(BANK, "asset")
    ledger.run(
        lambda s: create_bank_account(
            s, iban=FI, account_code=BANK, origin=TREASURER, clock=ledger.clock
        )
    )


def _import(ledger: Ledger, lines: list[ParsedLine]) -> list[int]:
    """A balanced camt-like statement of these lines, imported; the new lines' ids."""
    statement = ParsedStatement(
        iban=FI,
        currency="EUR",
        opening_minor=0,
        closing_minor=sum(x.amount_minor for x in lines),
        opening_on=min(x.booked_on for x in lines),
        closing_on=max(x.booked_on for x in lines),
        lines=tuple(lines),
    )

    def work(s: Session) -> list[int]:
        report = importer.import_parsed(
            s,
            get_bank_account(s, FI, lock=True),
            [statement],
            sha256="1" * 64,
            fmt="test",
            preset=None,
            accept_unbalanced=False,
            reason=None,
            actor="test",
            now=ledger.clock.now(),
        )
        return list(report.new_line_ids)

    return ledger.run(work)


def _status(ledger: Ledger) -> dict[int, tuple[str, int]]:
    def read(s: Session) -> dict[int, tuple[str, int]]:
        return {v.id: (v.status, v.amount_minor) for v in line_views(s, get_bank_account(s, FI))}

    return ledger.read(read)


def _allocations(ledger: Ledger) -> list[tuple[int, str, str | None, int]]:
    return ledger.read(
        lambda s: [
            (a.line_id, a.kind, a.record_id, a.amount_minor)
            for a in s.scalars(select(BankAllocation).order_by(BankAllocation.id))
        ]
    )


def _loan_in_bank(ledger: Ledger) -> int:
    """A loan paid out of a fund whose cash sits in the bank account: its repayments
    apply from the account's lines."""
    fund_id, product_id = fund_with_product(ledger)
    loan_id = paid_out(ledger, fund_id, product_id)
    _bank(ledger)
    ledger.run(
        lambda s: hold_account(
            s, FI, f"assets:funds:{fund_id}:cash", origin=TREASURER, clock=ledger.clock
        )
    )
    return loan_id


def _apply(ledger: Ledger) -> dict[str, int]:
    return ledger.run(
        lambda s: apply_references(s, FI, origin=TREASURER, clock=ledger.clock).value.as_dict()
    )


def test_references_settle_the_gift_record_the_repayment_once(
    ledger: Ledger, clock: FixedClock
) -> None:
    campaign_id = new_campaign(ledger)
    gift_id = start(ledger, campaign_id, "25.00", "pledge")
    other_id = start(ledger, campaign_id, "40.00", "pledge-2")
    loan_id = _loan_in_bank(ledger)
    two = ledger.read(
        lambda s: sum(
            s.scalars(
                select(LoanInstalment.total_minor).where(
                    LoanInstalment.loan_id == loan_id, LoanInstalment.number <= 2
                )
            )
        )
    )
    gift_ref = creditor_reference("D", gift_id)
    other_ref = creditor_reference("D", other_id)
    wrong = "RF00" + other_ref[4:]  # wrong check digits
    clock.instant = LATER
    gift_line, loan_line, wrong_line, short_line = _import(
        ledger,
        [
            ParsedLine(date(2026, 6, 18), 2500, "BONIFICO DONAZIONE", "r1", reference=gift_ref),
            ParsedLine(
                date(2026, 6, 19),
                two,
                f"RATE PRESTITO {printable(creditor_reference('L', loan_id))} GIUGNO",
                "r2",
            ),
            ParsedLine(date(2026, 6, 19), 4000, "DONO", "r3", reference=wrong),
            ParsedLine(date(2026, 6, 20), 3900, f"DONO {other_ref}", "r4"),
        ],
    )

    counts = _apply(ledger)
    assert counts == {
        "examined": 4,
        "settled_gifts": 1,
        "repayments": 1,
        "payouts": 0,
        "booked_by_rules": 0,
        "left": 2,
    }
    # (a) the gift is settled, with its receipt, and counts in the campaign.
    gift = fetch(ledger, Donation, gift_id)
    assert (gift.status, gift.donated_on) == ("settled", date(2026, 6, 18))
    assert (
        ledger.read(
            lambda s: s.scalar(select(func.count(Receipt.id)).where(Receipt.donation_id == gift_id))
        )
        == 1
    )
    assert ledger.read(lambda s: figures(s, campaign_id).raised_minor) == 2500
    # (b) one repayment of the two instalments, allocated to the line.
    repayments = ledger.read(
        lambda s: [
            (r.id, r.amount_minor)
            for r in s.scalars(select(LoanRepayment).where(LoanRepayment.loan_id == loan_id))
        ]
    )
    assert len(repayments) == 1 and repayments[0][1] == two
    assert _allocations(ledger) == [
        (gift_line, "gift", str(gift_id), 2500),
        (loan_line, "repayment", str(repayments[0][0]), two),
    ]
    # (c) a wrong check digit and another amount are left to the treasurer.
    status = _status(ledger)
    assert status[gift_line] == ("matched", 2500)
    assert status[loan_line] == ("matched", two)
    assert status[wrong_line][0] == status[short_line][0] == "unexplained"
    assert ledger.read(lambda s: s.get(Donation, other_id).status) == "pending"

    # (d) applying again has no second effect.
    before = footprint(ledger)
    counts = _apply(ledger)
    assert counts == {
        "examined": 2,
        "settled_gifts": 0,
        "repayments": 0,
        "payouts": 0,
        "booked_by_rules": 0,
        "left": 2,
    }
    after = footprint(ledger)
    changed = {k for k in before if before[k] != after[k]}
    assert changed <= {"audit_events"}  # the act itself is audited, nothing else


def test_a_run_over_many_gift_lines_writes_its_journal_once_at_commit(
    ledger: Ledger, clock: FixedClock
) -> None:
    """A month of lines applied at once: each settled gift's entry waits for the run's
    COMMIT (no act of the run writes the journal for the next), then all are written
    together, in line order, and the book verifies."""
    campaign_id = new_campaign(ledger)
    gifts = [start(ledger, campaign_id, f"{10 + n}.00", f"month-{n}") for n in range(4)]
    _bank(ledger)
    clock.instant = LATER
    lines = _import(
        ledger,
        [
            ParsedLine(
                date(2026, 6, 18),
                (10 + n) * 100,
                "BONIFICO DONAZIONE",
                f"m{n}",
                reference=creditor_reference("D", gift),
            )
            for n, gift in enumerate(gifts)
        ],
    )
    head = ledger.read(
        lambda s: s.scalar(select(func.coalesce(func.max(JournalEntry.sequence), 0)))
    )

    def run(s: Session) -> tuple[int, list[str], int]:
        counts = apply_references(s, FI, origin=TREASURER, clock=ledger.clock).value
        waiting = [i.prepared.key for i in pending(s)]
        return counts.settled_gifts, waiting, s.info.get(FLUSHES, 0)

    settled, waiting, flushes = ledger.run(run)
    assert (settled, len(waiting), flushes) == (4, 4, 0)
    written = ledger.read(
        lambda s: [
            (e.sequence, e.metadata_json)
            for e in s.scalars(
                select(JournalEntry)
                .where(JournalEntry.sequence > head)
                .order_by(JournalEntry.sequence)
            )
        ]
    )
    assert [json.loads(m)["donation_id"] for _seq, m in written] == gifts
    assert [seq for seq, _m in written] == [head + 1 + n for n in range(4)]
    assert [(a[0], a[2]) for a in _allocations(ledger)] == [
        (line, str(gift)) for line, gift in zip(lines, gifts, strict=True)
    ]
    assert ledger.verify().ok


def test_a_loan_repayment_in_the_run_waits_for_its_commit_too(
    ledger: Ledger, clock: FixedClock
) -> None:
    """A repayment between two gifts neither writes the first gift's entry nor takes
    the journal head: the run's three entries are written together at COMMIT, in line
    order, and the repayment's row names its entry by id."""
    campaign_id = new_campaign(ledger)
    gifts = [start(ledger, campaign_id, f"{10 + n}.00", f"around-{n}") for n in range(2)]
    loan_id = _loan_in_bank(ledger)
    clock.instant = LATER
    reference = printable(creditor_reference("L", loan_id))
    _import(
        ledger,
        [
            ParsedLine(
                date(2026, 6, 18), 1000, "DONO", "a0", reference=creditor_reference("D", gifts[0])
            ),
            ParsedLine(date(2026, 6, 19), 5000, f"RATA PRESTITO {reference}", "a1"),
            ParsedLine(
                date(2026, 6, 20), 1100, "DONO", "a2", reference=creditor_reference("D", gifts[1])
            ),
        ],
    )
    head = ledger.read(
        lambda s: s.scalar(select(func.coalesce(func.max(JournalEntry.sequence), 0)))
    )

    def run(s: Session) -> tuple[int, int, list[str], int]:
        counts = apply_references(s, FI, origin=TREASURER, clock=ledger.clock).value
        waiting = [i.prepared.kind for i in pending(s)]
        return counts.settled_gifts, counts.repayments, waiting, s.info.get(FLUSHES, 0)

    assert ledger.run(run) == (2, 1, ["donation", "repayment", "donation"], 0)
    written = ledger.read(
        lambda s: [
            (e.sequence, e.kind, e.id)
            for e in s.scalars(
                select(JournalEntry)
                .where(JournalEntry.sequence > head)
                .order_by(JournalEntry.sequence)
            )
        ]
    )
    assert [(seq, kind) for seq, kind, _id in written] == [
        (head + 1, "donation"),
        (head + 2, "repayment"),
        (head + 3, "donation"),
    ]
    repayment = ledger.read(
        lambda s: s.execute(select(LoanRepayment.amount_minor, LoanRepayment.entry_id)).one()
    )
    assert tuple(repayment) == (5000, written[1][2])
    assert ledger.verify().ok


def test_ignore_book_and_match_by_hand(ledger: Ledger) -> None:
    campaign_id = new_campaign(ledger)
    first = cash_gift(ledger, campaign_id, "10.00", "c1")
    second = cash_gift(ledger, campaign_id, "20.00", "c2")
    _bank(ledger)
    ledger.create_account("expenses:bank_fees", "expense")
    on = date(2026, 6, 12)
    internal, fee, both = _import(
        ledger,
        [
            ParsedLine(on, 50_000, "GIROCONTO DA CONTO DEPOSITO", "r1"),
            ParsedLine(on, -250, "COMMISSIONI TENUTA CONTO", "r2"),
            ParsedLine(on, 3000, "VERSAMENTO CONTANTI", "r3"),
        ],
    )
    ledger.run(
        lambda s: ignore_line(
            s, internal, "giroconto già registrato", origin=TREASURER, clock=ledger.clock
        )
    )
    before_fees = ledger.balance(BANK).posted
    booked = ledger.run(
        lambda s: (
            book_line(
                s,
                fee,
                "expenses:bank_fees",
                "Commissioni di giugno",
                origin=TREASURER,
                clock=ledger.clock,
            ).value
        )
    )
    # A booked line names its entry by id (the entry is written at COMMIT).
    entry = ledger.read(lambda s: get_entry(s, entry_id=booked[0].record_id))
    assert entry.effective_on == on
    assert {(p.account, p.amount.minor) for p in entry.postings} == {
        (BANK, -250),
        ("expenses:bank_fees", 250),
    }
    assert ledger.balance("expenses:bank_fees").posted == 250
    assert ledger.balance(BANK).posted == before_fees - 250
    ledger.run(
        lambda s: match_line(
            s,
            both,
            [("gift", first, 1000), ("gift", second, 2000)],
            origin=TREASURER,
            clock=ledger.clock,
            key="by-hand",
        )
    )
    status = _status(ledger)
    assert status[internal] == ("ignored", 50_000)
    assert status[fee] == ("booked", -250)
    assert status[both] == ("matched", 3000)
    reason = ledger.read(
        lambda s: s.scalar(select(BankAllocation.reason).where(BankAllocation.line_id == internal))
    )
    assert reason == "giroconto già registrato"


def test_over_allocation_and_unknown_records_are_refused_with_nothing_written(
    ledger: Ledger,
) -> None:
    campaign_id = new_campaign(ledger)
    gift = cash_gift(ledger, campaign_id, "10.00", "c1")
    _bank(ledger)
    (line,) = _import(ledger, [ParsedLine(date(2026, 6, 12), 1500, "VERSAMENTO", "r")])
    before = footprint(ledger)
    for parts, error in (
        ([("gift", gift, 1000), ("gift", gift, 1000)], OverAllocationError),
        ([("gift", gift, -500)], InvalidAllocationError),
        ([("gift", 999_999, 500)], InvalidAllocationError),
        ([("ignored", gift, 500)], InvalidAllocationError),
    ):
        with pytest.raises(error):
            ledger.run(
                lambda s, p=parts: match_line(s, line, p, origin=TREASURER, clock=ledger.clock)
            )
        assert footprint(ledger) == before
    # Partly matched: unexplained with what is left, then the rest can be matched.
    ledger.run(
        lambda s: match_line(s, line, [("gift", gift, 1000)], origin=TREASURER, clock=ledger.clock)
    )
    assert _status(ledger)[line] == ("unexplained", 1500)
    left = ledger.read(
        lambda s: (
            __import__("ledger.reconcile.matching", fromlist=["x"])
            .state_of(s, s.get(BankLine, line))
            .left_minor
        )
    )
    assert left == 500
    with pytest.raises(OverAllocationError):
        ledger.run(
            lambda s: match_line(
                s, line, [("gift", gift, 600)], origin=TREASURER, clock=ledger.clock
            )
        )


def test_allocations_are_append_only(ledger: Ledger) -> None:
    _bank(ledger)
    (line,) = _import(ledger, [ParsedLine(date(2026, 6, 12), 100, "X", "r")])
    ledger.run(lambda s: ignore_line(s, line, "prova", origin=TREASURER, clock=ledger.clock))
    for sql in ("UPDATE bank_allocations SET reason = 'x'", "DELETE FROM bank_allocations"):
        with pytest.raises(DBAPIError, match="append-only"):
            ledger.run(lambda s, q=sql: s.execute(text(q)))


def test_two_matches_of_one_line_at_once_allocate_it_once(pg_ledger: Ledger) -> None:
    campaign_id = new_campaign(pg_ledger)
    gift = cash_gift(pg_ledger, campaign_id, "10.00", "c1")
    _bank(pg_ledger)
    (line,) = _import(pg_ledger, [ParsedLine(date(2026, 6, 12), 1000, "VERSAMENTO", "r")])
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def go(key: str) -> None:
        try:
            barrier.wait()
            pg_ledger.run(
                lambda s: match_line(
                    s,
                    line,
                    [("gift", gift, 1000)],
                    origin=TREASURER,
                    clock=pg_ledger.clock,
                    key=key,
                )
            )
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=go, args=(k,)) for k in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(errors) == 1 and isinstance(errors[0], OverAllocationError)
    assert _allocations(pg_ledger) == [(line, "gift", str(gift), 1000)]


def test_cli_match_and_lines_by_status(ledger: Ledger, run: Run) -> None:
    campaign_id = new_campaign(ledger)
    gift_id = start(ledger, campaign_id, "25.00", "pledge")
    _bank(ledger)
    on = date(2026, 6, 14)
    paid, other = _import(
        ledger,
        [
            ParsedLine(on, 2500, "BONIFICO", "r1", reference=creditor_reference("D", gift_id)),
            ParsedLine(on, 700, "ALTRO", "r2"),
        ],
    )
    result = run("bank", "match", "--iban", FI)
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {
        "examined": 2,
        "settled_gifts": 1,
        "repayments": 0,
        "payouts": 0,
        "booked_by_rules": 0,
        "left": 1,
    }
    for status, expected in (("matched", [paid]), ("unexplained", [other]), ("ignored", [])):
        result = run("bank", "lines", "--iban", FI, "--status", status, "--format", "json")
        assert result.exit_code == 0, result.output
        assert [r["id"] for r in json.loads(result.output)] == expected
    again = run("bank", "match", "--iban", FI)
    assert json.loads(again.output)["settled_gifts"] == 0
    assert run("bank", "match", "--iban", "IT00X").exit_code == 1


def test_a_pending_transfer_gift_matched_by_hand_is_settled_once(ledger: Ledger) -> None:
    from ledger.campaigns.errors import TransferAmountError

    campaign_id = new_campaign(ledger)
    gift_id = start(ledger, campaign_id, "25.00", "pledge")
    _bank(ledger)
    short, whole = _import(
        ledger,
        [
            ParsedLine(date(2026, 6, 15), 2400, "BONIFICO SENZA CAUSALE", "r1"),
            ParsedLine(date(2026, 6, 15), 2500, "BONIFICO SENZA CAUSALE", "r2"),
        ],
    )
    before = footprint(ledger)
    with pytest.raises(TransferAmountError):  # another amount: nothing booked, nothing kept
        ledger.run(
            lambda s: match_line(
                s, short, [("gift", gift_id, 2400)], origin=TREASURER, clock=ledger.clock, key="a"
            )
        )
    assert footprint(ledger) == before
    for _ in range(2):
        ledger.run(
            lambda s: match_line(
                s, whole, [("gift", gift_id, 2500)], origin=TREASURER, clock=ledger.clock, key="b"
            )
        )
    gift = fetch(ledger, Donation, gift_id)
    assert gift.status == "settled"
    assert _status(ledger)[whole] == ("matched", 2500)
    assert [a for a in _allocations(ledger) if a[0] == whole] == [
        (whole, "gift", str(gift_id), 2500)
    ]
    assert ledger.read(lambda s: s.scalar(select(func.count()).select_from(Receipt))) == 1


def test_a_gift_by_transfer_is_settled_only_from_a_bank_account_holding_its_account(
    ledger: Ledger, clock: FixedClock
) -> None:
    # Campaigns book transfer gifts to assets:bank:main. A bank account that neither
    # mirrors nor holds it (here one mirroring assets:bank:other) cannot receive one:
    # its reference is not applied and a match by hand is refused, nothing written.
    campaign_id = new_campaign(ledger)
    gift_id = start(ledger, campaign_id, "25.00", "pledge")
    ledger.create_account("assets:bank:other", "asset")
    ledger.run(
        lambda s: create_bank_account(
            s, iban=FI, account_code="assets:bank:other", origin=TREASURER, clock=ledger.clock
        )
    )
    clock.instant = LATER
    (line,) = _import(
        ledger,
        [
            ParsedLine(
                date(2026, 6, 18), 2500, "DONO", "r1", reference=creditor_reference("D", gift_id)
            )
        ],
    )
    counts = _apply(ledger)
    assert (counts["settled_gifts"], counts["left"]) == (0, 1)
    before = footprint(ledger)
    with pytest.raises(LineRefusedError):
        ledger.run(
            lambda s: match_line(
                s, line, [("gift", gift_id, 2500)], origin=TREASURER, clock=ledger.clock
            )
        )
    assert footprint(ledger) == before
    assert fetch(ledger, Donation, gift_id).status == "pending"
