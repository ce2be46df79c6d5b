"""Which ledger accounts a bank account holds: the one it mirrors, then those listed.

The money in one bank account is booked on several asset accounts: transfer
gifts settle to the mirrored account (assets:bank:main), a fund's loans are
disbursed from and repaid to the fund's cash (assets:funds:N:cash). The
treasurer lists the further accounts (`bank_account_holdings`); the
reconciliation report sums them all as the book balance, and a loan's
repayment is applied from a line only when the loan's fund cash is held by the
line's bank account.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.core.models import Account
from ledger.reconcile.models import BankAccount, BankAccountHolding


def held_accounts(session: Session, bank_account: BankAccount) -> list[Account]:
    """The ledger accounts `bank_account` holds: the mirrored one first, then the
    listed ones in the order they were added."""
    mirrored = session.get(Account, bank_account.account_id)
    assert mirrored is not None
    listed = session.scalars(
        select(Account)
        .join(BankAccountHolding, BankAccountHolding.account_id == Account.id)
        .where(BankAccountHolding.bank_account_id == bank_account.id)
        .order_by(BankAccountHolding.id)
    ).all()
    return [mirrored, *listed]


def holder_of(session: Session, account_id: int) -> BankAccount | None:
    """The bank account that mirrors or holds the ledger account, if any."""
    mirroring = session.scalars(
        select(BankAccount).where(BankAccount.account_id == account_id).limit(1)
    ).first()
    if mirroring is not None:
        return mirroring
    return session.scalars(
        select(BankAccount)
        .join(BankAccountHolding, BankAccountHolding.bank_account_id == BankAccount.id)
        .where(BankAccountHolding.account_id == account_id)
    ).first()


def holds(session: Session, bank_account: BankAccount, account_code: str) -> bool:
    """Whether `bank_account` holds the ledger account `account_code`."""
    return any(a.code == account_code for a in held_accounts(session, bank_account))
