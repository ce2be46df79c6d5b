"""Demo data of the grants: a foundation with both kinds of commitment at work.

"Fondazione della Comunità Bresciana" co-finances two demo campaigns through the
real services, so the pages show matching as it happens:

- "Cucina di comunità" (budget 20,000 EUR): raise 40 % and the foundation adds
  60 %, up to 48,000 EUR. The crowd has crossed the threshold, so the top-up was
  released, and the foundation has already paid part of it.
- "Doposcuola al parco" (budget 5,000 EUR): 2 EUR for every 1 EUR, at most
  200 EUR of match per donor, from a pool of 2,000 EUR: matches are reserved
  until the campaign closes.

Idempotent: a second run finds the foundation and writes nothing.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.campaigns.donations import (
    Limits,
    record_offline_donation,
    settle,
    start_online_donation,
)
from ledger.campaigns.models import Organisation
from ledger.campaigns.service import NewCampaign, create_campaign, publish_campaign
from ledger.core.clock import Clock
from ledger.core.money import Money
from ledger.grants.matching import record_disbursement
from ledger.grants.models import Commitment, Foundation
from ledger.grants.service import CommitmentSpec, add_officer, create_commitment, create_foundation
from ledger.people.models import Person, User

FOUNDATION = "Fondazione della Comunità Bresciana"
OFFICER_EMAIL = "fondazione@demo.registro.example"


def _eur(text: str) -> int:
    return Money.parse(text, "EUR").minor


def seed_grants_demo(session: Session, clock: Clock) -> int:
    """Seed the foundation, its two commitments and the gifts; 1 if written, 0 if present."""
    if session.scalar(select(Foundation.id).where(Foundation.name == FOUNDATION)):
        return 0
    now = clock.now()
    foundation = create_foundation(session, name=FOUNDATION, tax_code="98012340178", now=now)
    officer = session.scalar(
        select(User.id)
        .join(Person, Person.id == User.person_id)
        .where(Person.email == OFFICER_EMAIL)
    )
    if officer is not None:
        add_officer(session, foundation.id, officer, now=now)
    organisation = session.scalars(select(Organisation).order_by(Organisation.id)).first()
    assert organisation is not None, "the campaigns demo runs first"

    def campaign(title: str, text: str, goal: str) -> int:
        made = create_campaign(
            session,
            NewCampaign(
                organisation_id=organisation.id,
                title=title,
                description_md=text,
                goal_minor=_eur(goal),
                currency="EUR",
                deadline_at=now + timedelta(days=45),
                funding_model="keep_what_you_raise",
            ),
            clock=clock,
        )
        publish_campaign(session, made.id, clock=clock)
        return made.id

    window = (now - timedelta(days=7), now + timedelta(days=45))
    kitchen = campaign(
        "Cucina di comunità",
        "Una cucina attrezzata nella casa di quartiere: pranzi solidali tre giorni a "
        "settimana e corsi di cucina per chi cerca lavoro.\n\nLa **Fondazione della "
        "Comunità Bresciana** aggiunge il 60% quando la comunità raccoglie il 40%.",
        "20000.00",
    )
    create_commitment(
        session,
        CommitmentSpec(
            foundation_id=foundation.id,
            title="Raccogliete il 40%, aggiungiamo il 60%",
            kind="threshold",
            campaign_id=kitchen,
            pool_minor=_eur("48000.00"),
            window_start=window[0],
            window_end=window[1],
            threshold_share="0.4",
            topup_share="0.6",
            topup_cap_minor=_eur("48000.00"),
            topup_policy="fixed",
            clawback_policy="claw_back",
        ),
        clock=clock,
        actor="demo",
    )
    afterschool = campaign(
        "Doposcuola al parco",
        "Un doposcuola all'aperto per 40 ragazzi: educatori, merende e materiali.\n\n"
        "Per ogni euro donato la fondazione ne aggiunge **due** (fino a 200 EUR di "
        "raddoppio per donatore).",
        "5000.00",
    )
    create_commitment(
        session,
        CommitmentSpec(
            foundation_id=foundation.id,
            title="2 EUR per ogni EUR donato",
            kind="ratio",
            campaign_id=afterschool,
            pool_minor=_eur("2000.00"),
            window_start=window[0],
            window_end=window[1],
            ratio="2",
            donor_cap_minor=_eur("200.00"),
            clawback_policy="claw_back",
        ),
        clock=clock,
        actor="demo",
    )
    donor = session.scalar(
        select(Person.id).where(Person.email == "donatrice@demo.registro.example")
    )
    gifts = [
        (kitchen, "4500.00", "bank_transfer", "CUCINA-2026-0001"),
        (kitchen, "2400.00", "cash", None),
        (kitchen, "1250.00", "bank_transfer", "CUCINA-2026-0002"),  # crosses 8,000
        (afterschool, "30.00", "cash", None),
    ]
    for n, (campaign_id, amount, method, reference) in enumerate(gifts, start=1):
        record_offline_donation(
            session,
            campaign_id,
            Money.parse(amount, "EUR"),
            method=method,
            person_id=None,
            anonymous=False,
            reference=reference,
            request_key=f"demo:grants:{n}",
            donated_on=None,
            actor="demo",
            clock=clock,
        )
    for n, (gross, fee) in enumerate([("50.00", "0.98"), ("150.00", "2.35")], start=1):
        gift, _ = start_online_donation(
            session,
            afterschool,
            Money.parse(gross, "EUR"),
            person_id=donor,
            anonymous=False,
            request_key=f"demo:grants:card:{n}",
            limits=Limits(),
            clock=clock,
        )
        settle(
            session, gift, gross_minor=_eur(gross), fee_minor=_eur(fee), clock=clock, actor="demo"
        )
    kitchen_commitment = session.scalar(
        select(Commitment.id).where(Commitment.campaign_id == kitchen)
    )
    assert kitchen_commitment is not None
    record_disbursement(
        session,
        kitchen_commitment,
        kitchen,
        _eur("6000.00"),
        key="demo-bonifico-1",
        clock=clock,
        actor="demo",
    )
    return 1
