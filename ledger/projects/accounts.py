"""The chart of accounts of one project and the entries that move its money.

Sign convention (the engine's): postings are debit positive. Each project P has
its own accounts, opened when first needed, in the project's currency:

    assets:projects:P:cash                 the project's money (its dedicated bank
                                           account, which reconcile may hold)
    liabilities:projects:P:payables        expenses booked and not yet paid
    expenses:projects:P:lines:CODE         eligible cost charged to budget line CODE
    expenses:projects:P:not-charged        the part of a document charged to no line
                                           (recoverable VAT, ineligible cost)
    income:projects:P:grants:F             a funder F's advances and tranches
    income:projects:P:partners:O           partner O's contributions (cash, or costs
                                           it bore directly)
    income:projects:P:fundraising          campaigns' escrow paid out to the project
    income:projects:P:matching             released matching grants paid out to it
    expenses:projects:P:figurative:KIND    volunteer time and in-kind at their value
    income:projects:P:figurative:KIND      the matching figurative income

The entries:

    expense paid from the bank   Dr lines:CODE (+ not-charged)   Cr cash
    expense still owed           Dr lines:CODE (+ not-charged)   Cr payables
    cost borne by a partner      Dr lines:CODE (+ not-charged)   Cr partners:O
    grant advance or tranche     Dr cash                         Cr grants:F
    partner's cash contribution  Dr cash                         Cr partners:O
    campaign payout              Dr campaign escrow (+ match)    Cr fundraising (+ matching)
                                 Dr cash                         Cr the bank the gifts sit in
    volunteer hours, in-kind     Dr figurative:KIND              Cr figurative:KIND

The figurative layer touches no asset account, so cash balances never see it;
it counts as co-financing only where a funder's settings say so.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.core.accounts import create_account
from ledger.core.clock import Clock
from ledger.core.models import Account


def segment(code: str) -> str:
    """A budget line code as an account segment ("A.1" -> "a-1")."""
    return code.lower().replace(".", "-").replace("/", "-").replace(" ", "-")


def cash(p: int) -> str:
    return f"assets:projects:{p}:cash"


def payables(p: int) -> str:
    return f"liabilities:projects:{p}:payables"


def line(p: int, code: str) -> str:
    return f"expenses:projects:{p}:lines:{segment(code)}"


def not_charged(p: int) -> str:
    return f"expenses:projects:{p}:not-charged"


def grants(p: int, funder_id: int) -> str:
    return f"income:projects:{p}:grants:{funder_id}"


def partners(p: int, organisation_id: int) -> str:
    return f"income:projects:{p}:partners:{organisation_id}"


def fundraising(p: int) -> str:
    return f"income:projects:{p}:fundraising"


def matching(p: int) -> str:
    return f"income:projects:{p}:matching"


def figurative_cost(p: int, kind: str) -> str:
    return f"expenses:projects:{p}:figurative:{kind.replace('_', '-')}"


def figurative_income(p: int, kind: str) -> str:
    return f"income:projects:{p}:figurative:{kind.replace('_', '-')}"


def _type_of(code: str) -> str:
    root = code.split(":", 1)[0]
    return {
        "assets": "asset",
        "liabilities": "liability",
        "expenses": "expense",
        "income": "income",
    }[root]


def ensure(session: Session, codes: list[str], currency: str, *, clock: Clock) -> None:
    """Open the project accounts among `codes` that do not exist yet (caller's transaction)."""
    wanted = sorted(set(codes))
    existing = set(session.scalars(select(Account.code).where(Account.code.in_(wanted))))
    for code in wanted:
        if code not in existing:
            create_account(
                session,
                code,
                _type_of(code),
                clock=clock,
                currency=currency,
                name=f"Progetto {code.split(':')[2]}: {':'.join(code.split(':')[3:])}",
            )
