"""The campaign chart of accounts and the entries that move a campaign's money.

Sign convention (the engine's): postings are debit positive. A campaign's
escrow (`liabilities:campaigns:{id}:escrow`) is what the programme owes the
campaign: gifts credit it, refunds and disputes debit it. Card money sits in
`assets:stripe:clearing` (Stripe's balance) net of fees; the processor's fee
is an expense booked from Stripe's balance transaction, never a formula:

    gift by card     Dr stripe clearing (net) + Dr fees (fee)   Cr escrow (gross)
    gift in cash     Dr cash                                     Cr escrow
    bank transfer    Dr bank                                     Cr escrow
    refund           Dr escrow                                   Cr where the money went back from
    dispute opened   Dr escrow (amount) + Dr fees (dispute fee)  Cr stripe clearing
    dispute won      Dr stripe clearing                          Cr escrow (amount)

Each entry has a key derived from the domain row it books, so a retried job or
a redelivered webhook never books twice (I4).
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.core.accounts import create_account
from ledger.core.clock import Clock
from ledger.core.models import Account

STRIPE = "assets:stripe:clearing"
BANK = "assets:bank:main"
CASH = "assets:cash:community-point"
FEES = "expenses:fees:payments"

SHARED: tuple[tuple[str, str, str], ...] = (
    (STRIPE, "asset", "Stripe: incassi con carta (saldo Stripe)"),
    (BANK, "asset", "Conto corrente bancario"),
    (CASH, "asset", "Cassa contanti dei punti di comunità"),
    (FEES, "expense", "Commissioni dei pagamenti"),
)

METHOD_ACCOUNT = {"card": STRIPE, "bank_transfer": BANK, "cash": CASH}


def escrow(campaign_id: int) -> str:
    """The account of money raised for a campaign."""
    return f"liabilities:campaigns:{campaign_id}:escrow"


def ensure_accounts(session: Session, clock: Clock, codes: list[tuple[str, str, str]]) -> None:
    """Open the accounts that do not exist yet (in the caller's transaction)."""
    wanted = {code for code, _type, _name in codes}
    existing = set(session.scalars(select(Account.code).where(Account.code.in_(wanted))))
    for code, account_type, name in codes:
        if code not in existing:
            create_account(session, code, account_type, clock=clock, name=name)
