"""The demo programme's bank month: a camt.053 statement made from the demo's own
records, imported and explained line by line through the reconcile use cases.

The month is the one of the day the demo was first loaded (the demo campaign's
creation day, `anchor_day`), from its first day to that day, so a later run
builds the same file and changes nothing. The bank account (a valid Italian
test IBAN) mirrors `assets:bank:main`; the loan repayment lands in the demo
fund's cash account (`assets:funds:<id>:cash`), so the bank account holds both
(`held_accounts`; `hold_account` records it). The statement's opening balance is the book
balance of the held accounts on the day before the month.

The lines, and what explains each:

- two gifts by bank transfer to "Un orto in cortile", pledged by the demo
  (`start_transfer_gift`) and paid the same day with their RF reference (one in
  the structured reference, one typed in the text): settled by
  `apply_references`;
- a loan repayment covering two instalments of the demo fund's first loan,
  carrying the loan's RF reference: recorded by `apply_references` (it books to
  the fund's cash account);
- the foundation's payment of released match (the grants demo's
  `record_disbursement`, already booked to `assets:bank:main`) and the three
  gifts by transfer the demo recorded by hand (reference in the text only):
  matched by hand (`match_line`, kinds `entry` and `gift`);
- a Stripe payout of the demo campaign's three card gifts, recorded through
  `sync_payout` with a `PayoutState` built from those gifts (offline) and
  matched automatically by `apply_references` (amount, arrival day, descriptor
  and trace id): money in transit -> bank;
- bank fees: booked to `expenses:bank-fees` (`book_line`);
- a payment to the campaign's supplier returned by the beneficiary's bank
  (reason AC04, account closed). Honest bookings: the payment was made and
  came back, so both lines are booked against the campaign's escrow
  (`book_line`): the payment Dr escrow / Cr bank, the return Dr bank / Cr
  escrow. The campaign's money is whole again and the supplier is still to be
  paid; nothing is ignored, nothing nets silently.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.campaigns import accounts as campaign_accounts
from ledger.campaigns.commands import start_transfer_gift
from ledger.campaigns.donations import Limits
from ledger.campaigns.models import Campaign, Donation
from ledger.commands import Origin
from ledger.core.balances import balance
from ledger.core.clock import ROME, Clock
from ledger.core.intents import flush_journal
from ledger.core.models import Account, JournalEntry, Posting
from ledger.core.money import Money
from ledger.funds.accounts import FundAccounts
from ledger.funds.models import Fund, Loan, LoanInstalment
from ledger.payments.references import printable
from ledger.payments.stripe_gateway import BalanceTransaction, PayoutState
from ledger.reconcile.commands import (
    apply_references,
    book_line,
    create_bank_account,
    hold_account,
    import_statement,
    match_line,
    sync_payout,
)
from ledger.reconcile.formats.camt_writer import write_camt053
from ledger.reconcile.matching import line_views
from ledger.reconcile.models import BankAccount, BankLine, StripePayout
from ledger.reconcile.parsed import ParsedLine, ParsedStatement

# A valid Italian IBAN of the kind printed in examples (check digits and CIN right).
DEMO_IBAN = "IT60X0542811101000000123456"
MIRRORED = campaign_accounts.BANK
BANK_FEES = "expenses:bank-fees"
CAMPAIGN_TITLE = "Un orto in cortile"
FUND_NAME = "Fondo rotativo di microcredito del quartiere"
PAYOUT_ID = "po_demo_bank_month"
TRACE_ID = "DEMOSTRIPETRACE0001"
SUPPLIER_IBAN = "IT02L1234512345123456789012"
KEY = "demo-bank:"


@dataclass(frozen=True, slots=True)
class DemoMonth:
    """What the month is built from: its days, the records its lines carry."""

    first_day: date
    last_day: date
    campaign_id: int
    gifts: tuple[tuple[int, int, str], ...]  # (donation id, amount, RF reference) to settle
    loan_id: int | None
    loan_minor: int  # two instalments
    fund_cash: str | None
    foundation_sequence: int | None
    foundation_minor: int
    by_hand: tuple[tuple[int, int, str], ...]  # (donation id, amount, reference) typed by hand
    payout_minor: int


def anchor_day(session: Session) -> date | None:
    """The day the demo was first loaded: its campaign's creation day in Rome."""
    created = session.scalar(select(Campaign.created_at).where(Campaign.title == CAMPAIGN_TITLE))
    if created is None:
        return None
    return created.astimezone(ROME).date()


def held_accounts(session: Session) -> list[str]:
    """The ledger accounts whose money is on the demo bank account."""
    codes = [MIRRORED]
    fund_cash = _fund_cash(session)
    if fund_cash is not None:
        codes.append(fund_cash)
    return codes


def _fund_cash(session: Session) -> str | None:
    fund_id = session.scalar(select(Fund.id).where(Fund.name == FUND_NAME))
    return FundAccounts(int(fund_id)).cash if fund_id is not None else None


def _first_loan(session: Session) -> Loan | None:
    return session.scalars(
        select(Loan).where(Loan.request_key.like("%demo-loans:loan-a")).order_by(Loan.id)
    ).first()


def _two_instalments(session: Session, loan: Loan, first_day: date) -> int:
    rows = session.scalars(
        select(LoanInstalment.total_minor)
        .where(LoanInstalment.loan_id == loan.id, LoanInstalment.due_on >= first_day)
        .order_by(LoanInstalment.number)
        .limit(2)
    ).all()
    return sum(rows) if len(rows) == 2 else 0


def _foundation_payment(session: Session) -> tuple[int | None, int]:
    found = session.execute(
        select(JournalEntry.sequence, Posting.amount_minor)
        .join(Posting, Posting.entry_id == JournalEntry.id)
        .join(Account, Account.id == Posting.account_id)
        .where(JournalEntry.kind == "match_disbursement", Account.code == MIRRORED)
        .order_by(JournalEntry.sequence)
    ).first()
    return (int(found[0]), int(found[1])) if found else (None, 0)


def _card_gifts(session: Session, campaign_id: int) -> list[Donation]:
    return list(
        session.scalars(
            select(Donation)
            .where(
                Donation.campaign_id == campaign_id,
                Donation.method == "card",
                Donation.status == "settled",
                Donation.stripe_charge_id.is_not(None),
            )
            .order_by(Donation.id)
        )
    )


def _by_hand(session: Session) -> tuple[tuple[int, int, str], ...]:
    rows = session.scalars(
        select(Donation)
        .where(
            Donation.method == "bank_transfer",
            Donation.status == "settled",
            Donation.transfer_reference.is_(None),
            Donation.reference.is_not(None),
        )
        .order_by(Donation.id)
    )
    return tuple((d.id, d.amount_minor, d.reference or "") for d in rows)


def _on(month: DemoMonth, offset: int) -> date:
    return min(month.first_day + timedelta(days=offset), month.last_day)


def _lines(session: Session, month: DemoMonth) -> list[ParsedLine]:
    last = month.last_day
    lines: list[ParsedLine] = []

    def add(on: date, minor: int, text: str, **fields: object) -> None:
        n = len(lines) + 1
        lines.append(
            ParsedLine(
                booked_on=on,
                amount_minor=minor,
                text=text,
                raw="",
                value_on=on,
                bank_ref=f"DEMO{last:%Y%m}{n:04d}",
                **fields,  # type: ignore[arg-type]
            )
        )

    if month.loan_id is not None and month.loan_minor:
        loan = session.get(Loan, month.loan_id)
        assert loan is not None and loan.transfer_reference is not None
        add(
            _on(month, 2),
            month.loan_minor,
            "BONIFICO RATE MICROCREDITO DUE MENSILITA",
            reference=loan.transfer_reference,
            end_to_end_id=f"E2E-DEMO-LOAN-{loan.id}",
            counterparty_name="Laboratorio di sartoria",
            bank_code="PMNT/RCDT/ESCT",
        )
    add(
        _on(month, 3),
        -32_000,
        "BONIFICO A FAVORE FORNITORE CASSONI ORTO",
        end_to_end_id="E2E-DEMO-SUPPLIER-1",
        counterparty_name="Falegnameria del quartiere",
        counterparty_iban=SUPPLIER_IBAN,
        bank_code="PMNT/ICDT/ESCT",
    )
    add(
        _on(month, 5),
        32_000,
        "STORNO BONIFICO CONTO ESTINTO FORNITORE CASSONI ORTO",
        end_to_end_id="E2E-DEMO-SUPPLIER-1",
        counterparty_name="Falegnameria del quartiere",
        counterparty_iban=SUPPLIER_IBAN,
        reason_code="AC04",
        bank_code="PMNT/ICDT/RRTN",
    )
    for n, (gift_id, minor, reference) in enumerate(month.gifts):
        structured = n == 0
        add(
            last,
            minor,
            "DONAZIONE ORTO IN CORTILE" if structured else f"DONAZIONE {printable(reference)}",
            reference=reference if structured else None,
            end_to_end_id=f"E2E-DEMO-GIFT-{gift_id}",
            counterparty_name="Donatore per bonifico",
            bank_code="PMNT/RCDT/ESCT",
        )
    for gift_id, minor, reference in month.by_hand:
        add(
            last,
            minor,
            f"BONIFICO {reference}",
            end_to_end_id=f"E2E-DEMO-BYHAND-{gift_id}",
            counterparty_name="Donatore per bonifico",
            bank_code="PMNT/RCDT/ESCT",
        )
    if month.foundation_sequence is not None:
        add(
            last,
            month.foundation_minor,
            "FONDAZIONE DELLA COMUNITA BRESCIANA COFINANZIAMENTO CUCINA DI COMUNITA",
            end_to_end_id="E2E-DEMO-FOUNDATION-1",
            counterparty_name="Fondazione della Comunita Bresciana",
            bank_code="PMNT/RCDT/ESCT",
        )
    if month.payout_minor:
        add(
            last,
            month.payout_minor,
            "STRIPE PAYOUT",
            end_to_end_id=TRACE_ID,
            counterparty_name="STRIPE",
            bank_code="PMNT/RCDT/ESCT",
        )
    add(last, -350, "COMMISSIONI SU BONIFICI DEL MESE", bank_code="ACMT/MDOP/CHRG")
    return lines


def demo_statement(session: Session, month: DemoMonth) -> bytes:
    """The month's camt.053 file, built from the books and the demo's records."""
    before = month.first_day - timedelta(days=1)
    opening = sum(balance(session, code, as_of=before).posted for code in held_accounts(session))
    lines = _lines(session, month)
    statement = ParsedStatement(
        iban=DEMO_IBAN,
        currency="EUR",
        opening_minor=opening,
        closing_minor=opening + sum(x.amount_minor for x in lines),
        opening_on=before,
        closing_on=month.last_day,
        statement_id=f"DEMO-{month.last_day:%Y-%m}",
        lines=tuple(lines),
    )
    return write_camt053([statement], message_id=f"DEMO-{month.last_day:%Y%m%d}")


def _payout(
    session: Session, campaign_id: int, day: date
) -> tuple[PayoutState, list[BalanceTransaction]]:
    gifts = _card_gifts(session, campaign_id)
    transactions = [
        BalanceTransaction(
            id=f"txn_demo_bank_{g.id}",
            type="charge",
            reporting_category="charge",
            source=g.stripe_charge_id,
            amount_minor=g.amount_minor,
            fee_minor=g.fee_minor,
            net_minor=g.amount_minor - g.fee_minor,
            currency=g.currency,
        )
        for g in gifts
    ]
    arrival = int(datetime.combine(day, time(), tzinfo=UTC).timestamp())
    payout = PayoutState(
        id=PAYOUT_ID,
        amount_minor=sum(t.net_minor for t in transactions),
        currency="EUR",
        status="paid",
        arrival_date=arrival,
        automatic=True,
        statement_descriptor="STRIPE",
        trace_id=TRACE_ID,
    )
    return payout, transactions


def month_of(session: Session) -> DemoMonth | None:
    """What the demo's month is made of, read from the books (the same on every run
    once the demo's transfer gifts and payout exist); None before the demo."""
    last_day = anchor_day(session)
    campaign_id = session.scalar(select(Campaign.id).where(Campaign.title == CAMPAIGN_TITLE))
    if last_day is None or campaign_id is None:
        return None
    first_day = last_day.replace(day=1)
    gifts = session.scalars(
        select(Donation)
        .where(Donation.request_key.like(f"%{KEY}gift-%"), Donation.method == "bank_transfer")
        .order_by(Donation.id)
    )
    loan = _first_loan(session)
    sequence, foundation_minor = _foundation_payment(session)
    payout = session.get(StripePayout, PAYOUT_ID)
    return DemoMonth(
        first_day=first_day,
        last_day=last_day,
        campaign_id=campaign_id,
        gifts=tuple((g.id, g.amount_minor, g.transfer_reference or "") for g in gifts),
        loan_id=loan.id if loan is not None else None,
        loan_minor=_two_instalments(session, loan, first_day) if loan is not None else 0,
        fund_cash=_fund_cash(session),
        foundation_sequence=sequence,
        foundation_minor=foundation_minor,
        by_hand=_by_hand(session),
        payout_minor=payout.amount_minor if payout is not None else 0,
    )


def load_demo_bank_month(session: Session, clock: Clock, *, origin: Origin) -> int:
    """Build, import and explain the demo's bank month in the caller's transaction;
    1 if it was loaded now, 0 if it was there already (a second run writes nothing)."""
    if session.scalar(select(BankAccount.id).where(BankAccount.iban == DEMO_IBAN)) is not None:
        return 0
    last_day = anchor_day(session)
    if last_day is None:
        return 0  # the campaigns demo runs first
    campaign_id = session.scalar(select(Campaign.id).where(Campaign.title == CAMPAIGN_TITLE))
    assert campaign_id is not None
    campaign_accounts.ensure_accounts(
        session, clock, [(BANK_FEES, "expense", "Commissioni e spese bancarie")]
    )
    # Two donors pledge a gift by transfer; their transfers arrive the same day.
    for n, amount in enumerate(("80.00", "45.00"), start=1):
        start_transfer_gift(
            session,
            campaign_id,
            Money.parse(amount, "EUR"),
            person_id=None,
            anonymous=False,
            limits=Limits(),
            origin=origin,
            clock=clock,
            key=f"{KEY}gift-{n}",
        )
    payout, transactions = _payout(session, campaign_id, last_day)
    if payout.amount_minor:
        sync_payout(session, payout, transactions, origin=origin, clock=clock)
        # Its entry waits for COMMIT; the month is read from the journal just below.
        flush_journal(session)
    month = month_of(session)
    assert month is not None
    account = create_bank_account(
        session,
        iban=DEMO_IBAN,
        account_code=MIRRORED,
        name="Conto corrente del programma (demo)",
        origin=origin,
        clock=clock,
        key=f"{KEY}account",
    ).value
    if month.fund_cash is not None:  # the loan repayment lands in the fund's cash
        hold_account(
            session,
            DEMO_IBAN,
            month.fund_cash,
            origin=origin,
            clock=clock,
            key=f"{KEY}hold-fund-cash",
        )
    import_statement(
        session,
        DEMO_IBAN,
        demo_statement(session, month),
        format="camt053",
        origin=origin,
        clock=clock,
        key=f"{KEY}import",
    )
    apply_references(session, DEMO_IBAN, origin=origin, clock=clock)
    _explain_the_rest(session, account, month, origin=origin, clock=clock)
    return 1


def _explain_the_rest(
    session: Session, account: BankAccount, month: DemoMonth, *, origin: Origin, clock: Clock
) -> None:
    escrow = campaign_accounts.escrow(month.campaign_id)
    by_hand = {f"BONIFICO {ref}": (gift_id, minor) for gift_id, minor, ref in month.by_hand}
    for view in line_views(session, account, "unexplained"):
        line = session.get(BankLine, view.id)
        assert line is not None
        key = f"{KEY}line-{line.bank_ref}"
        if line.text in by_hand:
            gift_id, minor = by_hand[line.text]
            match_line(
                session, line.id, [("gift", gift_id, minor)], origin=origin, clock=clock, key=key
            )
        elif line.end_to_end_id == "E2E-DEMO-FOUNDATION-1" and month.foundation_sequence:
            match_line(
                session,
                line.id,
                [("entry", month.foundation_sequence, line.amount_minor)],
                origin=origin,
                clock=clock,
                key=key,
            )
        elif line.end_to_end_id == "E2E-DEMO-SUPPLIER-1":
            narration = (
                "Bonifico al fornitore dei cassoni dell'orto (progetto Un orto in cortile)"
                if line.amount_minor < 0
                else "Bonifico al fornitore dei cassoni respinto: conto estinto (AC04)"
            )
            book_line(session, line.id, escrow, narration, origin=origin, clock=clock, key=key)
        elif line.bank_code == "ACMT/MDOP/CHRG":
            book_line(
                session,
                line.id,
                BANK_FEES,
                "Commissioni bancarie sui bonifici del mese",
                origin=origin,
                clock=clock,
                key=key,
            )
    left = line_views(session, account, "unexplained")
    if left:
        raise RuntimeError(f"the demo's bank month left {len(left)} lines unexplained")
