"""The treasurer's rules (first match wins: each condition, booking once, proposing never,
disabled ones ignored, refusals writing nothing) and a bank line turned into a gift or a
repayment from the review queue; on SQLite and PostgreSQL, and through the CLI."""

from __future__ import annotations

import json
import threading
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ledger.audit.models import AuditEvent
from ledger.books import commands as books
from ledger.campaigns.models import Donation, Receipt
from ledger.core.clock import FixedClock
from ledger.core.errors import LedgerError
from ledger.core.intents import FLUSHES, pending
from ledger.core.journal import get_entry
from ledger.core.models import JournalEntry
from ledger.core.service import Ledger
from ledger.funds.models import LoanInstalment, LoanRepayment
from ledger.payments.references import creditor_reference
from ledger.reconcile.commands import apply_references
from ledger.reconcile.errors import InvalidRuleError, LineRefusedError, OverAllocationError
from ledger.reconcile.matching import records_shown
from ledger.reconcile.models import BankAllocation, BankRule
from ledger.reconcile.parsed import ParsedLine
from ledger.reconcile.rule_commands import (
    create_rule,
    disable_rule,
    line_to_gift,
    line_to_repayment,
    move_rule,
)
from ledger.reconcile.rules import Conditions
from tests.integration.commands_helpers import footprint
from tests.integration.conftest import Run
from tests.integration.test_bank_matching import (
    BANK,
    FI,
    LATER,
    _allocations,
    _apply,
    _bank,
    _import,
    _status,
)
from tests.integration.test_campaign_commands import TREASURER, cash_gift, fetch, new_campaign
from tests.integration.test_fund_commands import fund_with_product, paid_out
from tests.integration.test_transfer_gifts import start

FEES = "expenses:bank_fees"
INTEREST = "income:interest"
OTHER = "expenses:other"
MARIO = "IT60X0542811101000000123456"
ON = date(2026, 6, 12)


def _accounts(ledger: Ledger) -> None:
    ledger.create_account(FEES, "expense")
    ledger.create_account(INTEREST, "income")
    ledger.create_account(OTHER, "expense")


def _rule(ledger: Ledger, name: str, conditions: Conditions, **action: object) -> int:
    return ledger.run(
        lambda s: (
            create_rule(
                s,
                FI,
                name,
                conditions,
                origin=TREASURER,
                clock=ledger.clock,
                **action,  # type: ignore[arg-type]
            ).value.id
        )
    )


def _book(code: str, narration: str = "Da regola") -> dict[str, object]:
    return {"action": "book", "account_code": code, "narration": narration}


def _order(ledger: Ledger) -> list[tuple[str, int, bool]]:
    return ledger.read(
        lambda s: [
            (r.name, r.position, r.active)
            for r in s.scalars(select(BankRule).order_by(BankRule.position))
        ]
    )


def test_rules_first_match_wins_on_each_condition_and_book_once(ledger: Ledger) -> None:
    campaign_id = new_campaign(ledger)
    _bank(ledger)
    _accounts(ledger)
    fees = _rule(
        ledger,
        "Commissioni",
        Conditions(text_contains="  COMMISSIONI ", direction="out"),
        **_book(FEES, "Commissioni bancarie"),
    )
    # Matches the fee line too, but comes after: first match wins.
    _rule(
        ledger, "Tutto in uscita", Conditions(amount_min_minor=1, direction="out"), **_book(OTHER)
    )
    interest = _rule(
        ledger,
        "Interessi",
        Conditions(text_regex=r"^interessi\s+cred", direction="in"),
        **_book(INTEREST, "Interessi attivi"),
    )
    mario = _rule(
        ledger,
        "Giroconto di Mario",
        Conditions(
            counterparty_iban="it60 x054 2811 1010 0000 0123 456",
            amount_min_minor=1000,
            amount_max_minor=2000,
        ),
        **_book(OTHER),
    )
    propose = _rule(
        ledger,
        "Donazioni",
        Conditions(text_contains="donazione", direction="in"),
        action="propose",
        propose_kind="campaign",
        propose_id=campaign_id,
    )
    canone = _rule(ledger, "Canone", Conditions(text_contains="canone"), **_book(FEES))
    ledger.run(lambda s: disable_rule(s, canone, origin=TREASURER, clock=ledger.clock))
    # The disabled rule is first in the order: it is ignored all the same.
    ledger.run(lambda s: move_rule(s, canone, 1, origin=TREASURER, clock=ledger.clock))
    assert [name for name, _p, _a in _order(ledger)] == [
        "Canone",
        "Commissioni",
        "Tutto in uscita",
        "Interessi",
        "Giroconto di Mario",
        "Donazioni",
    ]
    fee, interest_line, from_mario, too_much, gift, canone_line, refund = _import(
        ledger,
        [
            ParsedLine(ON, -250, "COMMISSIONI TENUTA CONTO", "r1"),
            ParsedLine(ON, 120, "INTERESSI CREDITORI II TRIM", "r2"),
            ParsedLine(ON, 1500, "GIROCONTO", "r3", counterparty_iban=MARIO),
            ParsedLine(ON, 2500, "GIROCONTO", "r4", counterparty_iban=MARIO),
            ParsedLine(ON, 3000, "DONAZIONE PER LA SCUOLA", "r5"),
            ParsedLine(ON, 400, "RIMBORSO CANONE MENSILE", "r6"),
            ParsedLine(ON, 250, "ALTRI INTERESSI CREDITORI", "r7"),
        ],
    )
    counts = _apply(ledger)
    assert counts == {
        "examined": 7,
        "settled_gifts": 0,
        "repayments": 0,
        "payouts": 0,
        "booked_by_rules": 3,
        "left": 4,
    }
    status = _status(ledger)
    assert status[fee] == ("booked", -250)
    assert status[interest_line] == ("booked", 120)
    assert status[from_mario] == ("booked", 1500)
    for line in (too_much, gift, canone_line, refund):
        assert status[line][0] == "unexplained"
    booked = {a[0]: a for a in _allocations(ledger)}
    reasons = ledger.read(
        lambda s: {a.line_id: a.reason for a in s.scalars(select(BankAllocation))}
    )
    assert reasons == {
        fee: f"rule:{fees}",
        interest_line: f"rule:{interest}",
        from_mario: f"rule:{mario}",
    }
    # The allocation names its entry by id (written at the run's COMMIT).
    fee_entry = ledger.read(lambda s: get_entry(s, entry_id=booked[fee][2]))
    assert fee_entry.narration == "Commissioni bancarie"
    assert fee_entry.effective_on == ON
    assert {(p.account, p.amount.minor) for p in fee_entry.postings} == {(BANK, -250), (FEES, 250)}
    assert ledger.balance(INTEREST).posted == 120  # shown with its normal sign
    assert ledger.balance(OTHER).posted == -1500  # money in, credited to it
    assert ledger.read(lambda s: s.get(Donation, 1)) is None  # proposing creates nothing
    del propose

    # Twice: nothing more is booked.
    before = footprint(ledger)
    again = _apply(ledger)
    assert again == {
        "examined": 4,
        "settled_gifts": 0,
        "repayments": 0,
        "payouts": 0,
        "booked_by_rules": 0,
        "left": 4,
    }
    after = footprint(ledger)
    assert {k for k in before if before[k] != after[k]} <= {"audit_events"}
    assert (
        ledger.read(
            lambda s: s.scalar(select(func.count()).where(JournalEntry.kind == "bank_line"))
        )
        == 3
    )


def test_invalid_rules_are_refused_with_nothing_written(ledger: Ledger) -> None:
    campaign_id = new_campaign(ledger)
    _bank(ledger)
    _accounts(ledger)
    _rule(ledger, "Prima", Conditions(text_contains="x"), **_book(FEES))
    before = footprint(ledger)
    cases: list[tuple[Conditions, dict[str, object], str]] = [
        (Conditions(text_regex="(commissioni"), _book(FEES), "text_regex"),
        (Conditions(text_regex="(a+)+$"), _book(FEES), "text_regex"),
        (Conditions(text_regex="(x|xy)*z"), _book(FEES), "text_regex"),
        (Conditions(text_regex=r"(\d)\1"), _book(FEES), "text_regex"),
        (Conditions(text_regex=".*a.*b.*c"), _book(FEES), "text_regex"),
        (Conditions(text_regex="a" * 201), _book(FEES), "text_regex"),
        (Conditions(direction="out"), _book(FEES), "conditions"),
        (Conditions(counterparty_iban="IT00X"), _book(FEES), "counterparty_iban"),
        (Conditions(amount_min_minor=500, amount_max_minor=100), _book(FEES), "amount_max"),
        (Conditions(text_contains="x", direction="up"), _book(FEES), "direction"),
        (Conditions(text_contains="x"), _book(BANK), "account"),
        (Conditions(text_contains="x"), {"action": "book", "account_code": FEES}, "narration"),
        (
            Conditions(text_contains="x"),
            {"action": "propose", "propose_kind": "campaign"},
            "propose",
        ),
        (Conditions(text_contains="x"), {**_book(FEES), "position": 3}, "position"),
    ]
    for conditions, action, field in cases:
        with pytest.raises(InvalidRuleError) as refused:
            _rule(ledger, "Regola", conditions, **action)
        assert refused.value.details.get("field") == field, (conditions, action)
        assert footprint(ledger) == before
    with pytest.raises(LedgerError):  # a campaign that does not exist
        _rule(
            ledger,
            "R",
            Conditions(text_contains="x"),
            action="propose",
            propose_kind="campaign",
            propose_id=campaign_id + 99,
        )
    assert footprint(ledger) == before


def test_rules_are_ordered_moved_and_disabled_once_per_key(ledger: Ledger) -> None:
    _bank(ledger)
    _accounts(ledger)
    first = _rule(ledger, "A", Conditions(text_contains="a"), **_book(FEES))
    second = _rule(ledger, "B", Conditions(text_contains="b"), **_book(FEES))
    third = ledger.run(
        lambda s: (
            create_rule(
                s,
                FI,
                "C",
                Conditions(text_contains="c"),
                **_book(FEES),  # type: ignore[arg-type]
                position=1,
                origin=TREASURER,
                clock=ledger.clock,
                key="c",
            ).value.id
        )
    )
    assert _order(ledger) == [("C", 1, True), ("A", 2, True), ("B", 3, True)]
    for _ in range(2):
        moved = ledger.run(
            lambda s: move_rule(s, third, 3, origin=TREASURER, clock=ledger.clock, key="m").created
        )
    assert moved is False  # the repeat answered the first move
    assert _order(ledger) == [("A", 1, True), ("B", 2, True), ("C", 3, True)]
    with pytest.raises(InvalidRuleError):
        ledger.run(lambda s: move_rule(s, first, 4, origin=TREASURER, clock=ledger.clock))
    outcomes = [
        ledger.run(lambda s: disable_rule(s, second, origin=TREASURER, clock=ledger.clock).created)
        for _ in range(2)
    ]
    assert outcomes == [True, False]
    assert _order(ledger) == [("A", 1, True), ("B", 2, False), ("C", 3, True)]
    events = ledger.read(
        lambda s: s.scalar(
            select(func.count(AuditEvent.id)).where(
                AuditEvent.action.in_(("bank_rule.move", "bank_rule.disable", "bank_rule.create"))
            )
        )
    )
    assert events == 3 + 1 + 1


def test_a_line_becomes_an_offline_gift_like_any_transfer_gift(ledger: Ledger) -> None:
    campaign_id = new_campaign(ledger)
    _bank(ledger)
    on = date(2026, 6, 14)
    line, split, outgoing, later = _import(
        ledger,
        [
            ParsedLine(on, 4000, "BONIFICO DA ROSSI MARIA", "r1", end_to_end_id="E2E-1"),
            ParsedLine(on, 5000, "BONIFICO CUMULATIVO", "r2"),
            ParsedLine(on, -700, "PAGAMENTO FORNITORE", "r3"),
            ParsedLine(on, 900, "BONIFICO", "r9"),
        ],
    )

    def to_gift(line_id: int, key: str | None = None, **extra: object) -> Donation:
        return ledger.run(
            lambda s: (
                line_to_gift(
                    s,
                    line_id,
                    campaign_id,
                    origin=TREASURER,
                    clock=ledger.clock,
                    key=key,
                    **extra,  # type: ignore[arg-type]
                ).value
            )
        )

    gift_id = to_gift(line, key="g").id
    assert to_gift(line, key="g").id == gift_id  # one effect per key
    gift = fetch(ledger, Donation, gift_id)
    assert (gift.method, gift.status, gift.amount_minor, gift.donated_on, gift.reference) == (
        "bank_transfer",
        "settled",
        4000,
        on,
        "E2E-1",
    )
    assert (
        ledger.read(
            lambda s: s.scalar(select(func.count(Receipt.id)).where(Receipt.donation_id == gift_id))
        )
        == 1
    )
    entry = ledger.read(
        lambda s: (
            s.scalars(select(JournalEntry).where(JournalEntry.kind == "donation")).one().sequence
        )
    )
    postings = ledger.read(
        lambda s: {(p.account, p.amount.minor) for p in get_entry(s, sequence=entry).postings}
    )
    assert postings == {(BANK, 4000), (f"liabilities:campaigns:{campaign_id}:escrow", -4000)}
    assert _status(ledger)[line] == ("matched", 4000)

    # Part of a line, then the rest: two gifts, one line.
    first = to_gift(split, amount_minor=2000).id
    rest = to_gift(split).id
    assert (
        fetch(ledger, Donation, first).amount_minor,
        fetch(ledger, Donation, rest).amount_minor,
    ) == (2000, 3000)
    assert _status(ledger)[split] == ("matched", 5000)

    # Refusals write nothing.
    before = footprint(ledger)
    for line_id, extra, error in (
        (outgoing, {}, LineRefusedError),
        (split, {}, OverAllocationError),
        (line, {"amount_minor": 1}, OverAllocationError),
    ):
        with pytest.raises(error):
            to_gift(line_id, **extra)
        assert footprint(ledger) == before
    before = footprint(ledger)
    with pytest.raises(OverAllocationError):
        to_gift(later, amount_minor=901)
    with pytest.raises(LedgerError):  # no such campaign
        ledger.run(
            lambda s: line_to_gift(s, later, campaign_id + 9, origin=TREASURER, clock=ledger.clock)
        )
    assert footprint(ledger) == before


def test_a_line_becomes_a_repayment_of_two_instalments(ledger: Ledger, clock: FixedClock) -> None:
    fund_id, product_id = fund_with_product(ledger)
    loan_id = paid_out(ledger, fund_id, product_id)
    _bank(ledger)
    two = ledger.read(
        lambda s: sum(
            s.scalars(
                select(LoanInstalment.total_minor).where(
                    LoanInstalment.loan_id == loan_id, LoanInstalment.number <= 2
                )
            )
        )
    )
    clock.instant = datetime(2026, 8, 20, 9, tzinfo=UTC)
    line, outgoing = _import(
        ledger,
        [
            ParsedLine(date(2026, 8, 16), two, "BONIFICO RATE LUGLIO AGOSTO", "r1"),
            ParsedLine(date(2026, 8, 16), -two, "ADDEBITO", "r2"),
        ],
    )
    before = footprint(ledger)
    for line_id, loan, error in ((outgoing, loan_id, LineRefusedError), (line, 999, LedgerError)):
        with pytest.raises(error):
            ledger.run(
                lambda s, i=line_id, n=loan: line_to_repayment(
                    s, i, n, origin=TREASURER, clock=ledger.clock
                )
            )
        assert footprint(ledger) == before
    repayment = ledger.run(
        lambda s: line_to_repayment(s, line, loan_id, origin=TREASURER, clock=ledger.clock, key="r")
    ).value
    again = ledger.run(
        lambda s: line_to_repayment(s, line, loan_id, origin=TREASURER, clock=ledger.clock, key="r")
    )
    assert again.created is False and again.value.id == repayment.id
    row = fetch(ledger, LoanRepayment, repayment.id)
    assert (row.amount_minor, row.received_on, row.overpayment_minor) == (two, date(2026, 8, 16), 0)
    assert _allocations(ledger) == [(line, "repayment", str(repayment.id), two)]
    assert _status(ledger)[line] == ("matched", two)


def test_two_treasurers_turning_one_line_into_a_gift_at_once_allocate_it_once(
    pg_ledger: Ledger,
) -> None:
    campaign_id = new_campaign(pg_ledger)
    _bank(pg_ledger)
    (line,) = _import(pg_ledger, [ParsedLine(date(2026, 6, 12), 1000, "BONIFICO", "r")])
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def go(key: str) -> None:
        try:
            barrier.wait()
            pg_ledger.run(
                lambda s: line_to_gift(
                    s, line, campaign_id, origin=TREASURER, clock=pg_ledger.clock, key=key
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
    gifts = pg_ledger.read(lambda s: [d.id for d in s.scalars(select(Donation))])
    assert len(gifts) == 1
    assert _allocations(pg_ledger) == [(line, "gift", str(gifts[0]), 1000)]


def _json(result: object) -> object:
    output = result.output
    assert result.exit_code == 0, output
    return json.loads(output)


def test_cli_rules_and_one_line_by_hand(ledger: Ledger, run: Run) -> None:
    campaign_id = new_campaign(ledger)
    fund_id, product_id = fund_with_product(ledger)
    loan_id = paid_out(ledger, fund_id, product_id)
    _bank(ledger)
    _accounts(ledger)
    on = date(2026, 6, 15)  # the loan is paid out today
    cash = cash_gift(ledger, campaign_id, "4.00", "c1")
    other = cash_gift(ledger, campaign_id, "6.00", "c2")
    fee, internal, manual, gift_line, loan_line, donation, deposit = _import(
        ledger,
        [
            ParsedLine(on, -150, "COMMISSIONI BONIFICO", "r1"),
            ParsedLine(on, 10_000, "GIROCONTO", "r2"),
            ParsedLine(on, -320, "SPESE POSTALI", "r3"),
            ParsedLine(on, 2000, "BONIFICO DA LUCA", "r4"),
            ParsedLine(on, 5000, "RATA", "r5"),
            ParsedLine(on, 1200, "DONAZIONE ORTO", "r6"),
            ParsedLine(on, 1000, "VERSAMENTO CONTANTI", "r7"),
        ],
    )
    added = _json(
        run(
            "bank",
            "rules",
            "add",
            "--iban",
            FI,
            "--name",
            "Commissioni",
            "--text-contains",
            "commissioni",
            "--direction",
            "out",
            "--max",
            "5.00",
            "--book-to",
            FEES,
            "--narration",
            "Commissioni",
        )
    )
    assert isinstance(added, dict)
    assert (added["position"], added["max"], added["book_to"]) == (1, "5.00", FEES)
    proposed = _json(
        run(
            "bank",
            "rules",
            "add",
            "--iban",
            FI,
            "--name",
            "Orto",
            "--text-regex",
            "^donazione",
            "--propose-campaign",
            str(campaign_id),
            "--position",
            "1",
        )
    )
    assert isinstance(proposed, dict) and proposed["propose"] == {
        "kind": "campaign",
        "id": campaign_id,
    }
    refused = run(
        "bank",
        "rules",
        "add",
        "--iban",
        FI,
        "--name",
        "X",
        "--text-regex",
        "(a+)+",
        "--book-to",
        FEES,
        "--narration",
        "x",
    )
    assert refused.exit_code == 1
    assert json.loads(refused.output)["error"]["code"] == "invalid_rule"
    moved = _json(run("bank", "rules", "move", str(added["id"]), "--position", "1"))
    assert isinstance(moved, dict) and moved["position"] == 1
    listed = _json(run("bank", "rules", "list", "--iban", FI))
    assert [(r["name"], r["position"]) for r in listed] == [("Commissioni", 1), ("Orto", 2)]  # type: ignore[index,union-attr]

    counts = _json(run("bank", "match", "--iban", FI))
    assert isinstance(counts, dict) and counts["booked_by_rules"] == 1
    suggested = _json(run("bank", "suggest", str(donation)))
    assert isinstance(suggested, list)
    assert suggested[0]["kind"] == "campaign" and suggested[0]["record_id"] == str(campaign_id)
    assert suggested[0]["reasons"] == [f"rule:{proposed['id']}"]

    ignored = _json(run("bank", "ignore", str(internal), "--reason", "giroconto interno"))
    assert isinstance(ignored, dict) and ignored["status"] == "ignored"
    booked = _json(run("bank", "book", str(manual), "--account", FEES, "--narration", "Posta"))
    assert isinstance(booked, dict) and booked["status"] == "booked"
    gift = _json(
        run(
            "bank",
            "to-gift",
            str(gift_line),
            "--campaign",
            str(campaign_id),
            "--amount",
            "12.00",
            "--key",
            "k1",
        )
    )
    assert isinstance(gift, dict) and (gift["donation_status"], gift["left"]) == ("settled", "8.00")
    same = _json(
        run(
            "bank",
            "to-gift",
            str(gift_line),
            "--campaign",
            str(campaign_id),
            "--amount",
            "12.00",
            "--key",
            "k1",
        )
    )
    assert isinstance(same, dict) and same["donation_id"] == gift["donation_id"]
    allocated = _json(
        run("bank", "allocate", str(deposit), "--gift", f"{cash}:4.00", "--gift", str(other))
    )
    assert isinstance(allocated, dict)
    assert (allocated["status"], allocated["left"]) == ("matched", "0.00")
    assert [(a["record_id"], a["amount"]) for a in allocated["allocations"]] == [
        (str(cash), "4.00"),
        (str(other), "6.00"),
    ]
    repaid = _json(run("bank", "to-repayment", str(loan_line), "--loan", str(loan_id)))
    assert isinstance(repaid, dict) and repaid["status"] == "matched"
    assert [a["kind"] for a in repaid["allocations"]] == ["repayment"]
    over = run("bank", "to-repayment", str(loan_line), "--loan", str(loan_id))
    assert over.exit_code == 1 and json.loads(over.output)["error"]["code"] == "over_allocation"
    disabled = _json(run("bank", "rules", "disable", str(added["id"])))
    assert isinstance(disabled, dict) and disabled["active"] is False
    assert _status(ledger)[fee] == ("booked", -150)


def _two_gifts_and_a_fee_rule(ledger: Ledger, clock: FixedClock, tag: str) -> list[int]:
    """Two pending transfer gifts, the bank account, and a rule booking its fees."""
    campaign_id = new_campaign(ledger)
    gifts = [start(ledger, campaign_id, f"{10 + n}.00", f"{tag}-{n}") for n in range(2)]
    _bank(ledger)
    _accounts(ledger)
    _rule(ledger, "Commissioni", Conditions(text_contains="commissioni"), **_book(FEES))
    clock.instant = LATER
    return gifts


def test_lines_booked_by_rules_wait_for_the_runs_commit(ledger: Ledger, clock: FixedClock) -> None:
    """A rule's booking neither writes the gifts deferred before it nor takes the
    journal head: the run's entries, gifts and bookings alike, are written together
    at COMMIT, in line order, and each booked line names its entry by id; the line's
    detail prints the entry's number."""
    gifts = _two_gifts_and_a_fee_rule(ledger, clock, "ruled")
    first, fee, second = _import(
        ledger,
        [
            ParsedLine(ON, 1000, "DONO", "g0", reference=creditor_reference("D", gifts[0])),
            ParsedLine(ON, -250, "COMMISSIONI TENUTA CONTO", "f0"),
            ParsedLine(ON, 1100, "DONO", "g1", reference=creditor_reference("D", gifts[1])),
        ],
    )
    head = ledger.read(
        lambda s: s.scalar(select(func.coalesce(func.max(JournalEntry.sequence), 0)))
    )

    def run(s: Session) -> tuple[int, int, list[str], int]:
        counts = apply_references(s, FI, origin=TREASURER, clock=ledger.clock).value
        waiting = sorted(i.prepared.kind for i in pending(s))
        return counts.settled_gifts, counts.booked_by_rules, waiting, s.info.get(FLUSHES, 0)

    assert ledger.run(run) == (2, 1, ["bank_line", "donation", "donation"], 0)
    written = ledger.read(
        lambda s: {
            e.id: (e.sequence, e.kind)
            for e in s.scalars(select(JournalEntry).where(JournalEntry.sequence > head))
        }
    )
    # The references' pass, then the rules': in the order the run decided them.
    assert sorted(written.values()) == [
        (head + 1, "donation"),
        (head + 2, "donation"),
        (head + 3, "bank_line"),
    ]
    booked = {a[0]: a[2] for a in _allocations(ledger)}
    assert written[booked[fee] or ""] == (head + 3, "bank_line")

    def shown(s: Session) -> dict[int, str]:
        rows = list(s.scalars(select(BankAllocation)))
        records = records_shown(s, rows)
        return {a.line_id: records[a.id] for a in rows}

    assert ledger.read(shown) == {
        first: str(gifts[0]),
        fee: str(head + 3),
        second: str(gifts[1]),
    }
    assert ledger.verify().ok


def test_lines_of_a_closed_month_are_left_and_the_run_goes_on(
    ledger: Ledger, clock: FixedClock
) -> None:
    """A month may be closed with lines unexplained (with a warning). A later run leaves
    those lines to the treasurer, whatever rule or reference they match (their entries
    could not be written), and applies the rest; before, the first of them refused the
    whole run."""
    gifts = _two_gifts_and_a_fee_rule(ledger, clock, "closed")
    may, june = date(2026, 5, 29), date(2026, 6, 12)
    fee_may, gift_may, fee_june, gift_june = _import(
        ledger,
        [
            ParsedLine(may, -250, "COMMISSIONI MAGGIO", "c1"),
            ParsedLine(may, 1000, "DONO", "c2", reference=creditor_reference("D", gifts[0])),
            ParsedLine(june, -300, "COMMISSIONI GIUGNO", "c3"),
            ParsedLine(june, 1100, "DONO", "c4", reference=creditor_reference("D", gifts[1])),
        ],
    )
    ledger.run(lambda s: books.close_period(s, "2026-05", origin=TREASURER, clock=ledger.clock))
    # Outgoing lines count as examined when a rule books them (the run's counts).
    assert _apply(ledger) == {
        "examined": 3,
        "settled_gifts": 1,
        "repayments": 0,
        "payouts": 0,
        "booked_by_rules": 1,
        "left": 1,
    }
    status = _status(ledger)
    assert (status[fee_may][0], status[gift_may][0]) == ("unexplained", "unexplained")
    assert (status[fee_june][0], status[gift_june][0]) == ("booked", "matched")
    assert ledger.read(lambda s: s.get(Donation, gifts[0]).status) == "pending"
    assert ledger.verify().ok
