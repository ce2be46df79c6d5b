"""Funds: creation, money in, reservations, grant payments and the fund's position.

A fund is a microgrant fund or a revolving microcredit fund with its own
accounts (see `ledger.funds.accounts` for the chart and every entry). The rule
that matters most: **a fund never commits or pays more than it holds**. Its
cash account is `no_overdraft`; a commitment is an engine hold on that cash
(`reserve`), so the available money (cash posted less open reservations) falls
when the commitment is made, and the engine refuses under the balance row lock
any reservation or payment that would take it below zero, also when two
requests race. A refusal raises `FundInsufficientError` (409) and writes nothing.

Every service takes the caller's session and never commits. Every money
movement is one engine entry (or hold) whose idempotency key is derived from
the caller's `key` and the operation (``fund:{id}:{operation}:{key}``): a retry
with the same key and the same request returns what the first call wrote; the
same key with a different request raises `IdempotencyConflictError` (409).
Callers derive `key` from their own domain row (e.g. ``award:7:tranche:2``), so
a retried job never books twice. Narrations and metadata carry ids, never
personal data.

Loans (products, opening, disbursement, repayments, write-off, recovery) live in
`ledger.funds.lending`, which builds on this module (never the reverse).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.core.balances import balance
from ledger.core.clock import Clock, SystemClock, rome_today
from ledger.core.errors import (
    HoldNotFoundError,
    InsufficientFundsError,
    PersonalDataError,
    UnknownCurrencyError,
)
from ledger.core.holds import HoldSpec, HoldView, create_hold, get_hold, resolve_hold
from ledger.core.journal import EntrySpec, PostingSpec, load_entries, lookup_keys, post_entry
from ledger.core.money import Money, exponent, format_it
from ledger.core.privacy import check_actor, refuse_personal_text
from ledger.funds.accounts import FundAccounts, open_fund_accounts
from ledger.funds.errors import (
    FundInsufficientError,
    FundNotFoundError,
    InvalidFundError,
    ReservationError,
)
from ledger.funds.models import FUND_KINDS, FUND_SOURCES, RESERVATION_PURPOSES, Fund
from ledger.funds.portfolio import portfolio

# A caller's key plus the longest prefix put before it ("loan:<id>:overpayment-refund:")
# still fits the 255 characters of an idempotency key or request key column.
MAX_KEY = 216
PURPOSE_LABELS = {"grant": "contributo", "loan": "prestito"}
SOURCE_LABELS = {
    "donation": "donazioni",
    "foundation_grant": "contributo di fondazione",
    "transfer": "trasferimento",
}


# --------------------------------------------------------------------------- helpers
def check_amount(amount_minor: object, what: str = "importo") -> int:
    """A positive whole number of minor units, or InvalidFundError naming `what`."""
    if isinstance(amount_minor, bool) or not isinstance(amount_minor, int) or amount_minor <= 0:
        raise InvalidFundError(
            f"L'{what} deve essere un numero intero di centesimi maggiore di zero.",
            field="amount",
        )
    return amount_minor


def _check_key(key: object) -> str:
    if not isinstance(key, str) or not key.strip() or len(key) > MAX_KEY:
        raise InvalidFundError(
            f"Serve una chiave di idempotenza di 1-{MAX_KEY} caratteri (derivata dalla riga "
            "che la operazione registra).",
            field="key",
        )
    return key


def engine_key(fund_id: int, operation: str, key: str) -> str:
    """The idempotency key of the engine entry or hold of a fund operation."""
    return f"fund:{fund_id}:{operation}:{_check_key(key)}"


def _reference(reference: str | None) -> str | None:
    if reference is None:
        return None
    if not isinstance(reference, str) or len(reference) > 120:
        raise InvalidFundError(
            "Il riferimento è un testo di al massimo 120 caratteri.", field="reference"
        )
    try:
        refuse_personal_text(reference, "reference")
    except PersonalDataError:
        raise InvalidFundError(
            "Il riferimento sembra contenere dati personali (un'e-mail, un codice fiscale o "
            "un IBAN): il giornale non si cancella, scrivi solo un numero o una causale.",
            field="reference",
        ) from None
    return reference.strip() or None


def _short(fund: Fund, minor: int, available: int, what: str) -> FundInsufficientError:
    return FundInsufficientError(
        f"Il fondo {fund.id} non ha abbastanza disponibilità per {what}: servono "
        f"{format_it(minor, fund.currency)}, disponibili {format_it(available, fund.currency)}. "
        "Nulla è stato registrato.",
        fund_id=fund.id,
        requested_minor=minor,
        available_minor=available,
    )


def available_minor(session: Session, fund_id: int) -> int:
    """Cash posted less open reservations (what the fund can still commit or pay)."""
    return balance(session, FundAccounts(fund_id).cash).available


# --------------------------------------------------------------------------- funds
def create_fund(
    session: Session,
    *,
    name: str,
    kind: str,
    currency: str = "EUR",
    clock: Clock,
    actor: str | None = None,
) -> Fund:
    """Create a fund and open its accounts (see `ledger.funds.accounts`).

    `kind` is "microgrant" (pays grants that are not repaid) or "revolving"
    (lends microloans whose repayments refill it; it may also pay grants).
    The fund starts empty: money enters with `deposit`.
    Raises InvalidFundError (422) for an empty or over-long name, an unknown kind
    or currency.
    """
    clean = " ".join((name or "").split()) if isinstance(name, str) else ""
    if not clean or len(clean) > 200:
        raise InvalidFundError(
            "Il nome del fondo è obbligatorio (massimo 200 caratteri).", field="name"
        )
    if kind not in FUND_KINDS:
        raise InvalidFundError(
            f"Tipo di fondo sconosciuto: {kind}. Possibili: microgrant, revolving.", field="kind"
        )
    try:
        exponent(currency)
    except UnknownCurrencyError:
        raise InvalidFundError(f"Valuta sconosciuta: {currency}.", field="currency") from None
    check_actor(actor)
    fund = Fund(name=clean, kind=kind, currency=currency, created_at=clock.now(), created_by=actor)
    session.add(fund)
    session.flush()
    open_fund_accounts(session, fund.id, currency, clock=clock)
    return fund


def get_fund(session: Session, fund_id: int, *, lock: bool = False) -> Fund:
    """The fund, optionally with its row locked; FundNotFoundError (404) if none."""
    if isinstance(fund_id, bool) or not isinstance(fund_id, int):
        raise FundNotFoundError(f"nessun fondo con id {fund_id}", fund_id=str(fund_id))
    query = select(Fund).where(Fund.id == fund_id)
    if lock:
        query = query.with_for_update()
    fund = session.scalars(query).one_or_none()
    if fund is None:
        raise FundNotFoundError(f"Nessun fondo con id {fund_id}.", fund_id=fund_id)
    return fund


def list_funds(session: Session) -> list[Fund]:
    """Every fund, oldest first."""
    return list(session.scalars(select(Fund).order_by(Fund.id)).all())


@dataclass(frozen=True, slots=True)
class Booked:
    """An entry a fund operation wrote (or found, on a retry: created=False)."""

    entry_id: str
    sequence: int
    amount_minor: int
    created: bool


def deposit(
    session: Session,
    fund_id: int,
    amount_minor: int,
    *,
    source: str,
    key: str,
    clock: Clock,
    actor: str | None = None,
    effective_on: date | None = None,
    reference: str | None = None,
) -> Booked:
    """Money in: Dr fund cash, Cr fund capital, `source` on the entry's metadata.

    `source` is "donation", "foundation_grant" or "transfer" (statements show
    money in by source). `reference` is an optional non-personal text (e.g. a
    bank reference or "campaign:12"). Entry kind `fund_deposit`; the engine key
    is ``fund:{fund_id}:deposit:{key}``.
    """
    fund = get_fund(session, fund_id)
    amount = check_amount(amount_minor)
    if source not in FUND_SOURCES:
        raise InvalidFundError(
            f"Provenienza sconosciuta: {source}. Possibili: donation, foundation_grant, transfer.",
            field="source",
        )
    accounts = FundAccounts(fund.id)
    metadata: dict[str, Any] = {"fund_id": fund.id, "source": source}
    ref = _reference(reference)
    if ref is not None:
        metadata["reference"] = ref
    result = post_entry(
        session,
        EntrySpec(
            idempotency_key=engine_key(fund.id, "deposit", key),
            kind="fund_deposit",
            postings=[
                PostingSpec(accounts.cash, Money(amount, fund.currency)),
                PostingSpec(accounts.capital, Money(-amount, fund.currency)),
            ],
            effective_on=effective_on,
            narration=f"Entrata nel fondo {fund.id}: {SOURCE_LABELS[source]}",
            metadata=metadata,
            actor=actor,
        ),
        clock=clock,
    )
    return Booked(result.entry.id, result.entry.sequence, amount, result.created)


# --------------------------------------------------------------------------- position
@dataclass(frozen=True, slots=True)
class FundPosition:
    """Where a fund stands, in minor units of `currency` (positive amounts).

    cash_minor is the dedicated account's posted balance; committed_minor the
    open reservations on it; available_minor = cash - committed, what can still
    be committed or paid. loans_outstanding_minor is the loans-receivable
    balance (principal lent, not repaid nor written off); provision_minor the
    credit balance set aside for losses. par30 is a fraction (Decimal("0.04")
    is 4 %), computed on `on`.
    """

    fund_id: int
    currency: str
    cash_minor: int
    committed_minor: int
    available_minor: int
    capital_minor: int
    loans_outstanding_minor: int
    provision_minor: int
    grants_paid_minor: int
    interest_income_minor: int
    fee_income_minor: int
    recoveries_minor: int
    loan_losses_minor: int
    overpayments_owed_minor: int
    loans_active: int
    loans_at_risk: int
    at_risk_minor: int
    par30: Decimal
    on: date


def fund_position(session: Session, fund_id: int, *, on: date | None = None) -> FundPosition:
    """The fund's balances from the engine and its portfolio at risk on `on` (default today)."""
    fund = get_fund(session, fund_id)
    accounts = FundAccounts(fund.id)
    cash = balance(session, accounts.cash)
    day = on or rome_today(SystemClock())
    book = portfolio(session, fund.id, day)
    return FundPosition(
        fund_id=fund.id,
        currency=fund.currency,
        cash_minor=cash.posted,
        committed_minor=cash.pending,
        available_minor=cash.available,
        capital_minor=balance(session, accounts.capital).posted,
        loans_outstanding_minor=balance(session, accounts.loans_receivable).posted,
        provision_minor=-balance(session, accounts.provision).posted,
        grants_paid_minor=balance(session, accounts.grants).posted,
        interest_income_minor=balance(session, accounts.interest).posted,
        fee_income_minor=balance(session, accounts.fees).posted,
        recoveries_minor=balance(session, accounts.recoveries).posted,
        loan_losses_minor=balance(session, accounts.loan_losses).posted,
        overpayments_owed_minor=balance(session, accounts.overpayments).posted,
        loans_active=len(book.loans),
        loans_at_risk=book.late_count,
        at_risk_minor=book.at_risk_minor,
        par30=book.par30,
        on=day,
    )


# --------------------------------------------------------------------------- reservations
def _purpose_account(accounts: FundAccounts, purpose: str) -> str:
    return accounts.grants if purpose == "grant" else accounts.loans_receivable


def reserve(
    session: Session,
    fund_id: int,
    amount_minor: int,
    *,
    key: str,
    clock: Clock,
    purpose: str,
    actor: str | None = None,
    reference: str | None = None,
) -> str:
    """Commit `amount_minor` of the fund's available money; returns the hold id.

    `purpose` is "grant" (the hold will be paid by `pay_grant`, Dr grants paid)
    or "loan" (passed to `open_loan(hold_id=...)` and posted by `disburse_loan`,
    Dr loans receivable). The hold is on the fund's cash, so the available money
    falls at once. `reference` is an optional non-personal text stored on the
    hold (e.g. "award:7"). Raises FundInsufficientError (409) when the available
    money is short, with nothing written. Retrying with the same key returns the
    same hold id. Engine key ``fund:{fund_id}:reserve:{key}``.
    """
    fund = get_fund(session, fund_id)
    amount = check_amount(amount_minor)
    if purpose not in RESERVATION_PURPOSES:
        raise InvalidFundError(
            f"Scopo sconosciuto: {purpose}. Possibili: grant, loan.", field="purpose"
        )
    accounts = FundAccounts(fund.id)
    metadata: dict[str, Any] = {"fund_id": fund.id, "purpose": purpose}
    ref = _reference(reference)
    if ref is not None:
        metadata["reference"] = ref
    spec = HoldSpec(
        idempotency_key=engine_key(fund.id, "reserve", key),
        kind="grant_payment" if purpose == "grant" else "loan_disbursement",
        debit_account=_purpose_account(accounts, purpose),
        credit_account=accounts.cash,
        amount=Money(amount, fund.currency),
        narration=f"Impegno sul fondo {fund.id} ({PURPOSE_LABELS[purpose]})",
        metadata=metadata,
        actor=actor,
    )
    try:
        return create_hold(session, spec, clock=clock).hold.id
    except InsufficientFundsError:
        raise _short(fund, amount, available_minor(session, fund.id), "questo impegno") from None


def fund_hold(session: Session, fund_id: int, hold_id: str) -> HoldView:
    """The hold `hold_id`, checked to be a reservation on this fund's cash."""
    try:
        hold = get_hold(session, hold_id)
    except HoldNotFoundError:
        raise ReservationError(
            f"Nessun impegno {hold_id} sul fondo {fund_id}.", hold_id=hold_id
        ) from None
    if hold.credit_account != FundAccounts(fund_id).cash:
        raise ReservationError(
            f"L'impegno {hold_id} non è del fondo {fund_id}.", hold_id=hold_id, fund_id=fund_id
        )
    return hold


def _fund_of_hold(session: Session, hold_id: str) -> int:
    try:
        hold = get_hold(session, hold_id)
    except HoldNotFoundError:
        raise ReservationError(f"Nessun impegno {hold_id}.", hold_id=hold_id) from None
    fund_id = hold.metadata.get("fund_id")
    if not isinstance(fund_id, int) or hold.credit_account != FundAccounts(fund_id).cash:
        raise ReservationError(f"L'impegno {hold_id} non è di un fondo.", hold_id=hold_id)
    return fund_id


def _refuse_unless_open(hold: HoldView) -> None:
    if hold.status != "open":
        labels = {"posted": "già pagato", "voided": "già liberato", "expired": "scaduto"}
        raise ReservationError(
            f"L'impegno {hold.id} è {labels.get(hold.status, hold.status)}.",
            hold_id=hold.id,
            status=hold.status,
        )


def release_reservation(
    session: Session,
    hold_id: str,
    *,
    key: str,
    clock: Clock,
    actor: str | None = None,
) -> HoldView:
    """Void an open reservation: its money is available to the fund again.

    Raises ReservationError (409) if the hold is not a fund's or is no longer
    open. A retry with the same key returns the voided hold. Engine key
    ``fund:{fund_id}:release:{key}``.
    """
    fund_id = _fund_of_hold(session, hold_id)
    ekey = engine_key(fund_id, "release", key)
    if ekey not in lookup_keys(session, [ekey]):
        _refuse_unless_open(get_hold(session, hold_id))
    return resolve_hold(
        session, hold_id, outcome="voided", idempotency_key=ekey, clock=clock, actor=actor
    ).hold


@dataclass(frozen=True, slots=True)
class GrantPayment:
    """A grant payment: the entry, and the hold still reserving the rest (if any)."""

    entry_id: str
    sequence: int
    paid_minor: int
    remaining_hold_id: str | None
    created: bool


def pay_grant(
    session: Session,
    fund_id: int,
    amount_minor: int,
    *,
    hold_id: str | None,
    key: str,
    clock: Clock,
    actor: str | None = None,
    effective_on: date | None = None,
) -> GrantPayment:
    """Pay a grant (or a tranche of it): Dr grants paid, Cr fund cash, entry kind `grant_payment`.

    With `hold_id` (a "grant" reservation of this fund) the payment posts that
    hold. When `amount_minor` is less than the hold, the rest stays reserved:
    in the same transaction a new hold for the rest is made (key
    ``fund:{fund_id}:grant:{key}:rest``) and returned as `remaining_hold_id`,
    so tranche 2 is paid from it later; the rest is never exposed to other
    commitments. More than the hold raises ReservationError (409). To give back
    the rest of a reservation instead, call `release_reservation` on it.

    Without `hold_id` the payment is checked against the available money and
    raises FundInsufficientError (409) when short. Engine key
    ``fund:{fund_id}:grant:{key}``; a retry returns the same payment.
    """
    fund = get_fund(session, fund_id)
    amount = check_amount(amount_minor)
    accounts = FundAccounts(fund.id)
    ekey = engine_key(fund.id, "grant", key)
    money = Money(amount, fund.currency)
    narration = f"Contributo erogato dal fondo {fund.id}"
    if hold_id is None:
        try:
            result = post_entry(
                session,
                EntrySpec(
                    idempotency_key=ekey,
                    kind="grant_payment",
                    postings=[
                        PostingSpec(accounts.grants, money),
                        PostingSpec(accounts.cash, -money),
                    ],
                    effective_on=effective_on,
                    narration=narration,
                    metadata={"fund_id": fund.id, "purpose": "grant"},
                    actor=actor,
                ),
                clock=clock,
            )
        except InsufficientFundsError:
            raise _short(fund, amount, available_minor(session, fund.id), "il contributo") from None
        return GrantPayment(result.entry.id, result.entry.sequence, amount, None, result.created)

    hold = fund_hold(session, fund.id, hold_id)
    if hold.debit_account != accounts.grants:
        raise ReservationError(
            f"L'impegno {hold_id} è per un prestito, non per un contributo.", hold_id=hold_id
        )
    replay = ekey in lookup_keys(session, [ekey])
    if not replay:
        _refuse_unless_open(hold)
    if amount > hold.amount.minor:
        raise ReservationError(
            f"Il pagamento di {format_it(amount, fund.currency)} supera l'impegno "
            f"di {format_it(hold.amount.minor, fund.currency)}.",
            hold_id=hold_id,
            reserved_minor=hold.amount.minor,
        )
    posted = resolve_hold(
        session,
        hold_id,
        outcome="posted",
        idempotency_key=ekey,
        clock=clock,
        amount=money,
        effective_on=effective_on,
        narration=narration,
        actor=actor,
    ).hold
    rest = hold.amount.minor - amount
    remaining: str | None = None
    if rest > 0:
        remaining = create_hold(
            session,
            HoldSpec(
                idempotency_key=f"{ekey}:rest",
                kind="grant_payment",
                debit_account=accounts.grants,
                credit_account=accounts.cash,
                amount=Money(rest, fund.currency),
                narration=hold.narration,
                metadata=hold.metadata,
                actor=actor,
            ),
            clock=clock,
        ).hold.id
    assert posted.entry_id is not None
    entry = load_entries(session, [posted.entry_id])[posted.entry_id]
    return GrantPayment(entry.id, entry.sequence, amount, remaining, not replay)


def return_unspent(
    session: Session,
    fund_id: int,
    amount_minor: int,
    *,
    key: str,
    clock: Clock,
    actor: str | None = None,
    effective_on: date | None = None,
    reference: str | None = None,
) -> Booked:
    """Book money a proponent gives back: Dr fund cash, Cr grants paid (kind `grant_return`).

    The money is available to the fund again at once. Refused (InvalidFundError,
    422) if it exceeds what the fund has paid in grants net of earlier returns.
    Engine key ``fund:{fund_id}:return:{key}``.
    """
    fund = get_fund(session, fund_id)
    amount = check_amount(amount_minor)
    accounts = FundAccounts(fund.id)
    ekey = engine_key(fund.id, "return", key)
    paid = balance(session, accounts.grants).posted
    if ekey not in lookup_keys(session, [ekey]) and amount > paid:
        raise InvalidFundError(
            f"La restituzione di {format_it(amount, fund.currency)} supera i contributi "
            f"erogati dal fondo ({format_it(paid, fund.currency)}).",
            field="amount",
        )
    metadata: dict[str, Any] = {"fund_id": fund.id}
    ref = _reference(reference)
    if ref is not None:
        metadata["reference"] = ref
    money = Money(amount, fund.currency)
    result = post_entry(
        session,
        EntrySpec(
            idempotency_key=ekey,
            kind="grant_return",
            postings=[PostingSpec(accounts.cash, money), PostingSpec(accounts.grants, -money)],
            effective_on=effective_on,
            narration=f"Somme non spese restituite al fondo {fund.id}",
            metadata=metadata,
            actor=actor,
        ),
        clock=clock,
    )
    return Booked(result.entry.id, result.entry.sequence, amount, result.created)


def provide_for_losses(
    session: Session,
    fund_id: int,
    amount_minor: int,
    *,
    key: str,
    clock: Clock,
    actor: str | None = None,
    effective_on: date | None = None,
) -> Booked:
    """Set money aside for loan losses: Dr loan losses, Cr provision (kind `loan_loss_provision`).

    No cash moves; a later write-off is charged to the provision first.
    Engine key ``fund:{fund_id}:provision:{key}``.
    """
    fund = get_fund(session, fund_id)
    amount = check_amount(amount_minor)
    accounts = FundAccounts(fund.id)
    money = Money(amount, fund.currency)
    result = post_entry(
        session,
        EntrySpec(
            idempotency_key=engine_key(fund.id, "provision", key),
            kind="loan_loss_provision",
            postings=[
                PostingSpec(accounts.loan_losses, money),
                PostingSpec(accounts.provision, -money),
            ],
            effective_on=effective_on,
            narration=f"Accantonamento per perdite su crediti del fondo {fund.id}",
            metadata={"fund_id": fund.id},
            actor=actor,
        ),
        clock=clock,
    )
    return Booked(result.entry.id, result.entry.sequence, amount, result.created)
