"""The chart of accounts of a matching-grant commitment and its money states.

A commitment's money states (DESIGN.md section 5) are balances of its own
memo accounts, all debit-normal assets, against one equity account that holds
the foundation's word; their sum always equals that word:

    pledged        assets:grants:{c}:pool          (no overdraft: reservations are
                                                    holds on it, so it can never be
                                                    over-committed)
    reserved       open holds on the pool           (pending, not posted)
    earned         assets:grants:{c}:earned
    released       assets:grants:{c}:released
    disbursed      assets:grants:{c}:disbursed
    clawback_due   assets:grants:{c}:clawback-due
    the word       equity:grants:{c}:commitment

Transitions, each an engine record with a key derived from its domain row:

    pledge            Dr pool                Cr commitment
    reserve           hold: Dr earned / Cr pool (a hold; voiding it is a forfeit)
    earn              the hold posted (in full or part: the rest goes back to the pool)
    release           Dr released            Cr earned
    forfeit, clawback Dr pool                Cr earned | released
    disburse          Dr disbursed           Cr released
                      Dr bank                Cr liabilities:campaigns:{id}:match
    clawback due      Dr clawback-due        Cr disbursed
                      Dr campaigns:{id}:match Cr liabilities:grants:{c}:clawback
    clawback repaid   Dr pool                Cr clawback-due
                      Dr grants:{c}:clawback Cr bank
    cancel            Dr commitment          Cr pool (what no rule reserved)

The only real money is the disbursement (the foundation's payment reaching the
programme's bank, owed to the campaign) and a clawback repayment.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from ledger.campaigns import accounts as campaign_accounts
from ledger.campaigns.accounts import ensure_accounts
from ledger.core.accounts import create_account
from ledger.core.clock import Clock

BANK = campaign_accounts.BANK


def pool(c: int) -> str:
    return f"assets:grants:{c}:pool"


def earned(c: int) -> str:
    return f"assets:grants:{c}:earned"


def released(c: int) -> str:
    return f"assets:grants:{c}:released"


def disbursed(c: int) -> str:
    return f"assets:grants:{c}:disbursed"


def clawback_due(c: int) -> str:
    return f"assets:grants:{c}:clawback-due"


def commitment(c: int) -> str:
    return f"equity:grants:{c}:commitment"


def owed_to_foundation(c: int) -> str:
    return f"liabilities:grants:{c}:clawback"


def campaign_match(campaign_id: int) -> str:
    """What the programme owes a campaign from matching grants (money received)."""
    return f"liabilities:campaigns:{campaign_id}:match"


def open_commitment_accounts(session: Session, c: int, currency: str, clock: Clock) -> None:
    """Open a new commitment's accounts (in the caller's transaction)."""
    create_account(
        session,
        pool(c),
        "asset",
        clock=clock,
        currency=currency,
        no_overdraft=True,
        name=f"Impegno {c}: disponibile (promesso, non riservato)",
    )
    for code, name in (
        (earned(c), "maturato"),
        (released(c), "svincolato"),
        (disbursed(c), "erogato"),
        (clawback_due(c), "da restituire"),
    ):
        create_account(
            session, code, "asset", clock=clock, currency=currency, name=f"Impegno {c}: {name}"
        )
    create_account(
        session,
        commitment(c),
        "equity",
        clock=clock,
        currency=currency,
        name=f"Impegno {c}: parola della fondazione",
    )
    create_account(
        session,
        owed_to_foundation(c),
        "liability",
        clock=clock,
        currency=currency,
        name=f"Impegno {c}: da restituire alla fondazione",
    )


def ensure_campaign_match(session: Session, campaign_id: int, clock: Clock) -> None:
    ensure_accounts(
        session,
        clock,
        [
            (BANK, "asset", "Conto corrente bancario"),
            (
                campaign_match(campaign_id),
                "liability",
                f"Campagna {campaign_id}: contributi di cofinanziamento ricevuti",
            ),
        ],
    )
