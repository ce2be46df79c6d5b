"""The chart of accounts of one fund and the entries that move its money.

Sign convention (the engine's): postings are debit positive; assets and
expenses are debit-normal, equity, liabilities and income credit-normal. Each
fund N has its own accounts, all in the fund's currency:

    assets:funds:N:cash                  the fund's dedicated bank account (no_overdraft:
                                         posted less open reservations never below zero)
    assets:funds:N:loans-receivable      principal lent and not yet repaid
    assets:funds:N:loan-loss-provision   contra-asset: a credit balance set aside for losses
    equity:funds:N:capital               restricted net assets: what came in
    income:funds:N:interest              loan interest, recognised when received
    income:funds:N:fees                  loan fees, recognised when received
    income:funds:N:recoveries            principal recovered after a write-off
    expenses:funds:N:grants              grants paid (less unspent money given back)
    expenses:funds:N:loan-losses         provisions made and write-offs beyond them
    liabilities:funds:N:overpayments     paid by borrowers beyond what they owed: owed back

The entries:

    money in (deposit)       Dr cash                    Cr capital
    grant paid               Dr grants                  Cr cash        (from a reservation)
    unspent grant returned   Dr cash                    Cr grants
    loan disbursed           Dr loans receivable        Cr cash        (from a reservation if any)
    repayment                Dr cash                    Cr fees, interest, loans receivable,
                                                           overpayments (the allocation)
    overpayment refunded     Dr overpayments            Cr cash
    provision for losses     Dr loan losses             Cr provision
    write-off                Dr provision (up to its balance) + Dr loan losses (the rest)
                                                        Cr loans receivable
    recovery                 Dr cash                    Cr recoveries, interest, fees,
                                                           overpayments (excess)

A reservation is an engine hold from the expense or receivable it will become
to the fund's cash, so the cash's available balance (posted less pending
credits) falls at once and the engine refuses, under the balance row lock, any
hold or payment that would take it below zero.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.core.accounts import create_account
from ledger.core.clock import Clock
from ledger.core.models import Account


@dataclass(frozen=True, slots=True)
class FundAccounts:
    """The account codes of one fund."""

    fund_id: int

    @property
    def cash(self) -> str:
        return f"assets:funds:{self.fund_id}:cash"

    @property
    def loans_receivable(self) -> str:
        return f"assets:funds:{self.fund_id}:loans-receivable"

    @property
    def provision(self) -> str:
        return f"assets:funds:{self.fund_id}:loan-loss-provision"

    @property
    def capital(self) -> str:
        return f"equity:funds:{self.fund_id}:capital"

    @property
    def interest(self) -> str:
        return f"income:funds:{self.fund_id}:interest"

    @property
    def fees(self) -> str:
        return f"income:funds:{self.fund_id}:fees"

    @property
    def recoveries(self) -> str:
        return f"income:funds:{self.fund_id}:recoveries"

    @property
    def grants(self) -> str:
        return f"expenses:funds:{self.fund_id}:grants"

    @property
    def loan_losses(self) -> str:
        return f"expenses:funds:{self.fund_id}:loan-losses"

    @property
    def overpayments(self) -> str:
        return f"liabilities:funds:{self.fund_id}:overpayments"

    def chart(self) -> list[tuple[str, str, str, bool]]:
        """(code, type, Italian name, no_overdraft) of every account of the fund."""
        n = self.fund_id
        return [
            (self.cash, "asset", f"Fondo {n}: conto dedicato", True),
            (self.loans_receivable, "asset", f"Fondo {n}: crediti per prestiti", False),
            (self.provision, "asset", f"Fondo {n}: fondo svalutazione crediti", False),
            (self.capital, "equity", f"Fondo {n}: patrimonio vincolato", False),
            (self.interest, "income", f"Fondo {n}: interessi attivi", False),
            (self.fees, "income", f"Fondo {n}: commissioni attive", False),
            (self.recoveries, "income", f"Fondo {n}: recuperi su crediti stralciati", False),
            (self.grants, "expense", f"Fondo {n}: contributi erogati", False),
            (self.loan_losses, "expense", f"Fondo {n}: perdite su crediti", False),
            (self.overpayments, "liability", f"Fondo {n}: somme da restituire", False),
        ]

    def codes(self) -> list[str]:
        return [code for code, _t, _n, _o in self.chart()]


def open_fund_accounts(session: Session, fund_id: int, currency: str, *, clock: Clock) -> None:
    """Open the accounts of fund `fund_id` that do not exist yet (caller's transaction)."""
    accounts = FundAccounts(fund_id)
    wanted = accounts.codes()
    existing = set(session.scalars(select(Account.code).where(Account.code.in_(wanted))))
    for code, account_type, name, no_overdraft in accounts.chart():
        if code not in existing:
            create_account(
                session,
                code,
                account_type,
                clock=clock,
                currency=currency,
                no_overdraft=no_overdraft,
                name=name,
            )
