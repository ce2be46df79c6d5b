"""Funds and microloans in the JSON API (routes on the `api_v1` blueprint).

The same use cases as the pages (`ledger.funds.commands`,
`ledger.funds.loan_commands`), so money booked through the API is the same as
through a form, audit event included. Treasurers manage funds, products and
loans; a signed-in borrower may read their own loan, schedule and statement
(anyone else's answers 404). Nothing here is public.

Money-moving POSTs (deposits, loans, disbursements, repayments, write-offs,
recoveries) need an `Idempotency-Key` and go through
`web.api.common.command_post`: a retry with the same body answers 200 with
`Idempotent-Replayed: true` and writes nothing, and the same key with a
different body is a 409 `idempotency_conflict`.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from flask import Response, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy.orm import Session

from ledger.commands import Origin, Outcome
from ledger.core.intents import sequences
from ledger.core.money import format_minor
from ledger.funds import commands as fund_commands
from ledger.funds import lending, loan_commands
from ledger.funds import service as funds
from ledger.funds.models import (
    Fund,
    Loan,
    LoanProductRow,
    LoanRecovery,
    LoanRepayment,
    LoanWriteOff,
    OverpaymentRefund,
)
from ledger.people.models import MONEY, READ
from ledger.statements import funds as statements
from web import views
from web.access import allow, needs_scope, signed_in
from web.api.common import TREASURER, bp, command_post, json_answer
from web.api.docs import documented
from web.api.errors import invalid_input
from web.api.inputs import json_body, load, parse_money, query
from web.db import in_transaction
from web.funds.reads import own_person_id, readable_loan
from web.funds.schemas import (
    BookedSchema,
    DepositCreateSchema,
    DisburseSchema,
    FundCreateSchema,
    FundDetailSchema,
    FundListSchema,
    FundSchema,
    LoanCreateSchema,
    LoanListSchema,
    LoanProductCreateSchema,
    LoanProductListSchema,
    LoanProductSchema,
    LoanSchema,
    LoanStatementQuerySchema,
    OverpaymentRefundCreateSchema,
    OverpaymentRefundSchema,
    RecoverySchema,
    RepaymentCreateSchema,
    RepaymentSchema,
    ScheduleSchema,
    StatementQuerySchema,
    WriteOffCreateSchema,
    WriteOffSchema,
)


def _m(minor: int, currency: str) -> str:
    return format_minor(minor, currency)


def _fund_body(fund: Fund) -> dict[str, Any]:
    return {
        "id": fund.id,
        "name": fund.name,
        "kind": fund.kind,
        "currency": fund.currency,
        "created_at": fund.created_at,
    }


def _position_body(p: funds.FundPosition) -> dict[str, Any]:
    c = p.currency
    return {
        "fund_id": p.fund_id,
        "currency": c,
        "on": p.on,
        "cash": _m(p.cash_minor, c),
        "committed": _m(p.committed_minor, c),
        "available": _m(p.available_minor, c),
        "capital": _m(p.capital_minor, c),
        "loans_outstanding": _m(p.loans_outstanding_minor, c),
        "provision": _m(p.provision_minor, c),
        "grants_paid": _m(p.grants_paid_minor, c),
        "interest_income": _m(p.interest_income_minor, c),
        "fee_income": _m(p.fee_income_minor, c),
        "recoveries": _m(p.recoveries_minor, c),
        "loan_losses": _m(p.loan_losses_minor, c),
        "overpayments_owed": _m(p.overpayments_owed_minor, c),
        "loans_active": p.loans_active,
        "loans_at_risk": p.loans_at_risk,
        "at_risk": _m(p.at_risk_minor, c),
        "par30": str(p.par30),
    }


def _product_body(p: LoanProductRow) -> dict[str, Any]:
    c = p.currency
    return {
        "id": p.id,
        "fund_id": p.fund_id,
        "name": p.name,
        "currency": c,
        "min_amount": _m(p.min_amount_minor, c),
        "max_amount": _m(p.max_amount_minor, c),
        "annual_rate": p.annual_rate,
        "method": p.method,
        "min_term_months": p.min_term_months,
        "max_term_months": p.max_term_months,
        "grace_months": p.grace_months,
        "day_count": p.day_count,
        "rounding": p.rounding,
        "fee_per_instalment": _m(p.fee_per_instalment_minor, c),
    }


def _loan_body(session: Session, loan: Loan) -> dict[str, Any]:
    d = lending.loan_detail(session, loan.id, on=views.today())
    c = loan.currency
    return {
        "id": loan.id,
        "fund_id": loan.fund_id,
        "product_id": loan.product_id,
        "borrower_person_id": loan.borrower_person_id,
        "status": loan.status,
        "currency": c,
        "principal": _m(loan.principal_minor, c),
        "annual_rate": loan.annual_rate,
        "method": loan.method,
        "term_months": loan.term_months,
        "grace_months": loan.grace_months,
        "day_count": loan.day_count,
        "rounding": loan.rounding,
        "first_due_on": loan.first_due_on,
        "disbursed_on": loan.disbursed_on,
        "disbursement_sequence": loan.disbursement_sequence,
        "outstanding_principal": _m(d.outstanding_principal_minor, c),
        "days_past_due": d.days_past_due,
        "arrears": _m(d.arrears_minor, c),
        "payoff": _m(d.payoff_minor, c),
        "overpayment_owed": _m(d.overpayment_owed_minor, c),
    }


def _sequence(session: Session, entry_id: str | None) -> int | None:
    """The journal number of a loan row's entry, for the answer. A row booked in this
    unit has its entry written here, just before the unit commits (an early flush)."""
    return sequences(session, [entry_id]).get(entry_id) if entry_id is not None else None


def _repayment_body(r: LoanRepayment, sequence: int | None) -> dict[str, Any]:
    c = r.currency
    return {
        "id": r.id,
        "loan_id": r.loan_id,
        "amount": _m(r.amount_minor, c),
        "currency": c,
        "received_on": r.received_on,
        "fees": _m(r.fees_minor, c),
        "interest": _m(r.interest_minor, c),
        "principal": _m(r.principal_minor, c),
        "overpayment": _m(r.overpayment_minor, c),
        "paid_off_early": r.paid_off_early,
        "sequence": sequence,
    }


def _recovery_body(r: LoanRecovery, currency: str, sequence: int | None) -> dict[str, Any]:
    return {
        "id": r.id,
        "loan_id": r.loan_id,
        "amount": _m(r.amount_minor, currency),
        "received_on": r.received_on,
        "principal": _m(r.principal_minor, currency),
        "interest": _m(r.interest_minor, currency),
        "fees": _m(r.fees_minor, currency),
        "excess": _m(r.excess_minor, currency),
        "sequence": sequence,
    }


def _file(data: bytes | str, filename: str, fmt: str) -> Response:
    response = Response(data, mimetype="application/pdf" if fmt == "pdf" else "text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


# --------------------------------------------------------------------------- funds
@bp.get("/funds")
@allow(*TREASURER)
@needs_scope(READ)
@documented(
    "Every fund",
    tag="funds",
    responses={200: ("The funds, oldest first.", FundListSchema)},
)
def list_funds_view() -> ResponseReturnValue:
    """Microgrant and revolving funds, each with its own accounts in the ledger."""
    rows = views.read_once(lambda s: [_fund_body(f) for f in funds.list_funds(s)])
    return json_answer(FundListSchema(), {"funds": rows})


@bp.post("/funds")
@allow(*TREASURER)
@needs_scope(MONEY)
@documented(
    "Create a fund",
    tag="funds",
    body=FundCreateSchema,
    idempotent=True,
    responses={201: ("The fund, with its accounts opened.", FundSchema)},
    errors={422: "`invalid_input` or `invalid_fund`."},
)
def create_fund_view() -> ResponseReturnValue:
    """A microgrant or revolving fund; it starts empty (money enters with a deposit)."""
    return command_post(
        FundCreateSchema(),
        lambda session, data, origin, key: fund_commands.create_fund(
            session,
            name=data["name"],
            kind=data["kind"],
            currency=data["currency"],
            origin=origin,
            clock=views.clock(),
            key=key,
        ),
        lambda _session, fund: _fund_body(fund),
        FundSchema(),
        headers=lambda body: {"Location": url_for("api_v1.get_fund_view", fund_id=body["id"])},
    )


@bp.get("/funds/<int:fund_id>")
@allow(*TREASURER)
@needs_scope(READ)
@documented(
    "A fund and its position",
    tag="funds",
    responses={200: ("Cash, committed, available, loans outstanding and PAR30.", FundDetailSchema)},
    errors={404: "`fund_not_found`."},
)
def get_fund_view(fund_id: int) -> ResponseReturnValue:
    """The fund's balances from the ledger and its portfolio at risk today."""
    today = views.today()

    def read(session: Session) -> dict[str, Any]:
        fund = funds.get_fund(session, fund_id)
        body = _fund_body(fund)
        body["position"] = _position_body(funds.fund_position(session, fund_id, on=today))
        return body

    return json_answer(FundDetailSchema(), views.read_once(read))


@bp.post("/funds/<int:fund_id>/deposits")
@allow(*TREASURER)
@needs_scope(MONEY)
@documented(
    "Book money into a fund",
    tag="funds",
    body=DepositCreateSchema,
    idempotent=True,
    responses={201: ("The journal entry of the money in.", BookedSchema)},
    errors={404: "`fund_not_found`.", 422: "`invalid_input` or `invalid_fund`."},
)
def deposit_view(fund_id: int) -> ResponseReturnValue:
    """Money in from donations, a foundation's grant or a transfer (Dr fund cash, Cr capital)."""

    def act(session: Session, data: Any, origin: Origin, key: str) -> Outcome[funds.Booked]:
        currency = funds.get_fund(session, fund_id).currency
        return fund_commands.deposit(
            session,
            fund_id,
            parse_money(data["amount"], currency, "amount").minor,
            source=data["source"],
            origin=origin,
            clock=views.clock(),
            key=key,
            effective_on=data["effective_on"],
            reference=data["reference"],
        )

    def answer(session: Session, booked: funds.Booked) -> dict[str, Any]:
        currency = funds.get_fund(session, fund_id).currency
        return {
            "fund_id": fund_id,
            "sequence": booked.sequence,
            "amount": _m(booked.amount_minor, currency),
            "currency": currency,
        }

    return command_post(DepositCreateSchema(), act, answer, BookedSchema())


@bp.get("/funds/<int:fund_id>/statement")
@allow(*TREASURER)
@needs_scope(READ)
@documented(
    "The fund statement for a period (PDF or CSV)",
    tag="funds",
    query=StatementQuerySchema,
    responses={200: ("The statement file (application/pdf or text/csv).", None)},
    errors={404: "`fund_not_found`."},
)
def fund_statement_view(fund_id: int) -> ResponseReturnValue:
    """Opening and closing balance, money in by source, grants, loans, repayments,
    write-offs, portfolio and PAR30, and the chain head of the last entry covered."""
    args = query(StatementQuerySchema())
    today = views.today()
    start = args["start"] or date(today.year, 1, 1)
    end = args["end"] or today
    if end < start:
        raise invalid_input({"to": ["must not be before from"]})
    fmt = args["format"]

    def read(session: Session) -> bytes | str:
        statement = statements.fund_statement(session, fund_id, start, end)
        if fmt == "pdf":
            return statements.render_fund_statement_pdf(statement)
        return statements.fund_statement_csv(statement)

    return _file(views.read_once(read), f"fund-{fund_id}-{start}-{end}.{fmt}", fmt)


# --------------------------------------------------------------------------- products
@bp.get("/funds/<int:fund_id>/products")
@allow(*TREASURER)
@needs_scope(READ)
@documented(
    "A fund's loan products",
    tag="loans",
    responses={200: ("The products.", LoanProductListSchema)},
    errors={404: "`fund_not_found`."},
)
def list_products_view(fund_id: int) -> ResponseReturnValue:
    """Amount limits, rate, schedule method, grace, day count and rounding of each product."""

    def read(session: Session) -> list[dict[str, Any]]:
        funds.get_fund(session, fund_id)
        return [_product_body(p) for p in lending.list_loan_products(session, fund_id)]

    return json_answer(LoanProductListSchema(), {"products": views.read_once(read)})


@bp.post("/funds/<int:fund_id>/products")
@allow(*TREASURER)
@needs_scope(MONEY)
@documented(
    "Create a loan product",
    tag="loans",
    body=LoanProductCreateSchema,
    responses={201: ("The product.", LoanProductSchema)},
    errors={404: "`fund_not_found`.", 422: "`invalid_input` or `invalid_loan`."},
)
def create_product_view(fund_id: int) -> ResponseReturnValue:
    """The terms the fund lends on; a 0 rate is allowed."""
    data = load(LoanProductCreateSchema(), json_body())
    currency = views.snapshot(lambda s: funds.get_fund(s, fund_id).currency)
    low = parse_money(data["min_amount"], currency, "min_amount").minor
    high = parse_money(data["max_amount"], currency, "max_amount").minor
    fee = parse_money(
        data["fee_per_instalment"], currency, "fee_per_instalment", positive=False
    ).minor

    def work(session: Session) -> dict[str, Any]:
        product = loan_commands.create_loan_product(
            session,
            fund_id,
            name=data["name"],
            min_amount_minor=low,
            max_amount_minor=high,
            annual_rate=Decimal(data["annual_rate"]),
            method=data["method"],
            min_term_months=data["min_term_months"],
            max_term_months=data["max_term_months"],
            grace_months=data["grace_months"],
            day_count=data["day_count"],
            rounding=data["rounding"],
            fee_per_instalment_minor=fee,
            origin=views.origin(),
            clock=views.clock(),
        ).value
        return _product_body(product)

    return json_answer(LoanProductSchema(), in_transaction(work), 201)


# --------------------------------------------------------------------------- loans
@bp.get("/funds/<int:fund_id>/loans")
@allow(*TREASURER)
@needs_scope(READ)
@documented(
    "A fund's loans",
    tag="loans",
    responses={200: ("Every loan of the fund with its standing today.", LoanListSchema)},
    errors={404: "`fund_not_found`."},
)
def list_loans_view(fund_id: int) -> ResponseReturnValue:
    """Each loan's terms, outstanding principal, days past due and arrears."""

    def read(session: Session) -> list[dict[str, Any]]:
        funds.get_fund(session, fund_id)
        return [_loan_body(session, loan) for loan in lending.list_loans(session, fund_id=fund_id)]

    return json_answer(LoanListSchema(), {"loans": views.read_once(read)})


@bp.post("/funds/<int:fund_id>/loans")
@allow(*TREASURER)
@needs_scope(MONEY)
@documented(
    "Grant a loan",
    tag="loans",
    body=LoanCreateSchema,
    idempotent=True,
    responses={201: ("The approved loan with its stored schedule.", LoanSchema)},
    errors={
        404: "`fund_not_found` or `loan_product_not_found`.",
        422: "`invalid_input` or `invalid_loan` (outside the product's limits, unknown person).",
    },
)
def create_loan_view(fund_id: int) -> ResponseReturnValue:
    """An approved loan to a registered person; no money moves until it is disbursed."""

    def act(session: Session, data: Any, origin: Origin, key: str) -> Outcome[Loan]:
        currency = funds.get_fund(session, fund_id).currency
        return loan_commands.open_loan(
            session,
            fund_id,
            data["product_id"],
            borrower_person_id=data["borrower_person_id"],
            principal_minor=parse_money(data["principal"], currency, "principal").minor,
            term_months=data["term_months"],
            first_due_on=data["first_due_on"],
            origin=origin,
            clock=views.clock(),
            key=key,
        )

    return command_post(LoanCreateSchema(), act, _loan_body, LoanSchema())


@bp.get("/loans/<int:loan_id>")
@signed_in
@needs_scope(READ)
@documented(
    "A loan",
    tag="loans",
    responses={200: ("The loan and its standing today.", LoanSchema)},
    errors={404: "`loan_not_found` (also for someone else's loan)."},
)
def get_loan_view(loan_id: int) -> ResponseReturnValue:
    """Treasurers read any loan; a borrower reads only their own."""
    principal = views.principal()
    return json_answer(
        LoanSchema(),
        views.read_once(lambda s: _loan_body(s, readable_loan(s, loan_id, principal))),
    )


@bp.get("/loans/<int:loan_id>/schedule")
@signed_in
@needs_scope(READ)
@documented(
    "A loan's schedule and payments",
    tag="loans",
    responses={200: ("The stored schedule with what was paid, and every payment.", ScheduleSchema)},
    errors={404: "`loan_not_found` (also for someone else's loan)."},
)
def loan_schedule_view(loan_id: int) -> ResponseReturnValue:
    """Each instalment (principal, interest, fee, paid, unpaid) and each payment's split."""
    principal = views.principal()

    def read(session: Session) -> dict[str, Any]:
        loan = readable_loan(session, loan_id, principal)
        d = lending.loan_detail(session, loan.id, on=views.today())
        c = loan.currency
        numbers = sequences(session, [r.entry_id for r in d.repayments])
        return {
            "loan_id": loan.id,
            "currency": c,
            "instalments": [
                {
                    "number": line.number,
                    "due_on": line.due_on,
                    "principal": _m(line.principal_minor, c),
                    "interest": _m(line.interest_minor, c),
                    "fee": _m(line.fee_minor, c),
                    "total": _m(line.total_minor, c),
                    "balance_after": _m(line.balance_after_minor, c),
                    "paid": _m(line.paid_minor, c),
                    "waived": _m(line.waived_minor, c),
                    "unpaid": _m(line.unpaid_minor, c),
                }
                for line in d.lines
            ],
            "repayments": [_repayment_body(r, numbers.get(r.entry_id or "")) for r in d.repayments],
        }

    return json_answer(ScheduleSchema(), views.read_once(read))


@bp.post("/loans/<int:loan_id>/disburse")
@allow(*TREASURER)
@needs_scope(MONEY)
@documented(
    "Disburse an approved loan",
    tag="loans",
    body=DisburseSchema,
    body_required=False,
    idempotent=True,
    responses={201: ("The disbursed loan.", LoanSchema)},
    errors={
        404: "`loan_not_found`.",
        409: "`fund_insufficient` (the fund's available money is short), `fund_reservation`, "
        "`loan_state` or `idempotency_conflict`.",
        422: "`invalid_input` or `invalid_loan` (a date after the first due date).",
    },
)
def disburse_loan_view(loan_id: int) -> ResponseReturnValue:
    """Dr loans receivable, Cr fund cash (from the loan's reservation when it has one).
    A loan is disbursed once: repeating the call changes nothing."""

    def act(session: Session, body: Any, origin: Origin, key: str) -> Outcome[Loan]:
        # The body is optional, so it is read here rather than required by command_post.
        data = load(DisburseSchema(), body)
        return loan_commands.disburse_loan(
            session,
            loan_id,
            disbursed_on=data["disbursed_on"],
            origin=origin,
            clock=views.clock(),
            key=key,
        )

    return command_post(None, act, _loan_body, LoanSchema())


@bp.post("/loans/<int:loan_id>/cancel")
@allow(*TREASURER)
@needs_scope(MONEY)
@documented(
    "Cancel a loan never disbursed",
    tag="loans",
    responses={200: ("The cancelled loan; repeating the call changes nothing.", LoanSchema)},
    errors={404: "`loan_not_found`.", 409: "`loan_state`: the loan was already disbursed."},
)
def cancel_loan_view(loan_id: int) -> ResponseReturnValue:
    """An approved loan that will not be paid out: its reservation on the fund is released."""

    def work(session: Session) -> dict[str, Any]:
        outcome = loan_commands.cancel_loan(
            session, loan_id, origin=views.origin(), clock=views.clock()
        )
        return _loan_body(session, outcome.value)

    return json_answer(LoanSchema(), in_transaction(work))


@bp.post("/loans/<int:loan_id>/repayments")
@allow(*TREASURER)
@needs_scope(MONEY)
@documented(
    "Record a repayment",
    tag="loans",
    body=RepaymentCreateSchema,
    idempotent=True,
    responses={201: ("How the payment was allocated and booked.", RepaymentSchema)},
    errors={
        404: "`loan_not_found`.",
        409: "`loan_state` (not disbursed, repaid or written off) or `idempotency_conflict`.",
        422: "`invalid_input` or `invalid_loan` (a date in the future or before the last one).",
    },
)
def repayment_view(loan_id: int) -> ResponseReturnValue:
    """Allocated fees -> interest -> principal, oldest instalment first; early payoff when
    it covers it; any excess is an overpayment owed back, shown in the answer."""

    def act(session: Session, data: Any, origin: Origin, key: str) -> Outcome[LoanRepayment]:
        currency = lending.get_loan(session, loan_id).currency
        return loan_commands.record_repayment(
            session,
            loan_id,
            parse_money(data["amount"], currency, "amount").minor,
            received_on=data["received_on"],
            origin=origin,
            clock=views.clock(),
            key=key,
        )

    return command_post(
        RepaymentCreateSchema(),
        act,
        lambda session, row: _repayment_body(row, _sequence(session, row.entry_id)),
        RepaymentSchema(),
    )


@bp.post("/loans/<int:loan_id>/write-off")
@allow(*TREASURER)
@needs_scope(MONEY)
@documented(
    "Write a loan off",
    tag="loans",
    body=WriteOffCreateSchema,
    body_required=False,
    idempotent=True,
    responses={
        201: ("The write-off: principal against the provision, then the loss.", WriteOffSchema)
    },
    errors={404: "`loan_not_found`.", 409: "`loan_state` or `idempotency_conflict`."},
)
def write_off_view(loan_id: int) -> ResponseReturnValue:
    """The outstanding principal leaves loans receivable; interest and fees due and unpaid
    are reported (never booked: interest is recognised when received)."""

    def act(session: Session, body: Any, origin: Origin, key: str) -> Outcome[LoanWriteOff]:
        # The body is optional, so it is read here rather than required by command_post.
        data = load(WriteOffCreateSchema(), body)
        return loan_commands.write_off_loan(
            session, loan_id, on=data["on"], origin=origin, clock=views.clock(), key=key
        )

    def answer(session: Session, row: LoanWriteOff) -> dict[str, Any]:
        c = lending.get_loan(session, loan_id).currency
        return {
            "loan_id": loan_id,
            "written_off_on": row.written_off_on,
            "principal": _m(row.principal_minor, c),
            "interest_due_unpaid": _m(row.interest_minor, c),
            "fees_due_unpaid": _m(row.fees_minor, c),
            "from_provision": _m(row.from_provision_minor, c),
            "sequence": _sequence(session, row.entry_id),
        }

    return command_post(None, act, answer, WriteOffSchema())


@bp.post("/loans/<int:loan_id>/recoveries")
@allow(*TREASURER)
@needs_scope(MONEY)
@documented(
    "Record money recovered on a written-off loan",
    tag="loans",
    body=RepaymentCreateSchema,
    idempotent=True,
    responses={201: ("The recovery: principal, then interest, then fees.", RecoverySchema)},
    errors={404: "`loan_not_found`.", 409: "`loan_state` or `idempotency_conflict`."},
)
def recovery_view(loan_id: int) -> ResponseReturnValue:
    """Dr cash; Cr recoveries, interest and fees; anything beyond what was written off is
    owed back to the payer."""

    def act(session: Session, data: Any, origin: Origin, key: str) -> Outcome[LoanRecovery]:
        currency = lending.get_loan(session, loan_id).currency
        return loan_commands.record_recovery(
            session,
            loan_id,
            parse_money(data["amount"], currency, "amount").minor,
            received_on=data["received_on"],
            origin=origin,
            clock=views.clock(),
            key=key,
        )

    def answer(session: Session, row: LoanRecovery) -> dict[str, Any]:
        currency = lending.get_loan(session, loan_id).currency
        return _recovery_body(row, currency, _sequence(session, row.entry_id))

    return command_post(RepaymentCreateSchema(), act, answer, RecoverySchema())


@bp.post("/loans/<int:loan_id>/overpayment-refunds")
@allow(*TREASURER)
@needs_scope(MONEY)
@documented(
    "Pay back an overpayment",
    tag="loans",
    body=OverpaymentRefundCreateSchema,
    idempotent=True,
    responses={201: ("The payment back to the borrower.", OverpaymentRefundSchema)},
    errors={
        404: "`loan_not_found`.",
        409: "`fund_insufficient` or `idempotency_conflict`.",
        422: "`invalid_input` or `invalid_loan` (more than the borrower is owed).",
    },
)
def overpayment_refund_view(loan_id: int) -> ResponseReturnValue:
    """Dr overpayments, Cr fund cash: money a borrower paid beyond what the loan owed goes back."""

    def act(session: Session, data: Any, origin: Origin, key: str) -> Outcome[OverpaymentRefund]:
        currency = lending.get_loan(session, loan_id).currency
        return loan_commands.refund_overpayment(
            session,
            loan_id,
            parse_money(data["amount"], currency, "amount").minor,
            origin=origin,
            clock=views.clock(),
            key=key,
        )

    def answer(session: Session, row: OverpaymentRefund) -> dict[str, Any]:
        currency = lending.get_loan(session, loan_id).currency
        return {
            "id": row.id,
            "loan_id": loan_id,
            "amount": _m(row.amount_minor, currency),
            "refunded_on": row.refunded_on,
            "sequence": _sequence(session, row.entry_id),
        }

    return command_post(OverpaymentRefundCreateSchema(), act, answer, OverpaymentRefundSchema())


@bp.get("/loans/<int:loan_id>/statement")
@signed_in
@needs_scope(READ)
@documented(
    "A loan statement (PDF or CSV)",
    tag="loans",
    query=LoanStatementQuerySchema,
    responses={200: ("The statement file (application/pdf or text/csv).", None)},
    errors={404: "`loan_not_found` (also for someone else's loan)."},
)
def loan_statement_view(loan_id: int) -> ResponseReturnValue:
    """The loan's terms, schedule with payments and standing today; treasurers or the
    borrower only."""
    fmt = query(LoanStatementQuerySchema())["format"]
    principal = views.principal()
    today = views.today()

    def read(session: Session) -> bytes | str:
        readable_loan(session, loan_id, principal)
        copy = statements.loan_statement(session, loan_id, on=today)
        if fmt == "pdf":
            return statements.render_loan_statement_pdf(copy)
        return statements.loan_statement_csv(copy)

    return _file(views.read_once(read), f"loan-{loan_id}-{today}.{fmt}", fmt)


@bp.get("/me/loans")
@signed_in
@needs_scope(READ)
@documented(
    "The caller's own loans",
    tag="loans",
    responses={200: ("The caller's loans, never anyone else's.", LoanListSchema)},
)
def my_loans_view() -> ResponseReturnValue:
    """The loans whose borrower is the caller."""
    principal = views.principal()

    def read(session: Session) -> list[dict[str, Any]]:
        person_id = own_person_id(session, principal)
        if person_id is None:
            return []
        return [
            _loan_body(session, loan)
            for loan in lending.list_loans(session, borrower_person_id=person_id)
        ]

    return json_answer(LoanListSchema(), {"loans": views.read_once(read)})
