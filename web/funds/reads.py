"""What the fund and loan pages (and the API's loan views) read: pages' data, whose loan it is.

Each function takes the request's session and reads only; the views run them
through `web.views.read_once` or `snapshot`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy.orm import Session

from ledger.funds import lending
from ledger.funds import service as funds
from ledger.funds.errors import LoanNotFoundError
from ledger.funds.models import Fund, Loan, LoanProductRow
from ledger.funds.portfolio import portfolio
from ledger.people.models import Person
from ledger.people.service import verified_person_id
from web.access import Principal

TREASURER = "treasurer"


def borrower_name(db: Session, loan: Loan) -> str:
    """The borrower's full name (or their person number if the person is gone)."""
    person = db.get(Person, loan.borrower_person_id)
    return person.full_name if person is not None else f"n. {loan.borrower_person_id}"


def own_person_id(db: Session, principal: Principal) -> int | None:
    """The person whose loans the signed-in user may see: theirs once their address is
    verified (a loan is granted to a person named by e-mail), else none."""
    return verified_person_id(db, principal.user_id)


def own_loan(db: Session, loan_id: int, principal: Principal) -> Loan:
    """The caller's loan; anyone else's is answered as not found."""
    loan = lending.get_loan(db, loan_id)
    if loan.borrower_person_id != own_person_id(db, principal):
        raise LoanNotFoundError(f"Nessun prestito con id {loan_id}.", loan_id=loan_id)
    return loan


def readable_loan(db: Session, loan_id: int, principal: Principal) -> Loan:
    """A loan the caller may read: any loan for a treasurer, else only their own."""
    if TREASURER in principal.roles:
        return lending.get_loan(db, loan_id)
    return own_loan(db, loan_id, principal)


@dataclass(frozen=True, slots=True)
class FundRow:
    """A fund and its position, one row of the funds list."""

    fund: Fund
    position: funds.FundPosition


def fund_rows(db: Session, today: date) -> list[FundRow]:
    """Every fund with its position on `today`."""
    return [FundRow(f, funds.fund_position(db, f.id, on=today)) for f in funds.list_funds(db)]


@dataclass(frozen=True, slots=True)
class FundPage:
    """A fund's page: position, products and loans."""

    fund: Fund
    position: funds.FundPosition
    products: list[LoanProductRow]
    loans: list[tuple[Loan, str, int, int]]  # loan, borrower, outstanding, days past due


def fund_page(db: Session, fund_id: int, today: date) -> FundPage:
    """A fund's position on `today`, its products and each loan's standing."""
    fund = funds.get_fund(db, fund_id)
    position = funds.fund_position(db, fund.id, on=today)
    standing = {s.loan_id: s for s in portfolio(db, fund.id, today).loans}
    rows = []
    for loan in lending.list_loans(db, fund_id=fund.id):
        s = standing.get(loan.id)
        rows.append(
            (
                loan,
                borrower_name(db, loan),
                s.outstanding_principal_minor if s else 0,
                s.days_past_due if s else 0,
            )
        )
    return FundPage(fund, position, lending.list_loan_products(db, fund.id), rows)


@dataclass(frozen=True, slots=True)
class LoanPage:
    """A loan's page: its detail, its fund and its borrower."""

    detail: lending.LoanDetail
    fund: Fund
    borrower: str
    borrower_email: str


def loan_page(db: Session, loan_id: int, today: date) -> LoanPage:
    """A loan's terms, schedule with payments and standing on `today`, with its borrower."""
    detail = lending.loan_detail(db, loan_id, on=today)
    person = db.get(Person, detail.loan.borrower_person_id)
    return LoanPage(
        detail,
        funds.get_fund(db, detail.loan.fund_id),
        person.full_name if person else "",
        person.email if person else "",
    )
