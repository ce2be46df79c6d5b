"""Microloans: products, opening, disbursement, repayments, write-off and recovery.

The mathematics (schedules, allocation, arrears, PAR, write-off amounts) is in
`ledger.funds.loans`; this module stores its results and books them. Entries
(see `ledger.funds.accounts`), each keyed by the domain row it books, so a
retried request never books twice:

    disbursement   Dr loans receivable / Cr fund cash
                   key loan:{id}:disbursement
    repayment      Dr cash / Cr fees, interest, loans receivable, overpayments
                   key loan:{id}:repayment:{row}
    overpayment    Dr overpayments / Cr cash
                   key loan:{id}:overpayment-refund:{row}
    write-off      Dr provision (up to its credit balance) + Dr loan losses
                   / Cr loans receivable; key loan:{id}:write-off
    recovery       Dr cash / Cr recoveries, interest, fees, overpayments
                   key loan:{id}:recovery:{row}

Interest and fees are recognised when received (cash basis), the prudent
choice for microloans to people in difficulty: nothing is booked as interest
receivable, so a write-off removes principal only, and the interest and fees
that fell due unpaid are recorded on the write-off row (and the statement) but
never entered the books. Repaid principal goes back to the fund's cash, so it
is at once available for new loans. A payment beyond what the loan owes is an
overpayment: a liability to the borrower, shown on the loan and the fund, paid
back with `refund_overpayment`; never kept silently.

Each request carries the caller's `key`, stored (namespaced) on the row it
creates: the same key with the same request returns that row; with a different
request it raises IdempotencyConflictError (409) and writes nothing. The use
cases that pages, the API and the CLI call (with their audit events and the
one request-key rule) are in `ledger.funds.loan_commands`.

At about 1,050 lines this module is over the house's 800 on purpose: it is one
loan's life, each step's checks reading what the earlier steps stored (the
pure mathematics is already apart, in `ledger.funds.loans`). The loan's
detail (`loan_detail`) is the first candidate to move out if it grows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ledger.core.balances import balance
from ledger.core.clock import Clock, rome_today
from ledger.core.errors import (
    HoldExpiredError,
    HoldResolvedError,
    IdempotencyConflictError,
    InsufficientFundsError,
)
from ledger.core.holds import resolve_hold
from ledger.core.intents import defer_entry
from ledger.core.journal import EntrySpec, PostingSpec, load_entries, post_entry
from ledger.core.money import Money, format_it
from ledger.core.privacy import check_actor
from ledger.funds import loans as math
from ledger.funds.accounts import FundAccounts
from ledger.funds.errors import (
    FundInsufficientError,
    InvalidLoanError,
    LoanNotFoundError,
    LoanProductNotFoundError,
    LoanStateError,
    ReservationError,
)
from ledger.funds.models import (
    Loan,
    LoanInstalment,
    LoanProductRow,
    LoanRecovery,
    LoanRepayment,
    LoanWriteOff,
    OverpaymentRefund,
)
from ledger.funds.portfolio import loan_state, product_of, repayments_of
from ledger.funds.service import MAX_KEY, available_minor, fund_hold, get_fund
from ledger.payments.references import LOAN, creditor_reference
from ledger.people.models import Person

METHOD_LABELS = {
    "declining_equal_instalments": "rate costanti (ammortamento alla francese)",
    "equal_principal": "quota capitale costante (all'italiana)",
    "flat": "interesse fisso sul capitale iniziale (flat)",
}
ROUNDING_LABELS = {
    "ROUND_HALF_EVEN": "al centesimo più vicino, metà al pari",
    "ROUND_HALF_UP": "al centesimo più vicino, metà per eccesso",
    "ROUND_DOWN": "per difetto",
    "ROUND_UP": "per eccesso",
}


def _whole(value: object, field: str, label: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidLoanError(f"{label}: serve un numero intero.", field=field)
    return value


def _loan_amount(value: object, label: str = "L'importo") -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise InvalidLoanError(
            f"{label} deve essere un numero intero di centesimi maggiore di zero.",
            field="amount",
        )
    return value


def _request_key(loan_scope: str, key: object) -> str:
    if not isinstance(key, str) or not key.strip() or len(key) > MAX_KEY:
        raise InvalidLoanError(
            f"Serve una chiave di idempotenza di 1-{MAX_KEY} caratteri.", field="idempotency_key"
        )
    return f"{loan_scope}:{key}"


def _date(value: object, field: str, label: str) -> date:
    if not isinstance(value, date):
        raise InvalidLoanError(f"{label}: serve una data.", field=field)
    return value


def _not_future(day: date, clock: Clock, label: str, field: str) -> None:
    if day > rome_today(clock):
        raise InvalidLoanError(f"{label} non può essere nel futuro.", field=field)


# --------------------------------------------------------------------------- products
def _rate(annual_rate: object) -> Decimal:
    if isinstance(annual_rate, float | bool) or not isinstance(annual_rate, Decimal | str):
        raise InvalidLoanError(
            'Il tasso annuo è un decimale esatto (es. "0.06" per il 6%), non un float.',
            field="annual_rate",
        )
    try:
        rate = Decimal(annual_rate)
    except InvalidOperation:
        raise InvalidLoanError(
            f"Tasso annuo non valido: {annual_rate}.", field="annual_rate"
        ) from None
    if not rate.is_finite() or rate < 0 or rate > 1:
        raise InvalidLoanError(
            "Il tasso annuo deve essere tra 0 (prestito senza interessi) e 1 (100%).",
            field="annual_rate",
        )
    return rate


def create_loan_product(
    session: Session,
    *,
    fund_id: int,
    name: str,
    min_amount_minor: int,
    max_amount_minor: int,
    annual_rate: Decimal | str,
    method: str,
    min_term_months: int,
    max_term_months: int,
    grace_months: int = 0,
    day_count: str = "30/360",
    rounding: str = "ROUND_HALF_EVEN",
    fee_per_instalment_minor: int = 0,
    clock: Clock,
) -> LoanProductRow:
    """A loan product of fund `fund_id`: the terms its loans are granted on.

    `annual_rate` is a Decimal or decimal string fraction ("0.06" = 6 %; "0"
    allowed); `method` is "declining_equal_instalments", "equal_principal" or
    "flat"; `grace_months` interest-only instalments within the term; `day_count`
    "30/360", "actual/365" or "actual/360"; `rounding` a `decimal` rounding mode
    name applied to instalments and interest (see `ledger.funds.loans`). Every
    field is checked with an Italian message (InvalidLoanError, 422).
    """
    fund = get_fund(session, fund_id)
    clean = " ".join((name or "").split()) if isinstance(name, str) else ""
    if not clean or len(clean) > 200:
        raise InvalidLoanError(
            "Il nome del prodotto è obbligatorio (massimo 200 caratteri).", field="name"
        )
    low = _loan_amount(min_amount_minor, "L'importo minimo")
    high = _loan_amount(max_amount_minor, "L'importo massimo")
    if high < low:
        raise InvalidLoanError("L'importo massimo è inferiore al minimo.", field="max_amount_minor")
    rate = _rate(annual_rate)
    if method not in math.METHODS:
        raise InvalidLoanError(
            f"Metodo di ammortamento sconosciuto: {method}. Possibili: "
            + ", ".join(math.METHODS)
            + ".",
            field="method",
        )
    if day_count not in math.DAY_COUNTS:
        raise InvalidLoanError(
            f"Base di calcolo dei giorni sconosciuta: {day_count}. Possibili: "
            + ", ".join(math.DAY_COUNTS)
            + ".",
            field="day_count",
        )
    if rounding not in math.ROUNDING_MODES:
        raise InvalidLoanError(f"Arrotondamento sconosciuto: {rounding}.", field="rounding")
    term_low = _whole(min_term_months, "min_term_months", "Durata minima")
    term_high = _whole(max_term_months, "max_term_months", "Durata massima")
    grace = _whole(grace_months, "grace_months", "Preammortamento")
    if not 1 <= term_low <= term_high <= 360:
        raise InvalidLoanError(
            "La durata va da 1 a 360 mesi e la minima non supera la massima.",
            field="min_term_months",
        )
    if not 0 <= grace < term_low:
        raise InvalidLoanError(
            "Il preammortamento deve lasciare almeno una rata di rimborso del capitale.",
            field="grace_months",
        )
    fee = _whole(fee_per_instalment_minor, "fee_per_instalment_minor", "Commissione per rata")
    if fee < 0:
        raise InvalidLoanError("La commissione per rata non può essere negativa.", field="fee")
    row = LoanProductRow(
        fund_id=fund.id,
        name=clean,
        currency=fund.currency,
        min_amount_minor=low,
        max_amount_minor=high,
        annual_rate=str(rate),
        method=method,
        min_term_months=term_low,
        max_term_months=term_high,
        grace_months=grace,
        day_count=day_count,
        rounding=rounding,
        fee_per_instalment_minor=fee,
        active=True,
        created_at=clock.now(),
    )
    session.add(row)
    session.flush()
    return row


def get_loan_product(session: Session, product_id: int) -> LoanProductRow:
    row = session.get(LoanProductRow, product_id) if isinstance(product_id, int) else None
    if row is None:
        raise LoanProductNotFoundError(
            f"Nessun prodotto di prestito con id {product_id}.", product_id=str(product_id)
        )
    return row


def list_loan_products(session: Session, fund_id: int | None = None) -> list[LoanProductRow]:
    query = select(LoanProductRow).order_by(LoanProductRow.id)
    if fund_id is not None:
        query = query.where(LoanProductRow.fund_id == fund_id)
    return list(session.scalars(query).all())


# --------------------------------------------------------------------------- loans
def get_loan(session: Session, loan_id: int, *, lock: bool = False) -> Loan:
    """The loan, optionally with its row locked; LoanNotFoundError (404) if none."""
    if isinstance(loan_id, bool) or not isinstance(loan_id, int):
        raise LoanNotFoundError(f"Nessun prestito con id {loan_id}.", loan_id=str(loan_id))
    query = select(Loan).where(Loan.id == loan_id)
    if lock:
        query = query.with_for_update()
    loan = session.scalars(query).one_or_none()
    if loan is None:
        raise LoanNotFoundError(f"Nessun prestito con id {loan_id}.", loan_id=loan_id)
    return loan


def list_loans(
    session: Session, *, fund_id: int | None = None, borrower_person_id: int | None = None
) -> list[Loan]:
    query = select(Loan).order_by(Loan.id)
    if fund_id is not None:
        query = query.where(Loan.fund_id == fund_id)
    if borrower_person_id is not None:
        query = query.where(Loan.borrower_person_id == borrower_person_id)
    return list(session.scalars(query).all())


def loan_under_key(session: Session, fund_id: int, key: str) -> Loan | None:
    """The loan an earlier `open_loan` of fund `fund_id` opened under `key`, if any."""
    request_key = _request_key(f"fund:{fund_id}:loan", key)
    return session.scalars(select(Loan).where(Loan.request_key == request_key)).first()


def open_loan(
    session: Session,
    *,
    fund_id: int,
    product_id: int,
    borrower_person_id: int,
    principal_minor: int,
    term_months: int,
    first_due_on: date,
    hold_id: str | None = None,
    key: str,
    clock: Clock,
    actor: str | None = None,
) -> Loan:
    """Grant a loan (status "approved") and store its schedule; no money moves yet.

    The terms are copied from product `product_id` (which must be this fund's);
    the principal must be within the product's limits and `term_months` within
    its range. Instalments fall monthly on the day of `first_due_on`; the first
    period is a regular month ending on it (see `ledger.funds.loans.schedule`).

    `hold_id`: the reservation made by `ledger.funds.service.reserve(...,
    purpose="loan")` for this loan (e.g. an approved loan award); it must be this
    fund's, open, and at least the principal. `disburse_loan` posts it; without a
    hold the disbursement is checked against the fund's available money then.

    `key` makes the request idempotent: the same key and the same terms return
    the loan already opened; different terms raise IdempotencyConflictError.
    """
    request_key = _request_key(f"fund:{fund_id}:loan", key)
    wanted = (
        fund_id,
        product_id,
        borrower_person_id,
        principal_minor,
        term_months,
        first_due_on,
        hold_id,
    )
    existing = session.scalars(select(Loan).where(Loan.request_key == request_key)).first()
    if existing is not None:
        stored = (
            existing.fund_id,
            existing.product_id,
            existing.borrower_person_id,
            existing.principal_minor,
            existing.term_months,
            existing.first_due_on,
            existing.hold_id,
        )
        if stored != wanted:
            raise IdempotencyConflictError(
                "Questa chiave è già stata usata per un altro prestito; nulla è stato registrato.",
                key=key,
            )
        return existing

    fund = get_fund(session, fund_id)
    product = get_loan_product(session, product_id)
    if product.fund_id != fund.id:
        raise InvalidLoanError(
            f"Il prodotto {product.id} non è del fondo {fund.id}.", field="product_id"
        )
    if not product.active:
        raise LoanStateError(f"Il prodotto {product.id} non è più attivo.")
    if not isinstance(borrower_person_id, int) or session.get(Person, borrower_person_id) is None:
        raise InvalidLoanError("Il beneficiario indicato non esiste.", field="borrower_person_id")
    principal = _loan_amount(principal_minor, "Il capitale")
    if not product.min_amount_minor <= principal <= product.max_amount_minor:
        raise InvalidLoanError(
            f"Il capitale deve essere tra {format_it(product.min_amount_minor, fund.currency)} "
            f"e {format_it(product.max_amount_minor, fund.currency)}.",
            field="principal_minor",
        )
    term = _whole(term_months, "term_months", "Durata")
    if not product.min_term_months <= term <= product.max_term_months:
        raise InvalidLoanError(
            f"La durata deve essere tra {product.min_term_months} e "
            f"{product.max_term_months} mesi.",
            field="term_months",
        )
    first_due = _date(first_due_on, "first_due_on", "Prima scadenza")
    check_actor(actor)
    if hold_id is not None:
        hold = fund_hold(session, fund.id, hold_id)
        if hold.debit_account != FundAccounts(fund.id).loans_receivable:
            raise ReservationError(
                f"L'impegno {hold_id} è per un contributo, non per un prestito.",
                hold_id=hold_id,
            )
        if hold.status != "open":
            raise ReservationError(f"L'impegno {hold_id} non è più aperto.", hold_id=hold_id)
        if hold.amount.minor < principal:
            raise ReservationError(
                f"L'impegno di {format_it(hold.amount.minor, fund.currency)} è inferiore "
                f"al capitale di {format_it(principal, fund.currency)}.",
                hold_id=hold_id,
            )
        if session.scalar(select(Loan.id).where(Loan.hold_id == hold_id)) is not None:
            raise ReservationError(
                f"L'impegno {hold_id} è già di un altro prestito.", hold_id=hold_id
            )
    terms = math.LoanProduct(
        min_amount=product.min_amount_minor,
        max_amount=product.max_amount_minor,
        annual_rate=product.rate,
        method=product.method,  # type: ignore[arg-type]
        term_months=term,
        grace_months=product.grace_months,
        day_count=product.day_count,  # type: ignore[arg-type]
        rounding=product.rounding,
        fee_per_instalment=product.fee_per_instalment_minor,
    )
    instalments = math.schedule(terms, principal, first_due)
    loan = Loan(
        fund_id=fund.id,
        product_id=product.id,
        borrower_person_id=borrower_person_id,
        principal_minor=principal,
        currency=fund.currency,
        term_months=term,
        annual_rate=product.annual_rate,
        method=product.method,
        grace_months=product.grace_months,
        day_count=product.day_count,
        rounding=product.rounding,
        fee_per_instalment_minor=product.fee_per_instalment_minor,
        first_due_on=first_due,
        status="approved",
        hold_id=hold_id,
        request_key=request_key,
        created_at=clock.now(),
        created_by=actor,
    )
    session.add(loan)
    session.flush()
    loan.transfer_reference = creditor_reference(LOAN, loan.id)
    session.add_all(
        LoanInstalment(
            loan_id=loan.id,
            number=i.number,
            due_on=i.due_on,
            starts_on=i.starts_on,
            days=i.days,
            principal_minor=i.principal,
            interest_minor=i.interest,
            fee_minor=i.fee,
            total_minor=i.total,
            balance_after_minor=i.balance_after,
        )
        for i in instalments
    )
    session.flush()
    return loan


def disburse_loan(
    session: Session,
    loan_id: int,
    *,
    key: str | None = None,
    clock: Clock,
    actor: str | None = None,
    disbursed_on: date | None = None,
) -> Loan:
    """Pay an approved loan out: Dr loans receivable, Cr fund cash (kind `loan_disbursement`).

    With a reservation (`Loan.hold_id`) the hold is posted for the principal
    (any rest of it is released); without one the fund's available money must
    cover the principal, else FundInsufficientError (409) and nothing written.
    `disbursed_on` (default today in Europe/Rome) must be before the first due
    date and not in the future. The entry key is ``loan:{id}:disbursement``, so a
    loan is disbursed once whatever `key` a retry carries (`key` is accepted for
    symmetry with the other requests and not needed); disbursing a loan already
    disbursed returns it unchanged.
    """
    loan = get_loan(session, loan_id, lock=True)
    if loan.status == "disbursed" or (loan.status in ("repaid", "written_off")):
        return loan
    if loan.status != "approved":
        raise LoanStateError(
            f"Il prestito {loan.id} è {loan.status}: non si eroga.", status=loan.status
        )
    fund = get_fund(session, loan.fund_id)
    day = disbursed_on or rome_today(clock)
    _date(day, "disbursed_on", "Data di erogazione")
    _not_future(day, clock, "La data di erogazione", "disbursed_on")
    if day >= loan.first_due_on:
        raise InvalidLoanError(
            "La prima rata scadrebbe prima dell'erogazione: erogare prima del "
            f"{loan.first_due_on.strftime('%d/%m/%Y')}.",
            field="disbursed_on",
        )
    check_actor(actor)
    accounts = FundAccounts(fund.id)
    money = Money(loan.principal_minor, fund.currency)
    entry_key = f"loan:{loan.id}:disbursement"
    narration = f"Erogazione del prestito {loan.id} dal fondo {fund.id}"
    if loan.hold_id is not None:
        try:
            result = resolve_hold(
                session,
                loan.hold_id,
                outcome="posted",
                idempotency_key=entry_key,
                clock=clock,
                amount=money,
                effective_on=day,
                narration=narration,
                actor=actor,
            )
        except (HoldResolvedError, HoldExpiredError) as exc:
            raise ReservationError(
                f"L'impegno del prestito {loan.id} non è più aperto ({exc.code}).",
                hold_id=loan.hold_id,
            ) from None
        assert result.hold.entry_id is not None
        sequence = load_entries(session, [result.hold.entry_id])[result.hold.entry_id].sequence
    else:
        try:
            posted = post_entry(
                session,
                EntrySpec(
                    idempotency_key=entry_key,
                    kind="loan_disbursement",
                    postings=[
                        PostingSpec(accounts.loans_receivable, money),
                        PostingSpec(accounts.cash, -money),
                    ],
                    effective_on=day,
                    narration=narration,
                    metadata={"fund_id": fund.id, "loan_id": loan.id},
                    actor=actor,
                ),
                clock=clock,
            )
        except InsufficientFundsError:
            available = available_minor(session, fund.id)
            raise FundInsufficientError(
                f"Il fondo {fund.id} non ha abbastanza disponibilità per erogare il prestito "
                f"{loan.id}: servono {format_it(money.minor, fund.currency)}, disponibili "
                f"{format_it(available, fund.currency)}. Nulla è stato registrato.",
                fund_id=fund.id,
                requested_minor=money.minor,
                available_minor=available,
            ) from None
        sequence = posted.entry.sequence
    loan.status = "disbursed"
    loan.disbursed_on = day
    loan.disbursement_sequence = sequence
    session.flush()
    return loan


def cancel_loan(session: Session, loan_id: int, *, clock: Clock, actor: str | None = None) -> Loan:
    """Cancel an approved loan that was never disbursed; its reservation is released."""
    loan = get_loan(session, loan_id, lock=True)
    if loan.status == "cancelled":
        return loan
    if loan.status != "approved":
        raise LoanStateError(
            f"Il prestito {loan.id} è {loan.status}: solo un prestito non erogato si annulla.",
            status=loan.status,
        )
    if loan.hold_id is not None:
        resolve_hold(
            session,
            loan.hold_id,
            outcome="voided",
            idempotency_key=f"loan:{loan.id}:cancel",
            clock=clock,
            actor=actor,
        )
    loan.status = "cancelled"
    loan.closed_on = rome_today(clock)
    session.flush()
    return loan


# --------------------------------------------------------------------------- repayments
def _post(
    session: Session,
    *,
    key: str,
    kind: str,
    legs: list[tuple[str, int]],
    currency: str,
    on: date,
    narration: str,
    metadata: dict[str, Any],
    actor: str | None,
    clock: Clock,
) -> str:
    """Decide the entry now and write it when the unit commits; return its id.

    The fund's cash is checked (and locked) at the call, so a short fund is refused
    here; the journal head is taken only at COMMIT (docs/journal-writes.md 2.3).
    """
    postings = [PostingSpec(code, Money(amount, currency)) for code, amount in legs if amount]
    ref = defer_entry(
        session,
        EntrySpec(
            idempotency_key=key,
            kind=kind,
            postings=postings,
            effective_on=on,
            narration=narration,
            metadata=metadata,
            actor=actor,
        ),
        clock=clock,
    )
    return ref.id


def _replayed(row: Any, same: bool, key: str) -> None:
    if not same:
        raise IdempotencyConflictError(
            "Questa chiave è già stata usata per un'altra registrazione; nulla è stato registrato.",
            key=key,
        )


def record_repayment(
    session: Session,
    loan_id: int,
    amount_minor: int,
    *,
    received_on: date,
    key: str,
    clock: Clock,
    actor: str | None = None,
) -> LoanRepayment:
    """Record money received from the borrower and book it, allocated as the mathematics says.

    Allocation (`ledger.funds.loans.allocate_repayment`): instalments due on or
    before `received_on`, oldest first, each fees -> interest -> principal; then,
    if the rest covers the payoff, early repayment of the whole loan (accrued
    interest only); otherwise the next instalments in advance; anything beyond
    is an overpayment credited to the fund's overpayments liability. The loan is
    "repaid" once nothing is owed. `received_on` may not be in the future, before
    the disbursement or before the loan's latest repayment. Refused on a loan
    not disbursed (LoanStateError, 409); use `record_recovery` once written off.
    """
    request_key = _request_key(f"loan:{loan_id}:repayment", key)
    existing = session.scalars(
        select(LoanRepayment).where(LoanRepayment.request_key == request_key)
    ).first()
    if existing is not None:
        _replayed(
            existing,
            (existing.amount_minor, existing.received_on) == (amount_minor, received_on),
            key,
        )
        return existing
    loan = get_loan(session, loan_id, lock=True)
    amount = _loan_amount(amount_minor, "Il pagamento")
    day = _date(received_on, "received_on", "Data del pagamento")
    check_actor(actor)
    if loan.status == "written_off":
        raise LoanStateError(
            f"Il prestito {loan.id} è stato stralciato: registrare un recupero.",
            status=loan.status,
        )
    if loan.status == "repaid":
        raise LoanStateError(f"Il prestito {loan.id} è già estinto.", status=loan.status)
    if loan.status != "disbursed" or loan.disbursed_on is None:
        raise LoanStateError(f"Il prestito {loan.id} non è stato erogato.", status=loan.status)
    _not_future(day, clock, "La data del pagamento", "received_on")
    if day < loan.disbursed_on:
        raise InvalidLoanError(
            "La data del pagamento è precedente all'erogazione.", field="received_on"
        )
    earlier = repayments_of(session, loan.id)
    if earlier and day < earlier[-1].received_on:
        raise InvalidLoanError(
            "La data del pagamento è precedente all'ultimo pagamento registrato "
            f"({earlier[-1].received_on.strftime('%d/%m/%Y')}).",
            field="received_on",
        )
    allocation = math.allocate_repayment(loan_state(session, loan), amount, day)
    row = LoanRepayment(
        loan_id=loan.id,
        amount_minor=amount,
        currency=loan.currency,
        received_on=day,
        fees_minor=allocation.fees,
        interest_minor=allocation.interest,
        principal_minor=allocation.principal,
        overpayment_minor=allocation.overpayment,
        paid_off_early=allocation.paid_off_early,
        waived_interest_minor=allocation.waived_interest,
        waived_fees_minor=allocation.waived_fees,
        request_key=request_key,
        created_at=clock.now(),
        recorded_by=actor,
    )
    session.add(row)
    session.flush()
    accounts = FundAccounts(loan.fund_id)
    row.entry_id = _post(
        session,
        key=f"loan:{loan.id}:repayment:{row.id}",
        kind="repayment",
        legs=[
            (accounts.cash, amount),
            (accounts.fees, -allocation.fees),
            (accounts.interest, -allocation.interest),
            (accounts.loans_receivable, -allocation.principal),
            (accounts.overpayments, -allocation.overpayment),
        ],
        currency=loan.currency,
        on=day,
        narration=f"Rimborso del prestito {loan.id} (pagamento {row.id})",
        metadata={"fund_id": loan.fund_id, "loan_id": loan.id, "repayment_id": row.id},
        actor=actor,
        clock=clock,
    )
    if allocation.state_after.unpaid == 0:
        loan.status = "repaid"
        loan.closed_on = day
    session.flush()
    return row


def overpayment_owed(session: Session, loan_id: int) -> int:
    """What the fund owes the borrower: overpayments and recovery excess less refunds."""
    over = session.scalar(
        select(func.coalesce(func.sum(LoanRepayment.overpayment_minor), 0)).where(
            LoanRepayment.loan_id == loan_id
        )
    )
    excess = session.scalar(
        select(func.coalesce(func.sum(LoanRecovery.excess_minor), 0)).where(
            LoanRecovery.loan_id == loan_id
        )
    )
    refunded = session.scalar(
        select(func.coalesce(func.sum(OverpaymentRefund.amount_minor), 0)).where(
            OverpaymentRefund.loan_id == loan_id
        )
    )
    return int(over or 0) + int(excess or 0) - int(refunded or 0)


def refund_overpayment(
    session: Session,
    loan_id: int,
    amount_minor: int,
    *,
    key: str,
    clock: Clock,
    actor: str | None = None,
    refunded_on: date | None = None,
) -> OverpaymentRefund:
    """Pay back to the borrower money paid beyond what the loan owed (Dr overpayments, Cr cash)."""
    request_key = _request_key(f"loan:{loan_id}:overpayment-refund", key)
    existing = session.scalars(
        select(OverpaymentRefund).where(OverpaymentRefund.request_key == request_key)
    ).first()
    if existing is not None:
        _replayed(existing, existing.amount_minor == amount_minor, key)
        return existing
    loan = get_loan(session, loan_id, lock=True)
    amount = _loan_amount(amount_minor, "L'importo da restituire")
    day = refunded_on or rome_today(clock)
    _not_future(day, clock, "La data della restituzione", "refunded_on")
    check_actor(actor)
    owed = overpayment_owed(session, loan.id)
    if amount > owed:
        raise InvalidLoanError(
            f"Al beneficiario del prestito {loan.id} sono dovuti "
            f"{format_it(owed, loan.currency)}: non si restituisce di più.",
            field="amount",
            owed_minor=owed,
        )
    row = OverpaymentRefund(
        loan_id=loan.id,
        amount_minor=amount,
        refunded_on=day,
        request_key=request_key,
        created_at=clock.now(),
        recorded_by=actor,
    )
    session.add(row)
    session.flush()
    accounts = FundAccounts(loan.fund_id)
    try:
        row.entry_id = _post(
            session,
            key=f"loan:{loan.id}:overpayment-refund:{row.id}",
            kind="overpayment_refund",
            legs=[(accounts.overpayments, amount), (accounts.cash, -amount)],
            currency=loan.currency,
            on=day,
            narration=f"Restituzione dell'eccedenza pagata sul prestito {loan.id}",
            metadata={"fund_id": loan.fund_id, "loan_id": loan.id, "refund_id": row.id},
            actor=actor,
            clock=clock,
        )
    except InsufficientFundsError:
        raise FundInsufficientError(
            f"Il fondo {loan.fund_id} non ha abbastanza disponibilità per la restituzione.",
            fund_id=loan.fund_id,
        ) from None
    session.flush()
    return row


# --------------------------------------------------------------------------- write-off
def write_off_loan(
    session: Session,
    loan_id: int,
    *,
    key: str,
    clock: Clock,
    actor: str | None = None,
    on: date | None = None,
) -> LoanWriteOff:
    """Write a disbursed loan off on `on` (default today): it leaves the portfolio.

    The outstanding principal is removed from loans receivable, charged first to
    the loan-loss provision (up to its credit balance) and the rest to the loss
    expense. Interest and fees due and unpaid are recorded on the row (they were
    never booked: interest is recognised when received). One write-off per loan.
    """
    request_key = _request_key(f"loan:{loan_id}:write-off", key)
    existing = session.scalars(select(LoanWriteOff).where(LoanWriteOff.loan_id == loan_id)).first()
    if existing is not None:
        _replayed(existing, existing.request_key == request_key, key)
        return existing
    loan = get_loan(session, loan_id, lock=True)
    if loan.status != "disbursed":
        raise LoanStateError(
            f"Il prestito {loan.id} è {loan.status}: si stralcia solo un prestito in corso.",
            status=loan.status,
        )
    day = on or rome_today(clock)
    _date(day, "on", "Data dello stralcio")
    _not_future(day, clock, "La data dello stralcio", "on")
    assert loan.disbursed_on is not None
    if day < loan.disbursed_on:
        raise InvalidLoanError("Lo stralcio precede l'erogazione.", field="on")
    check_actor(actor)
    amounts = math.write_off_amounts(loan_state(session, loan), day)
    accounts = FundAccounts(loan.fund_id)
    # The fund's row, locked to COMMIT, serialises the fund's write-offs: two loans
    # written off at once would otherwise both read the whole provision and both
    # charge it (the provision is not a checked row, so nothing else would refuse).
    get_fund(session, loan.fund_id, lock=True)
    provision = max(-balance(session, accounts.provision).posted, 0)
    from_provision = min(amounts.principal, provision)
    row = LoanWriteOff(
        loan_id=loan.id,
        written_off_on=day,
        principal_minor=amounts.principal,
        interest_minor=amounts.interest,
        fees_minor=amounts.fees,
        from_provision_minor=from_provision,
        request_key=request_key,
        created_at=clock.now(),
        recorded_by=actor,
    )
    session.add(row)
    session.flush()
    if amounts.principal == 0:
        # Nothing on the books to remove (interest and fees were never booked): the
        # loan closes with its row and no entry.
        loan.status = "written_off"
        loan.closed_on = day
        session.flush()
        return row
    row.entry_id = _post(
        session,
        key=f"loan:{loan.id}:write-off",
        kind="write_off",
        legs=[
            (accounts.provision, from_provision),
            (accounts.loan_losses, amounts.principal - from_provision),
            (accounts.loans_receivable, -amounts.principal),
        ],
        currency=loan.currency,
        on=day,
        narration=f"Stralcio del prestito {loan.id}",
        metadata={"fund_id": loan.fund_id, "loan_id": loan.id},
        actor=actor,
        clock=clock,
    )
    loan.status = "written_off"
    loan.closed_on = day
    session.flush()
    return row


def record_recovery(
    session: Session,
    loan_id: int,
    amount_minor: int,
    *,
    received_on: date,
    key: str,
    clock: Clock,
    actor: str | None = None,
) -> LoanRecovery:
    """Money received on a written-off loan: principal, then interest, then fees.

    Dr cash; Cr recoveries (the principal part), interest and fee income; what
    exceeds everything written off is owed back to the payer (overpayments).
    """
    request_key = _request_key(f"loan:{loan_id}:recovery", key)
    existing = session.scalars(
        select(LoanRecovery).where(LoanRecovery.request_key == request_key)
    ).first()
    if existing is not None:
        _replayed(
            existing,
            (existing.amount_minor, existing.received_on) == (amount_minor, received_on),
            key,
        )
        return existing
    loan = get_loan(session, loan_id, lock=True)
    amount = _loan_amount(amount_minor, "Il recupero")
    day = _date(received_on, "received_on", "Data del recupero")
    check_actor(actor)
    written = session.scalars(select(LoanWriteOff).where(LoanWriteOff.loan_id == loan.id)).first()
    if loan.status != "written_off" or written is None:
        raise LoanStateError(
            f"Il prestito {loan.id} non è stato stralciato: registrare un rimborso.",
            status=loan.status,
        )
    _not_future(day, clock, "La data del recupero", "received_on")
    if day < written.written_off_on:
        raise InvalidLoanError("Il recupero precede lo stralcio.", field="received_on")
    before = session.execute(
        select(
            func.coalesce(func.sum(LoanRecovery.principal_minor), 0),
            func.coalesce(func.sum(LoanRecovery.interest_minor), 0),
            func.coalesce(func.sum(LoanRecovery.fees_minor), 0),
        ).where(LoanRecovery.loan_id == loan.id)
    ).one()
    split = math.split_recovery(
        math.WriteOff(written.principal_minor, written.interest_minor, written.fees_minor),
        amount,
        recovered_before=math.WriteOff(int(before[0]), int(before[1]), int(before[2])),
    )
    row = LoanRecovery(
        loan_id=loan.id,
        amount_minor=amount,
        received_on=day,
        principal_minor=split.principal,
        interest_minor=split.interest,
        fees_minor=split.fees,
        excess_minor=split.excess,
        request_key=request_key,
        created_at=clock.now(),
        recorded_by=actor,
    )
    session.add(row)
    session.flush()
    accounts = FundAccounts(loan.fund_id)
    row.entry_id = _post(
        session,
        key=f"loan:{loan.id}:recovery:{row.id}",
        kind="recovery",
        legs=[
            (accounts.cash, amount),
            (accounts.recoveries, -split.principal),
            (accounts.interest, -split.interest),
            (accounts.fees, -split.fees),
            (accounts.overpayments, -split.excess),
        ],
        currency=loan.currency,
        on=day,
        narration=f"Recupero sul prestito stralciato {loan.id} (recupero {row.id})",
        metadata={"fund_id": loan.fund_id, "loan_id": loan.id, "recovery_id": row.id},
        actor=actor,
        clock=clock,
    )
    session.flush()
    return row


# --------------------------------------------------------------------------- views
@dataclass(frozen=True, slots=True)
class ScheduleLine:
    """One instalment with what has been paid on it so far."""

    number: int
    due_on: date
    principal_minor: int
    interest_minor: int
    fee_minor: int
    total_minor: int
    balance_after_minor: int
    paid_minor: int
    waived_minor: int
    unpaid_minor: int


@dataclass(frozen=True, slots=True)
class LoanDetail:
    """A loan, its schedule with payments, and its standing on `on`."""

    loan: Loan
    product_name: str
    lines: tuple[ScheduleLine, ...]
    repayments: tuple[LoanRepayment, ...]
    write_off: LoanWriteOff | None
    recoveries: tuple[LoanRecovery, ...]
    refunds: tuple[OverpaymentRefund, ...]
    outstanding_principal_minor: int
    days_past_due: int
    arrears_minor: int
    overpayment_owed_minor: int
    payoff_minor: int
    on: date
    total_interest_minor: int
    method_label: str
    rounding_label: str


def loan_detail(session: Session, loan_id: int, *, on: date) -> LoanDetail:
    """Everything a loan page or statement shows, computed from the stored rows."""
    loan = get_loan(session, loan_id)
    product = get_loan_product(session, loan.product_id)
    state = loan_state(session, loan)
    lines = tuple(
        ScheduleLine(
            number=s.number,
            due_on=s.due_on,
            principal_minor=s.instalment.principal,
            interest_minor=s.instalment.interest,
            fee_minor=s.instalment.fee,
            total_minor=s.instalment.total,
            balance_after_minor=s.instalment.balance_after,
            paid_minor=s.fee_paid + s.interest_paid + s.principal_paid,
            waived_minor=s.fee_waived + s.interest_waived,
            unpaid_minor=s.unpaid,
        )
        for s in state.instalments
    )
    write_off = session.scalars(select(LoanWriteOff).where(LoanWriteOff.loan_id == loan.id)).first()
    recoveries = tuple(
        session.scalars(
            select(LoanRecovery).where(LoanRecovery.loan_id == loan.id).order_by(LoanRecovery.id)
        ).all()
    )
    refunds = tuple(
        session.scalars(
            select(OverpaymentRefund)
            .where(OverpaymentRefund.loan_id == loan.id)
            .order_by(OverpaymentRefund.id)
        ).all()
    )
    active = loan.status == "disbursed"
    payoff = 0
    if active and state.unpaid:
        payoff = math.payoff_amount(state, on).total
    return LoanDetail(
        loan=loan,
        product_name=product.name,
        lines=lines,
        repayments=tuple(repayments_of(session, loan.id)),
        write_off=write_off,
        recoveries=recoveries,
        refunds=refunds,
        outstanding_principal_minor=(state.outstanding_principal if active else 0),
        days_past_due=math.days_past_due(state, on) if active else 0,
        arrears_minor=math.arrears_amount(state, on) if active else 0,
        overpayment_owed_minor=overpayment_owed(session, loan.id),
        payoff_minor=payoff,
        on=on,
        total_interest_minor=sum(line.interest_minor for line in lines),
        method_label=METHOD_LABELS.get(loan.method, loan.method),
        rounding_label=ROUNDING_LABELS.get(loan.rounding, loan.rounding),
    )


__all__ = [
    "LoanDetail",
    "ScheduleLine",
    "cancel_loan",
    "create_loan_product",
    "disburse_loan",
    "get_loan",
    "get_loan_product",
    "list_loan_products",
    "list_loans",
    "loan_detail",
    "open_loan",
    "product_of",
    "record_recovery",
    "record_repayment",
    "refund_overpayment",
    "write_off_loan",
]
