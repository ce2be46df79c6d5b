"""Money in: a funder's advance and tranches, partners' cash, and campaigns paid out.

- A funder's advance or tranche: Dr the project's cash, Cr `grants:F` (the
  report compares what came in with the grant due, and says what to give back).
- A partner's cash contribution: Dr cash, Cr `partners:O`. (A cost a partner
  bears directly is an expense with `paid_by="partner"`; a gift in kind is a
  figurative item.)
- A campaign linked to the project that succeeded pays its escrow out to the
  project, with the matching grants released and disbursed for it: proposed
  by one person, paid by another (four-eyes, also a CHECK on the table), once
  per campaign (a unique index). The payout is one entry: Dr the campaign's
  escrow (and its match account), Cr `fundraising` (and `matching`); and the
  money moves from the programme's bank to the project's cash.

Amounts are what the engine's balances say at the proposal; paying checks they
are still there. Services take the caller's session and never commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.campaigns import accounts as campaign_accounts
from ledger.campaigns.models import Campaign
from ledger.core.balances import balance
from ledger.core.clock import Clock, rome_today
from ledger.core.errors import AccountNotFoundError
from ledger.core.journal import EntrySpec, PostingSpec, post_entry
from ledger.core.money import Money, format_it
from ledger.grants import accounts as grant_accounts
from ledger.projects import accounts
from ledger.projects.errors import FourEyesError, InvalidProjectError, PayoutError
from ledger.projects.getters import get_funder, get_project
from ledger.projects.models import (
    ProjectCampaign,
    ProjectPartner,
    ProjectReceipt,
)

GRANT_KINDS = ("grant_advance", "grant_tranche")


@dataclass(frozen=True, slots=True)
class Received:
    """Money in booked for a project as entry `sequence` (its receipt row `receipt_id`)."""

    receipt_id: int
    sequence: int
    amount_minor: int


def _positive(amount_minor: object) -> int:
    if isinstance(amount_minor, bool) or not isinstance(amount_minor, int) or amount_minor <= 0:
        raise InvalidProjectError(
            "L'importo è un numero intero di centesimi maggiore di zero.", field="amount"
        )
    return amount_minor


def _book(
    session: Session,
    receipt: ProjectReceipt,
    postings: list[PostingSpec],
    *,
    key: str,
    kind: str,
    narration: str,
    metadata: dict[str, str | int | None],
    clock: Clock,
    actor: str | None,
) -> Received:
    result = post_entry(
        session,
        EntrySpec(
            idempotency_key=key,
            kind=kind,
            postings=postings,
            effective_on=receipt.received_on,
            narration=narration,
            metadata={k: v for k, v in metadata.items() if v is not None},
            actor=actor,
        ),
        clock=clock,
    )
    receipt.entry_sequence = result.entry.sequence
    session.flush()
    return Received(receipt.id, result.entry.sequence, receipt.amount_minor)


def receive_grant(
    session: Session,
    project_id: int,
    funder_id: int,
    amount_minor: int,
    *,
    kind: str = "grant_advance",
    received_on: date | None = None,
    key: str,
    clock: Clock,
    actor: str | None = None,
) -> Received:
    """A funder's advance or tranche reached the project: Dr cash, Cr grants:F."""
    project = get_project(session, project_id, lock=True)
    funder = get_funder(session, project.id, funder_id)
    amount = _positive(amount_minor)
    if kind not in GRANT_KINDS:
        raise InvalidProjectError(
            "Un'entrata del finanziatore è grant_advance o grant_tranche.", field="kind"
        )
    on = received_on or rome_today(clock)
    receipt = ProjectReceipt(
        project_id=project.id,
        kind=kind,
        status="paid",
        funder_id=funder.id,
        amount_minor=amount,
        escrow_minor=0,
        match_minor=0,
        received_on=on,
        created_at=clock.now(),
    )
    session.add(receipt)
    session.flush()
    codes = [accounts.cash(project.id), accounts.grants(project.id, funder.id)]
    accounts.ensure(session, codes, project.currency, clock=clock)
    return _book(
        session,
        receipt,
        [
            PostingSpec(codes[0], Money(amount, project.currency)),
            PostingSpec(codes[1], Money(-amount, project.currency)),
        ],
        key=f"project:{project.id}:grant:{key}",
        kind="project_grant",
        narration=f"Progetto {project.id}: contributo del finanziatore {funder.id}",
        metadata={"project_id": project.id, "funder_id": funder.id, "receipt_id": receipt.id},
        clock=clock,
        actor=actor,
    )


def receive_contribution(
    session: Session,
    project_id: int,
    organisation_id: int,
    amount_minor: int,
    *,
    received_on: date | None = None,
    key: str,
    clock: Clock,
    actor: str | None = None,
) -> Received:
    """A partner's cash contribution through the bank: Dr cash, Cr partners:O."""
    project = get_project(session, project_id, lock=True)
    amount = _positive(amount_minor)
    partner = session.scalar(
        select(ProjectPartner.organisation_id).where(
            ProjectPartner.project_id == project.id,
            ProjectPartner.organisation_id == organisation_id,
        )
    )
    if partner is None:
        raise InvalidProjectError(
            f"L'organizzazione {organisation_id} non è partner del progetto.", field="partner"
        )
    receipt = ProjectReceipt(
        project_id=project.id,
        kind="partner_cash",
        status="paid",
        organisation_id=organisation_id,
        amount_minor=amount,
        escrow_minor=0,
        match_minor=0,
        received_on=received_on or rome_today(clock),
        created_at=clock.now(),
    )
    session.add(receipt)
    session.flush()
    codes = [accounts.cash(project.id), accounts.partners(project.id, organisation_id)]
    accounts.ensure(session, codes, project.currency, clock=clock)
    return _book(
        session,
        receipt,
        [
            PostingSpec(codes[0], Money(amount, project.currency)),
            PostingSpec(codes[1], Money(-amount, project.currency)),
        ],
        key=f"project:{project.id}:contribution:{key}",
        kind="project_contribution",
        narration=f"Progetto {project.id}: contributo del partner {organisation_id}",
        metadata={
            "project_id": project.id,
            "partner_id": organisation_id,
            "receipt_id": receipt.id,
        },
        clock=clock,
        actor=actor,
    )


def link_campaign(session: Session, project_id: int, campaign_id: int, *, clock: Clock) -> None:
    """The campaign's money goes to the project (a campaign serves one project)."""
    project = get_project(session, project_id)
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        raise InvalidProjectError(f"Nessuna campagna {campaign_id}.", field="campaign")
    if campaign.currency != project.currency:
        raise InvalidProjectError("La campagna è in un'altra valuta.", field="campaign")
    found = session.get(ProjectCampaign, campaign_id)
    if found is not None:
        if found.project_id == project.id:
            return
        raise InvalidProjectError(
            f"La campagna {campaign_id} è già legata al progetto {found.project_id}.",
            field="campaign",
        )
    session.add(
        ProjectCampaign(campaign_id=campaign_id, project_id=project.id, linked_at=clock.now())
    )
    session.flush()


def _liability(session: Session, code: str) -> int:
    try:
        return balance(session, code).posted
    except AccountNotFoundError:
        return 0


def propose_payout(
    session: Session, project_id: int, campaign_id: int, *, proposed_by_user_id: int, clock: Clock
) -> ProjectReceipt:
    """Propose paying a succeeded campaign's escrow (and its released matches) out."""
    project = get_project(session, project_id, lock=True)
    link = session.get(ProjectCampaign, campaign_id)
    if link is None or link.project_id != project.id:
        raise PayoutError(
            f"La campagna {campaign_id} non è legata al progetto {project.id}.",
            campaign_id=campaign_id,
        )
    campaign = session.get(Campaign, campaign_id)
    assert campaign is not None
    if "succeeded" not in (campaign.status, campaign.outcome):
        raise PayoutError(
            f"La campagna {campaign_id} non ha raggiunto l'obiettivo ({campaign.status}): "
            "non si versa al progetto.",
            campaign_id=campaign_id,
        )
    if (
        session.scalar(select(ProjectReceipt.id).where(ProjectReceipt.campaign_id == campaign_id))
        is not None
    ):
        raise PayoutError(
            f"La campagna {campaign_id} è già stata versata (o proposta) al progetto.",
            campaign_id=campaign_id,
        )
    escrow = _liability(session, campaign_accounts.escrow(campaign_id))
    match = _liability(session, grant_accounts.campaign_match(campaign_id))
    if escrow < 0 or match < 0 or escrow + match <= 0:
        raise PayoutError(
            f"La campagna {campaign_id} non ha denaro da versare.", campaign_id=campaign_id
        )
    receipt = ProjectReceipt(
        project_id=project.id,
        kind="campaign_payout",
        status="proposed",
        campaign_id=campaign_id,
        amount_minor=escrow + match,
        escrow_minor=escrow,
        match_minor=match,
        received_on=rome_today(clock),
        proposed_by_user_id=proposed_by_user_id,
        created_at=clock.now(),
    )
    session.add(receipt)
    session.flush()
    return receipt


def pay_payout(
    session: Session, receipt_id: int, *, paid_by_user_id: int, clock: Clock, actor: str | None
) -> Received:
    """proposed -> paid by a person other than the proposer: one entry, once."""
    receipt = session.scalars(
        select(ProjectReceipt).where(ProjectReceipt.id == receipt_id).with_for_update()
    ).one_or_none()
    if receipt is None or receipt.kind != "campaign_payout":
        raise PayoutError(f"Nessun versamento proposto {receipt_id}.", receipt_id=receipt_id)
    if receipt.status != "proposed":
        raise PayoutError(f"Il versamento {receipt_id} è già pagato.", receipt_id=receipt_id)
    if receipt.proposed_by_user_id == paid_by_user_id:
        raise FourEyesError(
            "Chi ha proposto il versamento non può anche pagarlo: serve una seconda persona."
        )
    project = get_project(session, receipt.project_id, lock=True)
    assert receipt.campaign_id is not None
    c = receipt.campaign_id
    escrow_code, match_code = campaign_accounts.escrow(c), grant_accounts.campaign_match(c)
    if (
        _liability(session, escrow_code) < receipt.escrow_minor
        or _liability(session, match_code) < receipt.match_minor
    ):
        raise PayoutError(
            f"Il saldo della campagna {c} è sceso sotto quanto proposto "
            f"({format_it(receipt.amount_minor, project.currency)}): proponi di nuovo.",
            receipt_id=receipt.id,
        )
    cur = project.currency
    postings = [
        PostingSpec(escrow_code, Money(receipt.escrow_minor, cur)),
        PostingSpec(accounts.fundraising(project.id), Money(-receipt.escrow_minor, cur)),
    ]
    if receipt.match_minor:
        postings += [
            PostingSpec(match_code, Money(receipt.match_minor, cur)),
            PostingSpec(accounts.matching(project.id), Money(-receipt.match_minor, cur)),
        ]
    postings += [
        PostingSpec(accounts.cash(project.id), Money(receipt.amount_minor, cur)),
        PostingSpec(campaign_accounts.BANK, Money(-receipt.amount_minor, cur)),
    ]
    accounts.ensure(
        session,
        [
            accounts.cash(project.id),
            accounts.fundraising(project.id),
            accounts.matching(project.id),
        ],
        cur,
        clock=clock,
    )
    receipt.status = "paid"
    receipt.paid_by_user_id = paid_by_user_id
    receipt.received_on = rome_today(clock)
    return _book(
        session,
        receipt,
        postings,
        key=f"project:{project.id}:payout:campaign:{c}",
        kind="project_payout",
        narration=f"Progetto {project.id}: versamento della campagna {c}",
        metadata={"project_id": project.id, "campaign_id": c, "receipt_id": receipt.id},
        clock=clock,
        actor=actor,
    )
