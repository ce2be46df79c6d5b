"""Ranked suggestions for an unexplained bank line, on concrete figures: pending transfer
gifts by amount and by a reference with a typo, two loan instalments, an entry on the
bank's account not yet on a line, the counterparty's earlier records, a proposing rule."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select

from ledger.core.journal import EntrySpec, PostingSpec
from ledger.core.money import Money
from ledger.core.service import Ledger
from ledger.funds.models import LoanInstalment
from ledger.payments.references import creditor_reference
from ledger.reconcile.models import BankLine
from ledger.reconcile.parsed import ParsedLine
from ledger.reconcile.rule_commands import create_rule, line_to_gift
from ledger.reconcile.rules import Conditions
from ledger.reconcile.suggestions import near_references, suggestions
from tests.integration.test_bank_matching import BANK, FI, _bank, _import
from tests.integration.test_campaign_commands import TREASURER, new_campaign
from tests.integration.test_fund_commands import fund_with_product, paid_out
from tests.integration.test_transfer_gifts import start

MARIO = "IT60X0542811101000000123456"
ON = date(2026, 6, 15)


def _ranked(ledger: Ledger, line_id: int) -> list[tuple[str, str, int, int, tuple[str, ...]]]:
    return ledger.read(
        lambda s: [
            (x.kind, x.record_id, x.amount_minor, x.score, x.reasons)
            for x in suggestions(s, line_id)
        ]
    )


def test_suggestions_are_ranked_on_concrete_figures(ledger: Ledger) -> None:
    campaign_id = new_campaign(ledger)
    g1 = start(ledger, campaign_id, "25.00", "p1")
    g2 = start(ledger, campaign_id, "25.00", "p2")
    g3 = start(ledger, campaign_id, "40.00", "p3")
    fund_id, product_id = fund_with_product(ledger)
    loan_id = paid_out(ledger, fund_id, product_id)
    _bank(ledger)
    ledger.create_account("expenses:bank_fees", "expense")
    two = ledger.read(
        lambda s: sum(
            s.scalars(
                select(LoanInstalment.total_minor).where(
                    LoanInstalment.loan_id == loan_id, LoanInstalment.number <= 2
                )
            )
        )
    )
    fee = ledger.post(
        EntrySpec(
            idempotency_key="fee-by-hand",
            kind="manual",
            postings=[
                PostingSpec(BANK, Money(-1234, "EUR")),
                PostingSpec("expenses:bank_fees", Money(1234, "EUR")),
            ],
            effective_on=date(2026, 6, 14),
            narration="Commissioni registrate a mano",
        )
    ).entry.sequence
    wrong_check = "RF00" + creditor_reference("D", g3)[4:]
    by_amount, by_loan, by_entry, earlier, again, proposed = _import(
        ledger,
        [
            ParsedLine(ON, 2500, f"DONO {wrong_check}", "r1"),
            ParsedLine(date(2026, 7, 16), two, "RATE", "r2"),
            ParsedLine(ON, -1234, "COMMISSIONI", "r3"),
            ParsedLine(ON, 1000, "BONIFICO", "r4", counterparty_iban=MARIO),
            ParsedLine(ON, 3000, "BONIFICO", "r5", counterparty_iban=MARIO),
            ParsedLine(ON, 777, "OFFERTA ORTO", "r6"),
        ],
    )
    # Equal amounts first (ties by id), then the reference with a wrong check digit.
    assert _ranked(ledger, by_amount) == [
        ("gift", str(g1), 2500, 60, ("amount_equal", "date_close")),
        ("gift", str(g2), 2500, 60, ("amount_equal", "date_close")),
        ("gift", str(g3), 2500, 45, ("reference_partial", "date_close")),
    ]
    assert _ranked(ledger, by_loan) == [
        ("loan", str(loan_id), two, 60, ("amount_equal", "two_instalments", "date_close")),
    ]
    assert _ranked(ledger, by_entry) == [
        ("entry", str(fee), -1234, 60, ("amount_equal", "date_close")),
    ]
    ledger.run(
        lambda s: line_to_gift(s, earlier, campaign_id, origin=TREASURER, clock=ledger.clock)
    )
    assert _ranked(ledger, again) == [
        ("campaign", str(campaign_id), 3000, 25, ("same_counterparty_before",)),
    ]
    rule = ledger.run(
        lambda s: (
            create_rule(
                s,
                FI,
                "Offerte per l'orto",
                Conditions(text_contains="orto", direction="in"),
                action="propose",
                propose_kind="campaign",
                propose_id=campaign_id,
                origin=TREASURER,
                clock=ledger.clock,
            ).value.id
        )
    )
    assert _ranked(ledger, proposed) == [
        ("campaign", str(campaign_id), 777, 60, (f"rule:{rule}",)),
    ]
    # An explained line has nothing to suggest.
    assert _ranked(ledger, earlier) == []


def test_a_reference_with_one_wrong_character_is_near() -> None:
    exact = creditor_reference("D", 3)
    typo = exact[:-1] + "8"  # the body mistyped, the check digits right for D3
    line = BankLine(reference=None, end_to_end_id=None, text=f"DONO {typo}")
    assert ("D", 3) in near_references(line)
    assert near_references(BankLine(reference=exact, end_to_end_id=None, text="")) == []
