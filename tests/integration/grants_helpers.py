"""A small harness for the grants tests: a campaign, a foundation, gifts, refunds.

Every step runs through the real services in its own transaction (as a request,
a webhook or a job would) on the test's database built by the migrations.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from ledger.campaigns.donations import (
    Limits,
    record_offline_donation,
    settle,
    start_online_donation,
)
from ledger.campaigns.refunds import confirm_refund, request_refund
from ledger.campaigns.service import (
    NewCampaign,
    close_campaign,
    create_campaign,
    create_organisation,
    publish_campaign,
)
from ledger.core.money import Money
from ledger.core.service import Ledger
from ledger.grants import accounts
from ledger.grants.models import Allocation, GrantEvent, Match
from ledger.grants.service import CommitmentSpec, create_commitment, create_foundation
from ledger.people.models import Person

WINDOW = (datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 12, 31, 22, 59, 59, tzinfo=UTC))


def eur(text: str) -> int:
    return Money.parse(text, "EUR").minor


class Books:
    """One campaign under one or more commitments, driven step by step."""

    def __init__(
        self,
        ledger: Ledger,
        *,
        goal: str = "1000.00",
        model: str = "keep_what_you_raise",
        suffix: str = "",
        title: str = "Un orto in cortile",
        foundation_name: str = "Fondazione Comunità",
    ) -> None:
        self.ledger = ledger
        clock = ledger.clock

        def setup(session: Any) -> tuple[int, int]:
            org = create_organisation(
                session,
                name="Associazione Quartiere Vivo ODV",
                tax_code="97123450153",
                qualification="ODV",
                now=clock.now(),
            )
            campaign = create_campaign(
                session,
                NewCampaign(
                    organisation_id=org.id,
                    title=title,
                    description_md="Semi e attrezzi.",
                    goal_minor=eur(goal),
                    currency="EUR",
                    deadline_at=clock.now() + timedelta(days=30),
                    funding_model=model,
                ),
                clock=clock,
            )
            publish_campaign(session, campaign.id, clock=clock)
            foundation = create_foundation(
                session, name=f"{foundation_name}{suffix}", now=clock.now()
            )
            return campaign.id, foundation.id

        self.campaign_id, self.foundation_id = ledger.run(setup)
        self._keys = 0
        self.suffix = suffix

    def commit(self, **settings: Any) -> int:
        base = dict(
            foundation_id=self.foundation_id,
            title="Cofinanziamento",
            kind="ratio",
            pool_minor=eur("100000.00"),
            window_start=WINDOW[0],
            window_end=WINDOW[1],
            campaign_id=self.campaign_id,
        )
        base.update(settings)
        spec = CommitmentSpec(**base)  # type: ignore[arg-type]
        return self.ledger.run(
            lambda s: create_commitment(s, spec, clock=self.ledger.clock, actor="test").id
        )

    def person(self, name: str) -> int:
        def work(session: Any) -> int:
            person = Person(
                full_name=name,
                email=f"{name.lower()}{self.suffix}@example.org",
                created_at=self.ledger.clock.now(),
            )
            session.add(person)
            session.flush()
            return int(person.id)

        return self.ledger.run(work)

    def give(self, amount: str, *, person: int | None = None, method: str = "cash") -> int:
        self._keys += 1
        key = f"gift{self.suffix}-{self._keys}"

        def work(session: Any) -> int:
            donation, _ = record_offline_donation(
                session,
                self.campaign_id,
                Money.parse(amount, "EUR"),
                method=method,
                person_id=person,
                anonymous=False,
                reference="RIF-1" if method == "bank_transfer" else None,
                request_key=key,
                donated_on=None,
                actor="test",
                clock=self.ledger.clock,
            )
            return int(donation.id)

        return self.ledger.run(work)

    def give_card(self, amount: str, fee: str, *, person: int | None = None) -> int:
        self._keys += 1
        key = f"card{self.suffix}-{self._keys}"

        def work(session: Any) -> int:
            donation, _ = start_online_donation(
                session,
                self.campaign_id,
                Money.parse(amount, "EUR"),
                person_id=person,
                anonymous=False,
                request_key=key,
                limits=Limits(),
                clock=self.ledger.clock,
            )
            settle(
                session,
                donation,
                gross_minor=eur(amount),
                fee_minor=eur(fee),
                clock=self.ledger.clock,
                actor="test",
            )
            return int(donation.id)

        return self.ledger.run(work)

    def refund(self, donation_id: int, amount: str | None = None) -> None:
        def work(session: Any) -> None:
            refund = request_refund(
                session,
                donation_id,
                None if amount is None else Money.parse(amount, "EUR"),
                clock=self.ledger.clock,
            )
            confirm_refund(session, refund.id, clock=self.ledger.clock, actor="test")

        self.ledger.run(work)

    def close(self) -> str:
        self.ledger.clock.instant += timedelta(days=31)  # type: ignore[attr-defined]
        return self.ledger.run(
            lambda s: close_campaign(s, self.campaign_id, clock=self.ledger.clock).status
        )

    # ------------------------------------------------------------------ reading

    def matches(self, commitment_id: int) -> list[tuple[int, int, str]]:
        return self.ledger.read(
            lambda s: [
                (m.donation_id, m.match_minor, m.reason)
                for m in s.scalars(
                    select(Match).where(Match.commitment_id == commitment_id).order_by(Match.id)
                )
            ]
        )

    def allocation(self, commitment_id: int) -> Allocation:
        def work(session: Any) -> Allocation:
            row = session.scalars(
                select(Allocation).where(
                    Allocation.commitment_id == commitment_id,
                    Allocation.campaign_id == self.campaign_id,
                )
            ).one()
            session.expunge(row)
            return row

        return self.ledger.read(work)

    def events(self, commitment_id: int) -> list[tuple[str, int]]:
        return self.ledger.read(
            lambda s: [
                (e.kind, e.amount_minor)
                for e in s.scalars(
                    select(GrantEvent)
                    .where(GrantEvent.commitment_id == commitment_id)
                    .order_by(GrantEvent.id)
                )
            ]
        )

    def states(self, commitment_id: int) -> dict[str, int]:
        """Every money-state account of the commitment, from the engine."""
        c = commitment_id
        pool = self.ledger.balance(accounts.pool(c))
        return {
            "pool_posted": pool.posted,
            "reserved": pool.pending,
            "pool_available": pool.available,
            "earned": self.ledger.balance(accounts.earned(c)).posted,
            "released": self.ledger.balance(accounts.released(c)).posted,
            "disbursed": self.ledger.balance(accounts.disbursed(c)).posted,
            "clawback_due": self.ledger.balance(accounts.clawback_due(c)).posted,
            "word": self.ledger.balance(accounts.commitment(c)).posted,
        }

    def entries_of_kind(self, kind: str) -> list[dict[str, Any]]:
        from ledger.core.models import JournalEntry

        return self.ledger.read(
            lambda s: [
                {"sequence": e.sequence, "key": e.idempotency_key}
                for e in s.scalars(
                    select(JournalEntry)
                    .where(JournalEntry.kind == kind)
                    .order_by(JournalEntry.sequence)
                )
            ]
        )


def call_with_campaigns(
    books: Books, goals: tuple[str, ...], **commitment: Any
) -> tuple[list[int], int]:
    """A call for ideas (its fund and committee), one live campaign per goal born from
    it, and a ratio commitment toward the call: (campaign ids, commitment id)."""
    from ledger.funds.calls import NewCall, create_call
    from ledger.funds.service import create_fund
    from ledger.people.service import NewPerson, create_user

    clock = books.ledger.clock

    def setup(session: Any) -> tuple[list[int], int]:
        reviewer = create_user(
            session,
            NewPerson(email=f"rev{books.suffix}@example.org", full_name="Rita Revisora"),
            roles=["reviewer"],
            password=None,
            now=clock.now(),
        )
        fund = create_fund(
            session, name=f"Fondo idee{books.suffix}", kind="microgrant", clock=clock
        )
        call = create_call(
            session,
            NewCall(
                fund_id=fund.id,
                title="#genera_idee",
                description_md="Idee di quartiere",
                budget_minor=eur("9500.00"),
                max_award_minor=eur("2000.00"),
                currency="EUR",
                opens_at=clock.now(),
                closes_at=clock.now() + timedelta(days=20),
                award_kind="grant",
                criteria=(("Impatto", 1),),
                reviewer_user_ids=(reviewer.id,),
            ),
            actor_user_id=reviewer.id,
            clock=clock,
        )
        ids = []
        for n, goal in enumerate(goals, start=1):
            campaign = create_campaign(
                session,
                NewCampaign(
                    organisation_id=1,
                    title=f"Idea {n}",
                    description_md="",
                    goal_minor=eur(goal),
                    currency="EUR",
                    deadline_at=clock.now() + timedelta(days=30),
                    funding_model="keep_what_you_raise",
                    call_id=call.id,
                ),
                clock=clock,
            )
            publish_campaign(session, campaign.id, clock=clock)
            ids.append(campaign.id)
        settings: dict[str, Any] = {
            "foundation_id": books.foundation_id,
            "title": "Raddoppio del bando",
            "kind": "ratio",
            "call_id": call.id,
            "pool_minor": eur("100.00"),
            "window_start": WINDOW[0],
            "window_end": WINDOW[1],
            "ratio": "1",
            **commitment,
        }
        c = create_commitment(session, CommitmentSpec(**settings), clock=clock)
        return ids, c.id

    return books.ledger.run(setup)
