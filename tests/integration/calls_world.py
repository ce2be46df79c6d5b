"""A small world for the tests of calls for ideas: people, a fund with money, a call.

Built through the real services (people, funds, calls) on the test's migrated
database, so every rule under test runs against the real tables and engine.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from ledger.core.clock import FixedClock
from ledger.core.service import Ledger
from ledger.funds import lending
from ledger.funds import service as funds
from ledger.funds.applications import ApplicationDraft, create_application, submit_application
from ledger.funds.calls import NewCall, create_call, criteria_of, questions_of
from ledger.people.service import NewPerson, create_user

OPENS = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)
CLOSES = datetime(2026, 6, 30, 21, 59, tzinfo=UTC)  # 23:59 in Rome


@dataclass
class World:
    ledger: Ledger
    clock: FixedClock
    admin: int
    treasurer: int
    reviewers: list[int]
    proponents: list[int]
    outsider_reviewer: int
    fund_id: int
    product_id: int
    call_id: int
    questions: list[int]
    criteria: list[int]

    def run(self, work: Any) -> Any:
        return self.ledger.run(work)


def _user(session: Session, email: str, roles: list[str], now: datetime) -> int:
    user = create_user(
        session,
        NewPerson(email=email, full_name=email.split("@", maxsplit=1)[0].title()),
        roles=roles,
        password=None,
        now=now,
    )
    return user.id


def build_world(
    ledger: Ledger,
    clock: FixedClock,
    *,
    fund_money_minor: int = 1_500_000,
    budget_minor: int = 950_000,
    max_award_minor: int = 300_000,
    award_kind: str = "either",
) -> World:
    """Users of every kind, a revolving fund holding `fund_money_minor`, a loan
    product, and a call open from 1 to 30 June 2026 (the clock is 15 June)."""

    def work(session: Session) -> World:
        now = clock.now()
        admin = _user(session, "amministra@example.org", ["admin"], now)
        treasurer = _user(session, "tesoriera@example.org", ["treasurer"], now)
        reviewers = [_user(session, f"revisore{i}@example.org", ["reviewer"], now) for i in (1, 2)]
        outsider = _user(session, "revisore3@example.org", ["reviewer"], now)
        proponents = [
            _user(session, f"proponente{i}@example.org", ["proponent"], now) for i in (1, 2, 3)
        ]
        fund = funds.create_fund(
            session, name="Fondo #genera_idee", kind="revolving", clock=clock, actor="test"
        )
        if fund_money_minor:
            funds.deposit(
                session,
                fund.id,
                fund_money_minor,
                source="foundation_grant",
                key="world:deposit",
                clock=clock,
            )
        product = lending.create_loan_product(
            session,
            fund_id=fund.id,
            name="Microprestito a tasso zero",
            min_amount_minor=10_000,
            max_amount_minor=500_000,
            annual_rate="0",
            method="declining_equal_instalments",
            min_term_months=1,
            max_term_months=36,
            clock=clock,
        )
        call = create_call(
            session,
            NewCall(
                fund_id=fund.id,
                title="#genera_idee 2026",
                description_md="Idee dei cittadini per il quartiere.",
                budget_minor=budget_minor,
                max_award_minor=max_award_minor,
                currency="EUR",
                opens_at=OPENS,
                closes_at=CLOSES,
                award_kind=award_kind,
                questions=[
                    ("Il progetto si svolge a Brescia?", True),
                    ("È a scopo di lucro?", False),
                ],
                criteria=[("Impatto sociale", 3), ("Fattibilità", 2), ("Originalità", 1)],
                reviewer_user_ids=reviewers,
                loan_product_id=product.id,
            ),
            actor_user_id=admin,
            clock=clock,
        )
        return World(
            ledger=ledger,
            clock=clock,
            admin=admin,
            treasurer=treasurer,
            reviewers=reviewers,
            proponents=proponents,
            outsider_reviewer=outsider,
            fund_id=fund.id,
            product_id=product.id,
            call_id=call.id,
            questions=[q.id for q in questions_of(session, call.id)],
            criteria=[c.id for c in criteria_of(session, call.id)],
        )

    return ledger.run(work)


def eligible_answers(world: World) -> dict[int, bool]:
    return {world.questions[0]: True, world.questions[1]: False}


def apply(
    world: World,
    proponent: int,
    *,
    title: str = "Orto condiviso",
    requested_minor: int = 200_000,
    kind: str = "grant",
    answers: dict[int, bool] | None = None,
    submit: bool = True,
    consent: bool = False,
) -> int:
    """A draft (and, with `submit`, submitted) application; returns its id."""

    def work(session: Session) -> int:
        found = create_application(
            session,
            world.call_id,
            ApplicationDraft(
                title=title,
                summary="Un orto nel cortile della scuola, aperto al quartiere.",
                requested_minor=requested_minor,
                kind=kind,
                answers=eligible_answers(world) if answers is None else answers,
                public_name_consent=consent,
            ),
            proponent_user_id=proponent,
            clock=world.clock,
        )
        if submit:
            submit_application(session, found.id, proponent_user_id=proponent, clock=world.clock)
        return found.id

    return int(world.ledger.run(work))


def later(clock: FixedClock, **delta: float) -> None:
    clock.instant = clock.instant + timedelta(**delta)


FIRST_DUE = date(2026, 8, 1)
